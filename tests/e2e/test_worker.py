"""A real Celery worker process consumes a task end to end (Redis when REDIS_URL is set,
else the embedded filesystem broker)."""

import os

import pytest

from connext import celery_app
from connext.tasks import ping


def test_celery_app_is_configured_for_at_least_once_delivery():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    expected = "redis" if os.environ.get("REDIS_URL") else "filesystem"
    assert conf.broker_url.startswith(expected)


@pytest.mark.worker
def test_worker_process_runs_a_task_end_to_end(celery_worker):
    result = ping.delay()
    assert result.get(timeout=60) == "pong"
