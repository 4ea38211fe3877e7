"""The admin site: Connext's name, the apps in the order an operator works, the dashboard as home."""

from django.contrib import admin
from django.urls import path

# The index's sections, in the order an operator works: (title, [(app_label, model, name shown)]).
# A registered model not listed here is shown after them under its app's name.
SECTIONS = [
    ("Subscribers", [("subscribers", "subscriber", "Subscribers"), ("subscribers", "importjob", "Imports"),
                     ("subscribers", "blocklistentry", "Blocklist")]),
    ("Groups", [("groups", "group", "Groups"), ("segments", "segment", "Segments")]),
    ("Templates", [("blasts", "template", "Templates")]),
    ("Blasts & logs", [("logs", "message", "Blasts"), ("logs", "delivery", "Deliveries"),
                       ("blasts", "consolesend", "Console outbox")]),
    ("Schedules", [("schedules", "schedule", "Schedules")]),
    ("Devices", [("devices", "device", "Devices"), ("devices", "pairingcode", "Pairing codes")]),
    ("Webhooks", [("webhooks", "endpoint", "Endpoints"), ("webhooks", "webhookdelivery", "Webhook deliveries")]),
    ("Settings", [("connext", "organization", "Organization"), ("connext", "user", "Users"),
                  ("apikeys", "apikey", "API keys"), ("auth", "group", "Roles"),
                  ("accounts", "balance", "Credits"), ("accounts", "ledgerentry", "Ledger")]),
]  # fmt: skip


class ConnextAdminSite(admin.AdminSite):
    site_header = "Connext"
    site_title = "Connext"
    index_title = "Dashboard"
    index_template = "panel/index.html"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:  # an app's own page: its models, as Django lists them
            return apps
        return sections(apps)

    def get_urls(self):
        from panel import views  # the views import the apps' services; the site is built before the apps load

        return [path("compose/", self.admin_view(views.compose), name="compose"), *super().get_urls()]

    def index(self, request, extra_context=None):
        from panel import views

        return super().index(request, {**(extra_context or {}), **views.dashboard_context(request)})


def sections(apps: list[dict]) -> list[dict]:
    """Django's app list regrouped into SECTIONS, with our names for the models."""
    models = {(app["app_label"], model["object_name"].lower()): (app, model) for app in apps for model in app["models"]}
    out = []
    for title, entries in SECTIONS:
        found = [(models.pop(key[:2]), key[2]) for key in entries if key[:2] in models]
        if found:
            (first_app, _), _ = found[0]
            listed = [{**model, "name": shown} for (_, model), shown in found]
            out.append({**first_app, "name": title, "models": listed})
    for app in apps:  # anything registered that the sections don't name
        rest = [model for model in app["models"] if (app["app_label"], model["object_name"].lower()) in models]
        if rest:
            out.append({**app, "models": rest})
    return out
