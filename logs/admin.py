"""Sends in the admin: read-only, with live progress. A blast's page shows its counts per
status as bars, its errors grouped, a cancel button while anything is left, and refreshes
itself while it runs; every count links to those deliveries."""

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connext.admin import CappedCountPaginator, ReadOnlyAdmin, progress_bar
from logs import selectors, state
from logs.models import Delivery, Message
from logs.progress import Progress, progress_of

# Seconds between two refreshes of a running blast's page.
REFRESH_SECONDS = 3
# How long after its creation a finished blast's page still refreshes while receipts may come.
RECEIPTS_WATCHED_SECONDS = 15 * 60
STATUS_FILTERS = selectors.STATUS_FILTERS  # queued ... canceled, clicked


def deliveries_url(message_id: int, status: str = "") -> str:
    url = reverse("admin:logs_delivery_changelist") + f"?message__id__exact={message_id}"
    if status == "clicked":
        return url + "&clicked=1"
    return url + (f"&status__exact={status}" if status else "")


def progress_html(message: Message, progress: Progress) -> str:
    return progress_bar(progress.counts, progress.total, progress.percent, label=f"blast {message.pk} progress")


class MessageChangeList(ChangeList):
    """Reads the running totals of the page's messages at once (one query), for the progress column."""

    def get_results(self, request):
        super().get_results(request)
        counts = selectors.counts_by_message([message.pk for message in self.result_list])
        for message in self.result_list:
            message.progress = progress_of(message, counts[message.pk])


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kinds", "short_text", "recipients", "progress"]
    list_display_links = ["id", "created_at"]
    list_per_page = 50
    list_filter = ["test", "created_at"]
    search_fields = ["message", "subject", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    fields = ["kinds", "message", "subject", "media_urls", "groups_shown", "dnc_shown", "options", "user",
              "created_at", "recipients", "fanned_out_at", "canceled_at", "schedule_link", "external_id",
              "test"]  # fmt: skip
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return MessageChangeList

    def changelist_view(self, request, extra_context=None):
        context = {"title": "Blasts", "compose_url": reverse("admin:compose") if _may_send(request) else ""}
        response = super().changelist_view(request, {**context, **(extra_context or {})})
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and any(_changing(message, message.progress) for message in changelist.result_list):
            response.context_data["refresh_seconds"] = REFRESH_SECONDS
        return response

    @admin.display(description="types")
    def kinds(self, message: Message) -> str:
        return ", ".join(message.types)

    @admin.display(description="message")
    def short_text(self, message: Message) -> str:
        return message.message[:50]

    @admin.display(description="progress")
    def progress(self, message: Message) -> str:
        """The bar, then each status's count linking to those deliveries."""
        shown = [(s, n) for s in STATUS_FILTERS if (n := message.progress.counts.get(s, 0))]
        links = format_html_join(
            " · ", '<a href="{}">{}&nbsp;{}</a>', ((deliveries_url(message.pk, s), n, s) for s, n in shown)
        ) or format_html('<a href="{}">deliveries</a>', deliveries_url(message.pk))
        return format_html('{}<div class="cx-counts">{}</div>', progress_html(message, message.progress), links)

    @admin.display(description="media")
    def media_urls(self, message: Message) -> str:
        return (
            format_html_join(
                ", ", '<a href="{}" rel="noreferrer">{}</a>', ((m["url"], m["url"]) for m in message.media)
            )
            or "-"
        )

    @admin.display(description="groups")
    def groups_shown(self, message: Message) -> str:
        return ", ".join(map(str, message.group_numbers)) or "-"

    @admin.display(description="do not contact groups")
    def dnc_shown(self, message: Message) -> str:
        return ", ".join(map(str, message.dnc_numbers)) or "-"

    @admin.display(description="options")
    def options(self, message: Message) -> str:
        options = {"shorten links": message.shorten_links, "voice fallback": message.voice_fallback, "ivr": message.ivr}
        chosen = [name for name, on in options.items() if on]
        return ", ".join(chosen) or "-"

    @admin.display(description="schedule")
    def schedule_link(self, message: Message) -> str:
        if message.schedule_id is None:
            return "-"
        url = reverse("admin:schedules_schedule_change", args=[message.schedule_id])
        return format_html('<a href="{}">schedule {}</a>', url, message.schedule_id)

    def has_add_permission(self, request):
        return _may_send(request)  # "Add" is compose: a blast is made by sending it

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:compose"))

    def get_urls(self):
        cancel = path(
            "<int:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="logs_message_cancel"
        )
        return [cancel, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if message is not None:
            context.update(self.watch_context(request, message))
        return super().change_view(request, object_id, form_url, context)

    def watch_context(self, request, message: Message) -> dict:
        """What the blast's page shows above its fields: progress per status, errors, cancel."""
        stats = selectors.message_stats(message)
        progress = progress_of(message, stats["statuses"])
        total = progress.total or 1
        rows = [
            {"status": status, "count": n, "url": deliveries_url(message.pk, status),
             "width": f"{100 * n / total:.2f}"}
            for status in STATUS_FILTERS
            for n in [progress.counts.get(status, 0)]
        ]  # fmt: skip
        may_cancel = progress.running and message.canceled_at is None and _may_send(request)
        return {
            "title": f"Blast {message.pk}",
            "progress": progress,
            "progress_html": progress_html(message, progress),
            "status_rows": rows,
            "errors": stats["errors"],
            "clicks": stats["clicks"],
            "deliveries_url": deliveries_url(message.pk),
            "cancel_url": reverse("admin:logs_message_cancel", args=[message.pk]) if may_cancel else "",
            "refresh_seconds": REFRESH_SECONDS if _changing(message, progress) else None,
        }

    def cancel_view(self, request, object_id: int):
        """POST: cancel every delivery of the blast not yet handed to a provider (as POST /logs/{id}/cancel)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        message = self.get_object(request, str(object_id))
        if message is None:
            raise Http404("No such blast.")
        if not _may_send(request):
            raise PermissionDenied
        canceled = state.cancel(message.pk)
        if canceled:
            self.message_user(request, f"Canceled {canceled} deliveries.", messages.SUCCESS)
        else:
            self.message_user(
                request, "Nothing left to cancel: every delivery was already canceled or handed to a provider.",
                messages.WARNING,
            )  # fmt: skip
        return HttpResponseRedirect(reverse("admin:logs_message_change", args=[message.pk]))


def _changing(message: Message, progress: Progress) -> bool:
    """Worth refreshing: deliveries are left to send, or a recent blast's receipts are still coming
    (sent, not yet delivered or failed; some carriers never report, so not for ever)."""
    recent = timezone.now() - message.created_at < dt.timedelta(seconds=RECEIPTS_WATCHED_SECONDS)
    return progress.running or (recent and progress.counts.get("sent", 0) > 0)


def _may_send(request) -> bool:
    return request.user.has_perm("blasts.send_blast")  # the API's permission to cancel, as to send


class ClickedFilter(admin.SimpleListFilter):
    title = "clicked"
    parameter_name = "clicked"

    def lookups(self, request, model_admin):
        return [("1", "Clicked"), ("0", "Not clicked")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(clicks__gt=0)
        if self.value() == "0":
            return queryset.filter(clicks=0)
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    org_field = "message__organization"
    list_display = ["id", "message_link", "channel", "recipient", "status", "error_code", "error_message",
                    "sent_at", "delivered_at", "clicks"]  # fmt: skip
    list_filter = ["status", "channel", ClickedFilter]
    search_fields = ["recipient", "provider_id"]
    list_per_page = 50
    # The table grows to millions of rows: no COUNT(*) of all of it per page, nor of more
    # than the paginator's cap of the filtered rows.
    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_ordering(self, request):
        if "message__id__exact" in request.GET:
            # One blast's deliveries, by id, through its (message, status) index: ordered by the bare
            # id, PostgreSQL walked the primary key of every delivery instead (~0.4 s for 1,000,000).
            return [(F("id") + 0).asc()]
        # The newest blasts' deliveries first, blast by blast (the organization's messages, then each
        # one's rows): by id alone, a small organization's page walked every other one's deliveries.
        return ["-message_id", "-id"]

    @admin.display(description="blast")
    def message_link(self, delivery: Delivery) -> str:
        url = reverse("admin:logs_message_change", args=[delivery.message_id])
        return format_html('<a href="{}">{}</a>', url, delivery.message_id)
