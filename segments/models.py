"""A segment: a named filter of an organization's subscribers (groups, attributes, a keyword),
usable wherever groups are (blasts, schedules, the estimate) and resolved when a blast fans out,
so it reaches whoever matches then."""

from django.db import models


class Segment(models.Model):
    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=255)
    # Group numbers (members of any of them), as blasts take them; empty: no group condition.
    group_numbers = models.JSONField(default=list, blank=True)
    # Attribute equalities as given ({"attr.COUNTRY": "DE"}), all of them (AND).
    where = models.JSONField(default=dict, blank=True)
    keyword = models.CharField(max_length=100, blank=True, help_text="As the keyword of GET /subscribers.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["organization", "id"], name="segment_org")]

    def __str__(self) -> str:
        return self.name
