from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PanelConfig(AppConfig):
    """The operator's console in the Django admin: the site, the dashboard, compose, the assets."""

    default = True
    name = "panel"
    verbose_name = "Console"


class ConnextAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` with our site as `admin.site`, so every app's `@admin.register` lands on it."""

    default = False
    default_site = "panel.site.ConnextAdminSite"
