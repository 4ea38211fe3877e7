from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PairingCode(models.Model):
    """A one-time code (10 minutes) that a phone trades for a device token at registration."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="pairing_codes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    code = models.CharField(max_length=16, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Device(models.Model):
    """A paired Android phone that sends an organization's texts (or the shared pool's).

    The token it authenticates with is stored as its SHA-256 only. The limits protect the
    phone's SIM: carriers block a line that texts too much, too fast or too many people.
    """

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=100, blank=True, help_text="The phone's model, as its heartbeat says.")
    phone_number = models.CharField(max_length=32, help_text="E.164: the SIM's own number.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(default=True, help_text="An inactive device gets no tasks.")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Its last heartbeat.")
    battery = models.PositiveSmallIntegerField(null=True, blank=True)
    signal = models.SmallIntegerField(null=True, blank=True)
    android_version = models.CharField(max_length=32, blank=True)
    app_version = models.CharField(max_length=32, blank=True)
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="SMS segments per UTC day (a 9-part text is 9); empty: no cap."
    )
    min_delay_seconds = models.FloatField(default=0, help_text="Seconds at least between two sends.")
    jitter_seconds = models.FloatField(default=0, help_text="Up to this many random seconds added to each delay.")
    monthly_recipient_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Distinct recipients per calendar month (UTC); empty: no cap."
    )
    # Counters of the current day and month, rolled over by the first claim after midnight.
    counted_day = models.DateField(null=True, blank=True, editable=False)
    segments_today = models.PositiveIntegerField(default=0, editable=False)
    next_send_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number})"

    def sent_today(self, today) -> int:
        return self.segments_today if self.counted_day == today else 0


class DeviceRecipient(models.Model):
    """A number a device texted in a month: counts against its monthly recipient cap."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the month (UTC).")
    recipient = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "month", "recipient"], name="device_recipient_once_a_month")
        ]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.month:%Y-%m})"


class DeviceTask(models.Model):
    """A text in the device queue: one SMS delivery, rendered, waiting for (or held by) a phone.

    `fleet` is the organization whose phones may take it (the sender's own, or the pool's);
    `pinned` a device the sender asked for. While `waiting` the delivery is `queued` and held
    from the dispatcher; a claim makes it `sending` under `lease_expires_at`.
    """

    class State(models.TextChoices):
        WAITING = "waiting"  # in the queue
        CLAIMED = "claimed"  # a device holds it under a lease
        REPORTED = "reported"  # the device reported on it: done for the queue
        FALLBACK = "fallback"  # no device took it in time: the organization's normal channel sends it
        DONE = "done"  # failed after its attempts, or canceled

    delivery = models.OneToOneField(
        "logs.Delivery", on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )
    fleet = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="+")
    pinned = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks", help_text="Its last holder."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    to = models.CharField(max_length=32)
    body = models.TextField()
    segments = models.PositiveSmallIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    fallback_at = models.DateTimeField(help_text="Still waiting then, with no device to take it: fall back.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The claim walks only waiting tasks of one fleet, oldest first (SKIP LOCKED).
            models.Index(fields=["fleet", "delivery"], condition=Q(state="waiting"), name="devicetask_waiting"),
            models.Index(fields=["lease_expires_at"], condition=Q(state="claimed"), name="devicetask_claimed"),
            models.Index(fields=["device", "state"], name="devicetask_device_state"),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} to {self.to} ({self.state})"
