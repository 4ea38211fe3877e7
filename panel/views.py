"""The console's own pages: the dashboard (the admin's home) and compose.

Compose is `POST /blasts` in a form: the request is checked by the API's serializers (the
same messages, on the fields they name) and sent by the same services (blasts.compose)."""

import hashlib
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework import serializers

from blasts import compose as blasts
from blasts.admin import MediaFormField, TypesFormField
from blasts.models import Template
from blasts.serializers import BlastSerializer, TestBlastSerializer
from connext.admin import progress_bar
from connext.errors import ApplicationError
from connext.models import Organization
from groups.models import Group
from logs.models import Kind
from panel import charts, dashboard

SERIES = ["delivered", "sent", "failed", "canceled", "sending", "queued"]
# The API's field names (in the serializers' errors) -> the form's.
FORM_FIELDS = {"shortenLinks": "shorten_links", "voiceFallback": "voice_fallback"}


def dashboard_context(request) -> dict:
    """The dashboard of the admin's organization; a superuser picks one (`?organization=id`)."""
    org = request.user.organization if request.user.organization_id else None
    picker = {}
    if request.user.is_superuser:
        chosen = request.GET.get("organization", "")
        if chosen.isdigit():
            org = Organization.objects.filter(pk=int(chosen)).first() or org
        picker = {"organizations": Organization.objects.order_by("name").only("id", "name")[:500]}
    if org is None:
        return picker
    context = _dashboard(request, org)
    return {**picker, **context}


def _dashboard(request, org: Organization) -> dict:
    days = dashboard.days(org)
    per_day = dashboard.messages_per_day(org)
    opt_outs = dashboard.opt_outs_per_day(org)
    blasts_shown = [
        {
            "message": message,
            "url": reverse("admin:logs_message_change", args=[message.pk]),
            "progress": progress,
            "bar": progress_bar(
                progress.counts, progress.total, progress.percent, label=f"blast {message.pk} progress"
            ),
        }
        for message, progress in dashboard.last_blasts(org)
    ]
    today = per_day[days[-1]]
    return {
        "organization": org,
        "today_total": sum(today.values()),
        "month_total": sum(sum(day.values()) for day in per_day.values()),
        "messages_chart": charts.stacked_bars(
            days, per_day, SERIES, title=f"Messages per day by status, last {dashboard.DAYS} days"
        ),
        "opt_outs_chart": charts.stacked_bars(
            days,
            {day: {"opt-outs": n} for day, n in opt_outs.items()},
            ["opt-outs"],
            height=140,
            title=f"Opt-outs per day, last {dashboard.DAYS} days",
        ),
        "opt_outs_total": sum(opt_outs.values()),
        "channels": dashboard.channel_rates(org, per_day),
        "blasts": blasts_shown,
        "devices": dashboard.devices_online(org),
        # Compose sends as the admin's organization: not for a superuser looking at another one.
        "compose_url": reverse("admin:compose")
        if request.user.has_perm("blasts.send_blast") and request.user.organization_id == org.pk
        else "",
        "days": dashboard.DAYS,
    }


class GroupChoiceField(forms.TypedMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(coerce=int, required=False, **kwargs)


class ComposeForm(forms.Form):
    """The fields of `POST /blasts`; their checks are the serializer's (see `wire`)."""

    types = TypesFormField(required=False)  # none ticked: the serializer says so, as the API does
    groups = GroupChoiceField(label="Send to groups")
    dnc = GroupChoiceField(label="Do not contact groups", help_text="Their members are left out.")
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 70}), required=False, strip=False,
        help_text="Merge fields: {first} {last} {phone} {email}, with a fallback: {first|there}.",
    )  # fmt: skip
    subject = forms.CharField(required=False, strip=False, help_text="For email.")
    media = MediaFormField()
    shorten_links = forms.BooleanField(required=False, label="Shorten links")
    voice_fallback = forms.BooleanField(
        required=False, label="Voice fallback", help_text="Call the phones a text can't reach."
    )
    ivr = forms.BooleanField(required=False, label="IVR", help_text="Calls ask for a keypress.")
    estimated = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, groups: list[Group], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(g.number, f"{g.number} · {g.name}") for g in groups]
        self.fields["groups"].choices = choices
        self.fields["dnc"].choices = choices

    def wire(self) -> dict:
        """The request body `POST /blasts` would get."""
        data = self.cleaned_data
        body = {"types": data["types"], "groups": data["groups"], "dnc": data["dnc"], "message": data["message"],
                "subject": data["subject"], "shortenLinks": int(data["shorten_links"]),
                "voiceFallback": int(data["voice_fallback"]), "ivr": int(data["ivr"])}  # fmt: skip
        if data["media"]:
            body["media"] = data["media"]
        return body

    def refuse(self, errors: dict) -> None:
        """The serializer's errors (or a service's ApplicationError) on the form's fields."""
        for name, problems in errors.items():
            field = FORM_FIELDS.get(name, name)
            self.add_error(field if field in self.fields else None, list(_messages(problems)))


def _messages(problems):
    if isinstance(problems, dict):
        for value in problems.values():
            yield from _messages(value)
    elif isinstance(problems, list):
        for value in problems:
            yield from _messages(value)
    else:
        yield str(problems)


def _fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _template_initial(org, pk: str) -> dict:
    template = (
        Template.objects.filter(organization=org, pk=pk if pk.isdigit() else 0)
        .prefetch_related("groups", "dnc")
        .first()
    )
    if template is None:
        return {}
    return {
        "types": template.types,
        "groups": [g.number for g in template.groups.all()],
        "dnc": [g.number for g in template.dnc.all()],
        "message": template.message,
        "subject": template.subject,
        "media": template.files,
        "shorten_links": template.shorten_links,
        "voice_fallback": template.voice_fallback,
        "ivr": template.ivr,
    }


def compose(request):
    """GET: the form (from a template with ?template=id). POST `action`: estimate, then send
    (only what was estimated: a changed form is estimated again first), or test."""
    user = request.user
    if not user.has_perm("blasts.send_blast"):
        raise PermissionDenied
    org = user.organization if user.organization_id else None
    context = _site_context(request, title="Compose a blast")
    if org is None:
        context["no_organization"] = True
        return TemplateResponse(request, "panel/compose.html", context)
    groups = list(Group.objects.filter(organization=org).order_by("number"))
    templates = list(Template.objects.filter(organization=org).only("id", "title"))
    estimate = None
    if request.method == "POST":
        form = ComposeForm(request.POST, groups=groups)
        action = request.POST.get("action", "estimate")
        if form.is_valid():
            body = form.wire()
            try:
                if action == "test":
                    # A test goes to the admin alone: no audience fields (the API refuses them as unknown).
                    mine = {k: v for k, v in body.items() if k not in ("groups", "dnc", "voiceFallback")}
                    message = _send(TestBlastSerializer, blasts.blast_test, user, mine)
                    messages.success(request, f"Test queued to your own phone or email: blast {message.pk}.")
                    context["test_url"] = reverse("admin:logs_message_change", args=[message.pk])
                elif action == "send" and form.cleaned_data["estimated"] == _fingerprint(body):
                    message = _send(BlastSerializer, blasts.blast_create, user, body)
                    messages.success(request, f"Blast queued to {message.recipients} recipients.")
                    return HttpResponseRedirect(reverse("admin:logs_message_change", args=[message.pk]))
                else:
                    data = _validated(BlastSerializer, body)
                    estimate = blasts.estimate(user=user, data={**data, "has_media": bool(data.get("media"))})
                    form.data = form.data.copy()
                    form.data["estimated"] = _fingerprint(body)
            except serializers.ValidationError as error:
                form.refuse(error.detail)
            except ApplicationError as error:
                form.refuse({error.field or "non_field_errors": [str(error.detail)]})
    else:
        form = ComposeForm(initial=_template_initial(org, request.GET.get("template", "")), groups=groups)
    context.update(
        form=form,
        templates=templates,
        estimate=estimate,
        estimate_rows=_estimate_rows(estimate),
        chosen_template=request.GET.get("template", ""),
    )
    return TemplateResponse(request, "panel/compose.html", context)


def _site_context(request, title: str) -> dict:
    return {**admin.site.each_context(request), "title": title}


def _validated(serializer_class, body: dict) -> dict:
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _send(serializer_class, service, user, body: dict):
    return service(user=user, data=_validated(serializer_class, body))


def _estimate_rows(estimate: dict | None) -> list[dict]:
    if not estimate:
        return []
    return [
        {
            "type": kind,
            "recipients": n,
            "cost": estimate["cost"][kind],
            "segments": estimate["segments"] if kind == Kind.SMS else "",
        }
        for kind, n in estimate["recipients"].items()
    ]
