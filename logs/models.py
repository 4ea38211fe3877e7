"""One send (`Message`) and its rows, one per recipient and channel (`Delivery`).

Only `logs.state` changes a delivery's status; everything else asks it to.
"""

from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    """What a delivery is: the kinds of send a channel (provider) takes. `Delivery.channel`."""

    SMS = "sms"
    MMS = "mms"
    VOICE = "voice"
    EMAIL = "email"
    WHATSAPP = "whatsapp"  # Twilio's Messages API to whatsapp: addresses
    RCS = "rcs"  # Twilio's Messages API through a Messaging Service with an RCS sender (SMS fallback)


TEXT_KINDS = (Kind.SMS, Kind.MMS)  # texts to the subscribers who take texts (`text = 1`)
# What a recipient can reply to, and opt out of with STOP: the texts, and the chat channels.
REPLY_KINDS = (Kind.SMS, Kind.MMS, Kind.WHATSAPP, Kind.RCS)
PHONE_KINDS = (Kind.SMS, Kind.MMS, Kind.VOICE)
# Channels whose content may be a Twilio Content template (contentSid + contentVariables).
CONTENT_KINDS = (Kind.WHATSAPP, Kind.RCS)


class Message(models.Model):
    """A blast as it was asked for: content, audience and options, frozen at send time."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey("connext.User", on_delete=models.SET_NULL, null=True, related_name="messages")
    types = models.JSONField(default=list, help_text="Requested types: sms, mms, voice, audio, email, whatsapp, rcs.")
    message = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    media = models.JSONField(default=list, help_text="[{url, type?, name?}]")
    ivr = models.BooleanField(default=False)
    shorten_links = models.BooleanField(default=False)
    voice_fallback = models.BooleanField(default=False)
    group_numbers = models.JSONField(default=list)
    dnc_numbers = models.JSONField(default=list)
    # Attribute equalities as given ({"attr.COUNTRY": "DE"}), and a saved segment (its filter is
    # read at the fan-out; no constraint: a deleted segment's blasts keep its id and reach nobody).
    where = models.JSONField(default=dict, db_default={}, blank=True)
    # No group condition (a blast to `where` or a segment alone): the organization, filtered. Kept
    # apart from an empty `group_numbers`, which (every group deleted since) reaches nobody.
    everyone = models.BooleanField(default=False, db_default=False)
    segment = models.ForeignKey(
        "segments.Segment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # WhatsApp / RCS: an approved Twilio Content template and its variables ({"1": "{first|there}"},
    # merge fields rendered per recipient). WhatsApp sends the template outside the 24-hour session.
    content_sid = models.CharField(max_length=34, blank=True, db_default="")
    content_variables = models.JSONField(default=dict, db_default={}, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    test = models.BooleanField(default=False, help_text="A test send to the user's own phone/email.")
    recipients = models.PositiveIntegerField(default=0, help_text="Deliveries: one per recipient and channel.")
    created_at = models.DateTimeField(auto_now_add=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True, help_text="Set once its deliveries exist.")
    canceled_at = models.DateTimeField(null=True, blank=True, help_text="Canceled: nothing more goes out.")
    # The schedule whose run this is (null: a direct blast). No constraint and nothing done on
    # delete: a deleted schedule's runs keep their scheduleId in the logs.
    schedule = models.ForeignKey(
        "schedules.Schedule",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="runs",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], condition=~Q(external_id=""), name="message_external_id"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="message_org_created"),
            models.Index(fields=["created_at"], condition=Q(fanned_out_at=None), name="message_pending_fanout"),
            models.Index(
                fields=["schedule", "-created_at"], condition=Q(schedule__isnull=False), name="message_schedule_runs"
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk}: {self.message[:40]}"


class Delivery(models.Model):
    """One recipient on one channel: the unit a provider sends, and a device claims."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"
        CANCELED = "canceled"

    # The unique constraint below leads with message: no separate FK index to maintain at fan-out.
    # No database constraint either: checking it cost a fan-out of 100,000 rows ~0.7 s at commit,
    # and the fan-out inserts under a lock on the message row (Django still cascades deletes).
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    # Who it was for, for merge fields. Not a constraint: deleting a subscriber must not
    # rewrite (or scan) millions of old deliveries; a missing one renders with empty fields.
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    channel = models.CharField(max_length=16, choices=Kind.choices)
    recipient = models.CharField(max_length=254, help_text="E.164 phone or lower-case email.")
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times handed to the dispatcher.")
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry backoff: not claimed before this.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    provider = models.CharField(max_length=16, blank=True, help_text="twilio, sendgrid, console ...")
    provider_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    digits = models.CharField(max_length=32, blank=True, help_text="IVR keypress of a voice delivery.")
    clicks = models.PositiveIntegerField(default=0)
    # The channel that carried it instead (an RCS send the handset could not take went as "sms").
    fallback = models.CharField(max_length=16, blank=True, db_default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Fan-out inserts ON CONFLICT DO NOTHING against this: one row per address and channel.
            models.UniqueConstraint(fields=["message", "channel", "recipient"], name="delivery_once_per_channel"),
        ]
        indexes = [
            # The claim walks only queued rows (ARCHITECTURE.md: ~10x faster than (message, status)).
            models.Index(fields=["message", "id"], condition=Q(status="queued"), name="delivery_queued"),
            models.Index(fields=["message", "status"], name="delivery_message_status"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="delivery_leased"),
            models.Index(fields=["provider_id"], condition=~Q(provider_id=""), name="delivery_provider_id"),
            # An inbound text finds the last text sent to its number. Only rows a provider took
            # (sent_at set): nothing for the fan-out's INSERT to maintain.
            models.Index(
                fields=["recipient", "-sent_at"],
                condition=Q(channel__in=["sms", "mms", "whatsapp", "rcs"]) & Q(sent_at__isnull=False),
                name="delivery_replyable",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"


class Link(models.Model):
    """A shortened URL of one delivery: `PUBLIC_BASE_URL/l/<code>`."""

    code = models.CharField(max_length=16, unique=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="links")
    url = models.TextField()

    def __str__(self) -> str:
        return f"/l/{self.code} -> {self.url}"


class Click(models.Model):
    """A click on a short link, or one a provider reported (SendGrid click tracking: no Link)."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, null=True, blank=True, related_name="click_set")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="click_set")
    url = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    event_id = models.CharField(
        max_length=100, blank=True, help_text="The provider's id of the click event (SendGrid's sg_event_id)."
    )

    class Meta:
        constraints = [
            # SendGrid retries whole batches: a click event is counted once, whatever the cache holds.
            models.UniqueConstraint(fields=["event_id"], condition=~models.Q(event_id=""), name="click_event_once"),
        ]

    def __str__(self) -> str:
        return f"click on {self.link_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Reply(models.Model):
    """An inbound SMS that was not a keyword (STOP/START/HELP): linked to the last delivery sent
    to that number, and shown on that delivery's row in `GET /logs/{id}`."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="replies")
    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies")
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    body = models.TextField(blank=True)
    provider_id = models.CharField(max_length=64, unique=True, help_text="Twilio MessageSid: a retry is stored once.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "replies"

    def __str__(self) -> str:
        return f"{self.from_number}: {self.body[:40]}"


class ChannelSession(models.Model):
    """When a recipient last wrote to us on a chat channel (WhatsApp): for 24 hours after, a
    business may send them free text; outside that window only an approved template."""

    channel = models.CharField(max_length=16)
    address = models.CharField(max_length=32, help_text="E.164 phone.")
    last_inbound_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="channel_session_once")]

    def __str__(self) -> str:
        return f"{self.channel} {self.address} {self.last_inbound_at:%Y-%m-%d %H:%M}"


class MessageCount(models.Model):
    """Running totals of a message's deliveries, kept by PostgreSQL triggers (migration 0004):
    `key` is a status, `clicks`, `clicked` (deliveries with a click) or `error:<code>` (with
    the provider's text in `label`). Stats and log rows read these instead of counting
    millions of deliveries. SQLite has no such triggers: there the selectors count rows."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="counts", db_index=False)
    key = models.CharField(max_length=48)
    # Writers add to the shard of their database connection (backend pid % 8), so thousands
    # of callbacks a second for one message don't queue on one row's lock; readers sum.
    shard = models.PositiveSmallIntegerField(default=0)
    n = models.BigIntegerField(default=0)
    label = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "key", "shard"], name="message_count_key_shard")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.key}={self.n}"
