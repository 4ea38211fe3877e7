from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Lower, Replace, Upper


class Subscriber(models.Model):
    """Someone an organization messages; reached by phone (E.164) and/or email (lower-case)."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="subscribers")
    first = models.CharField(max_length=100, blank=True)
    last = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +15551234567")
    email = models.CharField(max_length=254, blank=True)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    zip = models.CharField(max_length=20, blank=True)
    enabled = models.BooleanField(default=True)
    text = models.BooleanField(default=False, help_text="Prefers SMS.")
    whatsapp = models.BooleanField(default=False, db_default=False, help_text="Opted in to WhatsApp messages.")
    # The organization's own fields (subscribers.attributes has the rules). On PostgreSQL a GIN
    # index (jsonb_path_ops, migration 0004) answers the `@>` equality filters.
    attributes = models.JSONField(default=dict, db_default={}, blank=True)
    groups = models.ManyToManyField("groups.Group", related_name="subscribers", blank=True)
    # What the keyword search of GET /subscribers reads: first, last, phone without its "+", email and address
    # joined by spaces, upper-cased, kept by the database on every write (a stored generated column). A trigram
    # GIN index on it (migration 0004, PostgreSQL) answers `search_text LIKE '%KEYWORD%'`; see selectors.
    search_text = models.GeneratedField(
        expression=Upper(
            Func(
                F("first"),
                Value(" "),
                F("last"),
                Value(" "),
                Replace(F("phone"), Value("+")),
                Value(" "),
                F("email"),
                Value(" "),
                F("address"),
                template="(%(expressions)s)",
                arg_joiner=" || ",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "phone"], condition=~Q(phone=""), name="subscriber_phone_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization", "email"], condition=~Q(email=""), name="subscriber_email_per_org"
            ),
            models.CheckConstraint(condition=~Q(phone="") | ~Q(email=""), name="subscriber_has_phone_or_email"),
        ]
        indexes = [
            # `sort=last` reads names case-insensitively (subscribers.selectors.SORT_KEYS).
            models.Index(F("organization"), Lower("last"), Lower("first"), name="subscriber_org_name_ci"),
        ]

    def __str__(self) -> str:
        name = f"{self.first} {self.last}".strip()
        return name or self.phone or self.email


class AttributeKey(models.Model):
    """An attribute name the organization has used (subscribers.attributes: how filters on unknown
    attributes are refused without reading subscribers, and the export's columns)."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="attribute_key_per_org")]

    def __str__(self) -> str:
        return self.name


class BlocklistEntry(models.Model):
    """An address that must never receive anything on its channel, subscriber or not."""

    class Type(models.TextChoices):
        PHONE = "phone"
        EMAIL = "email"

    class Reason(models.TextChoices):
        MANUAL = "manual"
        STOP = "stop"
        BOUNCE = "bounce"
        COMPLAINT = "complaint"

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="blocklist")
    recipient = models.CharField(max_length=254, help_text="E.164 phone or lower-case email.")
    type = models.CharField(max_length=5, choices=Type.choices)
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.MANUAL)
    manual = models.BooleanField(
        default=False,
        db_default=False,  # rows inserted with SQL (bench/) get it too
        help_text="Blocked by hand too: when the recipient opts back in (START), the entry becomes a manual "
        "one instead of going away.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "blocklist entries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "recipient"], name="blocklist_recipient_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.reason})"


class ImportJob(models.Model):
    """A subscriber import, processed in chunks by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey("connext.User", on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    source = models.CharField(max_length=2048, blank=True, help_text="URL, or the uploaded file's name.")
    source_format = models.CharField(max_length=4, blank=True, help_text="csv or json")
    # The uploaded file or JSON body, kept in the database so web and worker
    # need no shared disk; cleared when the job ends.
    payload = models.BinaryField(null=True, blank=True)
    group_numbers = models.JSONField(default=list)
    update_existing = models.BooleanField(default=True)
    notify_url = models.URLField(max_length=2048, blank=True)
    total = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"
