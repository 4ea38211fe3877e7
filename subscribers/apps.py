from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self):
        # Imports enqueue their task by name (subscribers.imports.pipeline): register it in every process.
        from subscribers import tasks  # noqa: F401
