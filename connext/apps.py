from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConnextConfig(AppConfig):
    name = "connext"
    verbose_name = "Connext"

    def ready(self) -> None:
        from connext import roles

        # Roles follow the models: after every migrate their permissions are
        # re-synced, so a model added by a later app lands in the right roles.
        post_migrate.connect(roles.sync_roles, dispatch_uid="connext.sync_roles")
