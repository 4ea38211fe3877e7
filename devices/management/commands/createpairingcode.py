from django.core.management.base import BaseCommand, CommandError

from connext.models import User
from devices.services import pairing_code_create


class Command(BaseCommand):
    help = "Print a one-time device pairing code (10 minutes) for the user's organization."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="A user of the organization the device joins.")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}.")
        if user.organization_id is None:
            raise CommandError(f"{email} belongs to no organization.")
        code = pairing_code_create(user=user)
        self.stderr.write(f"Pairing code for {user.organization} (expires {code.expires_at:%Y-%m-%dT%H:%M:%SZ}):")
        self.stdout.write(code.code)
