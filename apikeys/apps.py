from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from apikeys import schema  # noqa: F401 (registers the bearerAuth scheme with drf-spectacular)
