from django.apps import AppConfig


class BlastsConfig(AppConfig):
    name = "blasts"

    def ready(self):
        # The pipeline's steps enqueue each other by name (blasts.wakeups): register the tasks in
        # every process, web included, so those names resolve (and run inline in eager mode).
        from blasts import tasks  # noqa: F401
