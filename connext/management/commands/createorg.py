from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connext import roles
from connext.models import User
from connext.services import organization_create, user_create


class Command(BaseCommand):
    help = "Create an organization and its first admin user (staff, org-admin role); prints the org id."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--password", help="Admin panel password; without it the admin cannot log in yet.")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. America/New_York.")
        parser.add_argument("--region", default="US", help="Default phone region (ISO 3166), e.g. US.")
        parser.add_argument(
            "--billing", action="store_true", help="Bill its sends from credits (manage.py addcredits); default off."
        )

    def handle(self, *args, name, admin_email, password, timezone, region, billing=False, **options):
        if User.objects.filter(email__iexact=admin_email).exists():
            raise CommandError(f"A user with email {admin_email} already exists.")
        try:
            with transaction.atomic():
                org = organization_create(name=name, timezone=timezone, default_region=region, billed=billing)
                user_create(organization=org, email=admin_email, password=password, role=roles.ORG_ADMIN)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stderr.write(f"Created organization {org.name!r} with admin {admin_email}.")
        self.stdout.write(str(org.pk))
