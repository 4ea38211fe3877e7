"""A real Celery worker process consumes a task end to end (Redis when REDIS_URL is set,
else the embedded filesystem broker)."""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from connext import celery_app
from connext.tasks import ping

ROOT = settings.BASE_DIR


@pytest.fixture
def worker_queue():
    """Start `celery -A connext worker` on a queue of its own (parallel test runs don't share)."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "connext",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield queue
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_celery_app_is_configured_for_at_least_once_delivery():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    expected = "redis" if os.environ.get("REDIS_URL") else "filesystem"
    assert conf.broker_url.startswith(expected)


@pytest.mark.worker
def test_worker_process_runs_a_task_end_to_end(worker_queue):
    result = ping.apply_async(queue=worker_queue)
    assert result.get(timeout=60) == "pong"
