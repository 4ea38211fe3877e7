"""The Celery app `connext`: `celery -A connext worker` / `celery -A connext beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")

app = Celery("connext")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
