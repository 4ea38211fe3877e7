"""Recovery after workers die mid-blast: how long a blast sits idle, and whether anyone got two.

    .venv/bin/python bench/crash_recovery.py [--sends 20000] [--latency 0.15] [--kills 5]
        [--within 25]

The operator's test: an SMS blast through the real twilio SDK to the Twilio stub (its own
process, `--latency` seconds per request), one real `celery -A connext worker` (prefork, 2)
and `celery -A connext beat` on the settings' defaults (lease, heartbeat, sweep). The worker
is SIGKILLed `--kills` times during the first `--within` seconds and started again at once
each time, as a supervisor would. Reported: sends at each kill, then from the last kill how
long until the stub saw a new send (sending resumed) and until every delivery was final, and
the check that matters: every recipient got exactly one SMS.

Needs PostgreSQL and Redis like the other benchmarks (DATABASE_URL, REDIS_URL). Its default
database is one of its own, connext_recovery (created when missing): the sweeper it runs
settles every expired lease it finds, and the other benchmarks leave rows `sending` on purpose.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail  # noqa: E402
from bench.dispatch_speed import FROM_NUMBER, new_message, prepare, start_stub, stub_sends  # noqa: E402


def stub_count(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_stub/config", timeout=10) as response:
        return json.load(response)["sends"]


class Progress:
    """The stub's send count over time: the longest stretch in which nothing new went out."""

    def __init__(self, base_url: str):
        self.base_url, self.count, self.longest_idle = base_url, 0, 0.0
        self.since = None  # when the count last grew

    def watch(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            now, count = time.monotonic(), stub_count(self.base_url)
            if count > self.count:
                self.count, self.since = count, now
            elif self.since is not None:
                self.longest_idle = max(self.longest_idle, now - self.since)
            if now >= end:
                return
            time.sleep(min(0.2, end - now))


def celery(*command: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "connext", *command, "--loglevel", "WARNING"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def worker(queue: str, log: Path) -> subprocess.Popen:
    return celery("worker", "--pool", "prefork", "--concurrency", "2", "--queues", queue, "--without-gossip",
                  "--without-mingle", log=log)  # fmt: skip


def final(message_id: int) -> bool:
    from logs.models import Delivery

    return not Delivery.objects.filter(message_id=message_id, status__in=["queued", "sending"]).exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20000)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--within", type=float, default=25.0, help="seconds in which the kills happen")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_recovery")
    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    stub, base_url = start_stub(args.latency)
    from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    queue = f"bench-recovery-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN=TEST_AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
        TWILIO_API_BASE_URL=base_url, TWILIO_RATE_LIMIT="0", CELERY_QUEUE=queue,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="connext-recovery-"))
    log = workdir / "celery.log"
    processes: list[subprocess.Popen] = []
    try:
        org_id, user_id = prepare(args.sends)
        from django.conf import settings

        from blasts.tasks import fan_out_message

        print(f"{args.sends} SMS, stub latency {args.latency} s; lease {settings.DELIVERY_LEASE_SECONDS:g} s "
              f"renewed every {settings.DELIVERY_LEASE_RENEW_SECONDS:g} s, sweep every {settings.SWEEP_INTERVAL:g} s; "
              f"{args.kills} SIGKILLs in the first {args.within:g} s (log: {log})")  # fmt: skip
        processes.append(celery("beat", "--schedule", str(workdir / "beat-schedule"), log=log))
        current = worker(queue, log)
        processes.append(current)
        time.sleep(3)  # the worker starts
        message_id = new_message(org_id, user_id, fanned_out=False)
        start = time.monotonic()
        fan_out_message.delay(message_id)
        progress = Progress(base_url)
        for k in range(args.kills):
            progress.watch(args.within / args.kills)
            current.send_signal(signal.SIGKILL)
            subprocess.run(["pkill", "-9", "-P", str(current.pid)], check=False)  # its pool processes too
            current.wait(10)
            print(f"kill {k + 1} at {time.monotonic() - start:5.1f} s: {stub_count(base_url)} sent so far")
            current = worker(queue, log)
            processes.append(current)
        killed_at, at_kill = time.monotonic(), stub_count(base_url)
        resumed = None
        while time.monotonic() - killed_at < 900:
            if resumed is None and progress.count > at_kill + 50:  # past what was in flight at the kill
                resumed = time.monotonic() - killed_at
            if final(message_id):
                break
            progress.watch(0.2)
        else:
            fail("the blast did not end within 15 minutes of the last kill")
        ended = time.monotonic() - killed_at
        per_recipient = Counter(send["to"] for send in stub_sends(base_url))
        twice = sum(1 for n in per_recipient.values() if n > 1)
        from logs.models import Delivery

        states = Counter(Delivery.objects.filter(message_id=message_id).values_list("status", flat=True))
        print(f"after the last kill: sending resumed in {resumed:.1f} s, the blast ended in {ended:.1f} s "
              f"({time.monotonic() - start:.1f} s in all)")  # fmt: skip
        print(f"longest time without a new send, first send to the end: {progress.longest_idle:.1f} s")
        print(f"recipients reached {len(per_recipient)} of {args.sends}, twice: {twice}; deliveries {dict(states)}")
        return 0 if twice == 0 and len(per_recipient) == args.sends else 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        stub.terminate()


if __name__ == "__main__":
    sys.exit(main())
