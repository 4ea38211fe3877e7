from django.db import models

MAX_NUMBER = 2**31 - 1  # a PositiveIntegerField's ceiling: no group has a larger number


class Group(models.Model):
    """A numbered list of subscribers; requests refer to groups by `number`, paths by `id`."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    number = models.PositiveIntegerField()
    private = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["organization", "number"], name="group_number_per_org")]

    def __str__(self) -> str:
        return f"{self.number}: {self.name}"
