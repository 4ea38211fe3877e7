from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"

    def ready(self):
        from schedules import tasks  # noqa: F401  (registers the tick with Celery)
