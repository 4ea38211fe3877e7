"""A schedule: a blast to send later, once or again and again (`schedules.recurrence`).

Each run is a `logs.Message` with `schedule` set, made by the tick (`schedules.tick`) in the
transaction that moves `next` on, so a run is never made twice nor lost.
"""

from django.db import models
from django.db.models import Q

from connext.models import validate_timezone
from schedules import recurrence

FREQUENCY_CHOICES = [(name, name) for name in recurrence.FREQUENCIES]


class Schedule(models.Model):
    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="schedules")
    user = models.ForeignKey(
        "connext.User", on_delete=models.SET_NULL, null=True, related_name="+", help_text="Its runs' sender."
    )
    title = models.CharField(max_length=255)
    # What each run sends, as POST /blasts takes it.
    types = models.JSONField(default=list)
    groups = models.ManyToManyField("groups.Group", related_name="+", blank=True)
    message = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    media = models.JSONField(default=list, blank=True, help_text="[{url, type?, name?}]")
    ivr = models.BooleanField(default=False)
    shorten_links = models.BooleanField(default=False)
    # Who besides (or instead of) groups, as POST /blasts takes them; a segment is read at each run.
    where = models.JSONField(default=dict, db_default={}, blank=True)
    everyone = models.BooleanField(default=False, db_default=False, help_text="No group condition (Message.everyone).")
    segment = models.ForeignKey(
        "segments.Segment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    content_sid = models.CharField(max_length=34, blank=True, db_default="")
    content_variables = models.JSONField(default=dict, db_default={}, blank=True)
    # When: the start in `timezone` (an IANA name; the organization's by default), and the rule.
    start_date = models.DateField()
    start_time = models.TimeField()
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    frequency = models.CharField(max_length=7, choices=FREQUENCY_CHOICES, blank=True)
    every = models.PositiveIntegerField(null=True, blank=True)
    days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Weekdays: Sunday 1 ... Saturday 64.")
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="Runs left; empty: no end.")
    active = models.BooleanField(default=True)
    next = models.DateTimeField(null=True, blank=True, help_text="The next run (UTC); empty when none is left.")
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["next", "id"]
        indexes = [
            # The tick's claim walks only what can fire.
            models.Index(fields=["next"], condition=Q(active=True), name="schedule_due"),
            models.Index(fields=["organization", "id"], name="schedule_org"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def rule(self) -> recurrence.Rule:
        return rule_of(vars(self))


def rule_of(fields: dict) -> recurrence.Rule:
    """The recurrence rule of a schedule's fields (a row read with `.values()`, or `vars()`)."""
    return recurrence.Rule(
        start_date=fields["start_date"],
        start_time=fields["start_time"],
        timezone=fields["timezone"],
        frequency=fields["frequency"] or None,
        every=fields["every"],
        days=fields["days"],
    )
