from django.db import models


class Template(models.Model):
    """A reusable blast: content, types and audience, sent later by `POST /blasts` or a schedule."""

    organization = models.ForeignKey("connext.Organization", on_delete=models.CASCADE, related_name="templates")
    title = models.CharField(max_length=255)
    types = models.JSONField(default=list)
    message = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    voice_fallback = models.BooleanField(default=False)
    groups = models.ManyToManyField("groups.Group", related_name="+", blank=True)
    dnc = models.ManyToManyField("groups.Group", related_name="+", blank=True)
    files = models.JSONField(default=list, help_text="Media: [{url, type?, name?}]")
    shorten_links = models.BooleanField(default=False)
    ivr = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        permissions = [("send_blast", "Can send blasts")]

    def __str__(self) -> str:
        return self.title


class ConsoleSend(models.Model):
    """What the console channel 'sent': the outbox of the embedded default, read by people and tests."""

    delivery = models.ForeignKey("logs.Delivery", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    media = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}"
