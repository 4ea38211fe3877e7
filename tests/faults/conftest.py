"""Fixtures of the fault matrix: a private PostgreSQL and Redis per test session (per xdist
worker), a database of its own per test, the Twilio stub, and the worker/beat processes.

See tests/faults/test_fault_matrix.py for the design."""

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.faults.seed import phone
from tests.faults.stack import ROOT, PrivatePostgres, PrivateRedis, Processes, missing_servers, wait_for
from tests.stubs import run_in_thread
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TwilioStub

TEMPLATE = "connext_template"
FROM_NUMBER = "+15005550006"

# What the outer environment may say about services or sending: never inherited by our
# processes (the CI's DATABASE_URL / REDIS_URL name the shared servers).
_NOT_INHERITED = (
    "DATABASE_URL", "REDIS_URL", "CELERY_", "RATELIMIT_STORAGE_URL", "DISPATCH_", "DELIVERY_", "SWEEP_", "TWILIO_",
    "SENDGRID_", "CONNEXT_VAR_DIR", "CONN_", "PUBLIC_BASE_URL", "DJANGO_SETTINGS_MODULE",
)  # fmt: skip

# The processes' sending settings: small and fast, so the whole matrix takes a few minutes.
SENDING = {
    "DISPATCH_BATCH_SIZE": 25,
    "DISPATCH_CONCURRENCY": 5,
    "DISPATCH_TASKS": 2,
    "DISPATCH_TASK_SECONDS": 2,  # a dispatcher re-enqueues itself (through Redis) every 2 s
    "DELIVERY_LEASE_SECONDS": 10,  # default 300: a dead worker's rows wait this long for the sweeper
    "DELIVERY_RETRY_BASE_SECONDS": 1,
    "SWEEP_INTERVAL": 2,
    "SWEEP_STALE_SECONDS": 2,
}


def skip_reason() -> str:
    if not os.environ.get("DATABASE_URL"):
        return "the fault matrix runs on PostgreSQL CI only (DATABASE_URL unset)"
    return missing_servers()


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis


@pytest.fixture(scope="session")
def private_stack(tmp_path_factory) -> Stack:
    """One PostgreSQL cluster (initdb) and one redis-server of our own for this test session
    (each xdist worker makes its own), a migrated template database, all removed at the end."""
    if reason := skip_reason():
        pytest.skip(reason)
    postgres, redis_server = PrivatePostgres(), PrivateRedis()
    try:
        postgres.init().start()
        redis_server.start()
        postgres.create_database(TEMPLATE)
        log = tmp_path_factory.mktemp("faults-setup") / "migrate.log"
        env = {**_clean_environ(), "DJANGO_SETTINGS_MODULE": "connext.settings", "DATABASE_URL": postgres.url(TEMPLATE),
               "REDIS_URL": redis_server.url(), "CONNEXT_VAR_DIR": str(log.parent / "var")}  # fmt: skip
        with open(log, "wb") as out:
            result = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, timeout=180,
            )  # fmt: skip
        assert result.returncode == 0, log.read_text()
        postgres.mark_template(TEMPLATE)
        yield Stack(postgres, redis_server)
    finally:
        redis_server.cleanup()
        postgres.cleanup()


def _clean_environ() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}


class TimedTwilioStub(TwilioStub):
    """The Twilio stub, each accepted send stamped with `at` (time.monotonic() of this process)."""

    def record(self, send: dict) -> None:
        send["at"] = time.monotonic()
        super().record(send)


@dataclass
class Recovery:
    """What one fault cost: seconds from the fault's end until sending resumed (the stub got the
    first SMS to a recipient whose delivery was still queued at the fault's end: a new claim, not
    a straggler of a batch in flight) and until every delivery was final."""

    fault: str
    recipients: int
    sent_before_fault: int
    sent_during_fault: int
    queued_at_end: int  # deliveries still queued when the fault ended
    fault_seconds: float  # from its start to its end
    to_resume: float | None  # None: nothing was queued at the fault's end
    to_complete: float
    notes: dict = field(default_factory=dict)

    def line(self) -> str:
        resume = "n/a (nothing was queued)" if self.to_resume is None else f"{self.to_resume:6.2f} s"
        return (
            f"[fault recovery] {self.fault}: {self.recipients} recipients; {self.sent_before_fault} sent before it, "
            f"{self.sent_during_fault} during it ({self.fault_seconds:.2f} s), {self.queued_at_end} queued at its end; "
            f"sending resumed {resume} and the blast was complete {self.to_complete:6.2f} s after its end"
            + (f" {self.notes}" if self.notes else "")
        )


class FaultRun:
    """One test's blast on the private stack: its own database (a copy of the migrated
    template), its own queue, the stub, its processes, and what it measured."""

    def __init__(self, stack: Stack, folder: Path, stub_url: str, stub: TimedTwilioStub):
        self.stack = stack
        self.folder = folder
        self.stub_url, self.stub = stub_url, stub
        self.database = stack.postgres.create_database(f"fault_{uuid.uuid4().hex[:10]}", TEMPLATE)
        self.queue = f"faults-{uuid.uuid4().hex[:10]}"
        self.processes = Processes(folder)
        self.message_id: int | None = None
        self.recipients = 0
        self._db: psycopg.Connection | None = None
        self._queued_at_end: set[str] = set()

    # -- processes -------------------------------------------------------------------------------

    def env(self, **overrides) -> dict:
        redis_url = self.stack.redis.url()
        settings = {
            "DJANGO_SETTINGS_MODULE": "connext.settings",
            "DATABASE_URL": self.stack.postgres.url(self.database),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "RATELIMIT_STORAGE_URL": redis_url,
            "CELERY_QUEUE": self.queue,
            "CONNEXT_VAR_DIR": str(self.folder / "var"),
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": self.stub_url,
            "PUBLIC_BASE_URL": "https://cnxt.example",
            "LOG_LEVEL": "INFO",
            **SENDING,
            **overrides,
        }
        return {**_clean_environ(), **{k: str(v) for k, v in settings.items()}}

    def blast(self, recipients: int, **env) -> int:
        """Create the blast (a subprocess on the private stack); its fan-out is woken at once."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.faults.seed", str(recipients)], cwd=ROOT, env=self.env(**env),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        made = json.loads(result.stdout.strip().splitlines()[-1])
        assert made["recipients"] == recipients, made
        self.message_id, self.recipients = made["message"], recipients
        return self.message_id

    # -- the stub --------------------------------------------------------------------------------

    def sent(self) -> int:
        return len(self.stub.sends)

    def wait_for_sends(self, count: int, timeout: float = 60) -> int:
        return wait_for(lambda: self.sent() >= count and self.sent(), timeout, f"{count} sends at the stub", 0.01)

    def configure_stub(self, **options) -> dict:
        """POST /_stub/config: the stub's control route, over HTTP as for a stub in its own process."""
        request = urllib.request.Request(
            f"{self.stub_url}/_stub/config", data=json.dumps(options).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    # -- the database ----------------------------------------------------------------------------

    def query(self, sql: str, params=()) -> list[tuple]:
        """A query on the test's private database; reconnects after a restart of PostgreSQL."""
        for attempt in range(2):
            try:
                if self._db is None or self._db.closed:
                    self._db = self.stack.postgres.connect(self.database, autocommit=True)
                return self._db.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                if self._db is not None:
                    self._db.close()
                self._db = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def statuses(self) -> Counter:
        """Deliveries of the blast by status; {} until it is fanned out (or while PostgreSQL is down)."""
        try:
            fanned = self.query("SELECT fanned_out_at IS NOT NULL FROM logs_message WHERE id = %s", [self.message_id])
            if not fanned or not fanned[0][0]:
                return Counter()
            rows = self.query(
                "SELECT status, count(*) FROM logs_delivery WHERE message_id = %s GROUP BY status", [self.message_id]
            )
        except psycopg.OperationalError:
            return Counter()
        return Counter(dict(rows))

    def complete(self) -> bool:
        counts = self.statuses()
        return bool(counts) and not (counts["queued"] or counts["sending"])

    def wait_complete(self, timeout: float) -> float:
        """Poll until every delivery is final; returns the moment it was seen (monotonic)."""
        try:
            wait_for(self.complete, timeout, f"every delivery final (now {dict(self.statuses())})", 0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs_tail()}") from None
        return time.monotonic()

    # -- the verdict -----------------------------------------------------------------------------

    def assert_exactly_once(self) -> None:
        """Every recipient got exactly one SMS at the stub, and every delivery says `sent` with
        the sid the stub gave it."""
        phones = {phone(i) for i in range(self.recipients)}
        per_recipient = Counter(s["to"] for s in self.stub.sends)
        twice = sorted(to for to, n in per_recipient.items() if n > 1)
        assert not twice, f"{len(twice)} recipients got more than one SMS: {twice[:20]}"
        missing = sorted(phones - set(per_recipient))
        assert not missing, f"{len(missing)} recipients got nothing: {missing[:20]}"
        assert set(per_recipient) == phones
        statuses = self.statuses()
        assert statuses == {"sent": self.recipients}, dict(statuses)
        recorded = {row[0] for row in self.query(
            "SELECT provider_id FROM logs_delivery WHERE message_id = %s", [self.message_id])}  # fmt: skip
        assert recorded == {s["sid"] for s in self.stub.sends}

    def fault_ended(self) -> float:
        """Now (monotonic), the fault's end; notes who is still queued then (see Recovery)."""
        ended = time.monotonic()
        queued = "SELECT recipient FROM logs_delivery WHERE message_id = %s AND status = 'queued'"
        self._queued_at_end = {row[0] for row in self.query(queued, [self.message_id])}
        return ended

    def measure(self, fault: str, *, started: float, ended: float, sent_before: int, complete_at: float,
                **notes) -> Recovery:  # fmt: skip
        sends = self.stub.sends
        resumed = [s["at"] for s in sends if s["at"] > ended and s["to"] in self._queued_at_end]
        recovery = Recovery(
            fault=fault, recipients=self.recipients, sent_before_fault=sent_before,
            sent_during_fault=sum(started < s["at"] <= ended for s in sends), queued_at_end=len(self._queued_at_end),
            fault_seconds=round(ended - started, 3),
            to_resume=round(min(resumed) - ended, 3) if resumed else None,
            to_complete=round(complete_at - ended, 3), notes=notes,
        )  # fmt: skip
        print("\n" + recovery.line(), file=sys.stderr, flush=True)  # stderr: shown by -s under xdist too
        with open(self.folder / "fault-results.json", "a") as out:
            out.write(json.dumps(recovery.__dict__) + "\n")
        return recovery

    def logs_tail(self, lines: int = 40) -> str:
        parts = []
        for process in self.processes.started:
            text = Path(process.log).read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {Path(process.log).name} (exit {process.poll()}) ---\n" + "\n".join(text))
        return "\n".join(parts)

    def close(self) -> None:
        self.processes.stop_all()
        if self._db is not None:
            self._db.close()


@pytest.fixture
def fault_run(private_stack, tmp_path):
    """A FaultRun on the private stack; its processes are stopped after the test, even on failure."""
    # A killed worker's requests in flight make the stub's server log "Connection lost": expected.
    server_log = logging.getLogger("aiohttp.server")
    level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    try:
        with run_in_thread(TimedTwilioStub, latency=0.05) as (url, stub):
            run = FaultRun(private_stack, tmp_path, url, stub)
            try:
                yield run
            finally:
                run.close()
    finally:
        server_log.setLevel(level)
