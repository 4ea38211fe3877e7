"""Rollups of deliveries, kept current by the write path: PostgreSQL statement-level triggers on
logs_delivery (migration 0002) add each statement's changes, whoever makes them (the fan-out's
INSERT ... SELECT, the state machine, a script), so the analytics never scan deliveries.

One row per organization, hour (of the message's creation, UTC), channel, status and shard:
`n` deliveries; `billed` of them charged (not canceled, not failed before a provider took them);
their `segments` and `cost_units` (the Charge's price, in ten-thousandths). Concurrent writers add to the shard of their
connection (backend pid % 8), as logs_messagecount does; `analytics.rollups.compact` folds the
shards of past hours into shard 0. SQLite has no triggers: there the analytics count rows.
"""

from django.db import models


class HourlyUsage(models.Model):
    # The unique key leads with the organization: no index of its own to keep.
    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    channel = models.CharField(max_length=16)
    status = models.CharField(max_length=9)
    shard = models.PositiveSmallIntegerField(default=0)
    n = models.BigIntegerField(default=0)
    billed = models.BigIntegerField(default=0)
    segments = models.BigIntegerField(default=0)
    # In ten-thousandths (prices have 4 decimal places): exact, and summed ~3x faster than numeric.
    cost_units = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "channel", "status", "shard"], name="hourly_usage_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.hour:%Y-%m-%d %H}h {self.channel} {self.status}={self.n}"
