import datetime
import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.models import APIKey
from apikeys.services import api_key_create
from connext.models import User


class Command(BaseCommand):
    help = "Create an API key for a user; prints the plaintext key alone on the last line, once."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", choices=[s.value for s in APIKey.Scope], default=APIKey.Scope.FULL)
        parser.add_argument("--expires", help="YYYY-MM-DD: the key works through that day (org time zone).")

    def handle(self, *args, email, name, scope, expires, **options):
        user = User.objects.select_related("organization").filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}.")
        if user.organization is None:
            raise CommandError(f"{email} belongs to no organization.")
        expires_at = None
        if expires:
            try:
                day = datetime.date.fromisoformat(expires)
            except ValueError:
                raise CommandError("--expires must be a date YYYY-MM-DD.") from None
            tz = zoneinfo.ZoneInfo(user.organization.timezone)
            expires_at = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
            if expires_at <= timezone.now():
                raise CommandError("--expires is in the past.")
        key, plaintext = api_key_create(user=user, name=name, scope=scope, expires_at=expires_at)
        self.stderr.write(f"API key {key.name!r} ({key.prefix}) for {user.email}; it is shown only now:")
        self.stdout.write(plaintext)
