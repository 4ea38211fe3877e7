"""The fault matrix: a real blast, a fault in the middle of it, and the proof that it still ends
with every recipient sent exactly one SMS, every delivery final, within a deadline.

Each test sends an SMS blast (600 recipients) through real Celery worker process(es) and beat,
the real twilio SDK and the loopback Twilio stub (in a thread of this process, 0.05 s per
request; every accepted send stamped with the time it arrived), then:

1. Redis (broker, result store and cache) is killed and started again, empty, mid-blast;
2. PostgreSQL is restarted (`pg_ctl restart -m fast`: every session cut off) mid-blast;
3. the provider answers 500 for 10 s, then 429 with Retry-After for 20 s, then recovers; with
   the shipped retry policy (a throttled try spends no attempt) and with a larger attempt budget;
4. beat is killed together with the worker that runs the blast (its task message stays
   unacknowledged until the broker's visibility timeout, an hour): another worker idles until
   beat is back and its sweeper restarts the work;
5. a prefork worker's pool child is over its memory limit mid-blast: Celery's
   `--max-memory-per-child` replaces it after each task, and once, mid-send, the test does
   what the kernel's OOM killer does to a process over a container's memory limit (SIGKILL);
   the parent forks a replacement that finishes the blast.

Each test prints (stderr: shown by `pytest -s`, with xdist too) and writes to
`<its tmp dir>/fault-results.json` the measured recovery: seconds from the fault's end until
the stub saw a new send, and until every delivery was final. The deadlines below are failure
bounds, not figures.

The private stack (tests/faults/conftest.py, tests/faults/stack.py). These tests restart
servers, so they never use the shared PostgreSQL (:5432) or Redis (:6379): each test session
(each xdist worker) makes its own PostgreSQL cluster with `initdb` in a temporary folder (as
the `postgres` user when run as root; free port, unix socket in that folder, fsync off) and its
own `redis-server --save "" --appendonly no` on a free port; `manage.py migrate` runs once, in
a subprocess, into a template database, and each test gets a copy of it (CREATE DATABASE ...
TEMPLATE) and a queue of its own. This test process keeps its usual settings (the suite's
database) and reads the private database with plain psycopg; the blast is made by a subprocess
on the private stack (tests/faults/seed.py: the request serializer and `blast_create`, as
`POST /api/v1/blasts` does), so no Django connection of this process ever points elsewhere.
Workers and beat get the private DATABASE_URL / REDIS_URL / CELERY_QUEUE and small sending
settings in their environment (conftest.SENDING: DELIVERY_LEASE_SECONDS=10 instead of 300,
SWEEP_INTERVAL=2, SWEEP_STALE_SECONDS=2) and run in process groups of their own that are
SIGTERMed, then SIGKILLed after each test; the servers are stopped and their folders removed
at the end of the session (fixtures with finally; `setpriv --pdeathsig` also ends Redis, the
workers and beat if pytest itself is killed; PostgreSQL, daemonized by pg_ctl, is not).

Needs PostgreSQL server binaries and redis-server; skipped without them, and outside the
PostgreSQL CI (DATABASE_URL unset).
"""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.conftest import skip_reason
from tests.faults.stack import children_of, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "-")]

RECIPIENTS = 600
STARTED_AT = RECIPIENTS // 3  # the fault starts once this many SMS went out


def start(run, workers: int = 1, beat: bool = True, **env) -> None:
    for n in range(workers):
        run.processes.worker(run.env(**env), f"worker-{n}")
    if beat:
        run.processes.beat(run.env(**env))


def test_redis_restart_mid_blast(fault_run, private_stack):
    """Everything in Redis is lost: queued and unacknowledged task messages, the cache. Down
    for 4 s, longer than a dispatcher's 2 s time slice, so the wake-up it sends itself at the
    end of its slice fails: the sweeper has to wake the blast again."""
    run = fault_run
    start(run)
    run.blast(RECIPIENTS)
    run.wait_for_sends(STARTED_AT)
    before, started = run.sent(), time.monotonic()
    private_stack.redis.stop()  # SIGKILL
    time.sleep(4)  # the outage
    private_stack.redis.start()
    ended = run.fault_ended()
    complete_at = run.wait_complete(timeout=90)
    run.measure("redis restart", started=started, ended=ended, sent_before=before, complete_at=complete_at)
    run.assert_exactly_once()


def test_postgres_restart_mid_blast(fault_run, private_stack):
    """Every database session is cut off: the dispatcher's task fails (typically while it
    records a batch the provider already accepted); the sweeper settles that batch by asking
    the stub once its lease ran out, and wakes the blast again."""
    run = fault_run
    start(run)
    run.blast(RECIPIENTS)
    run.wait_for_sends(STARTED_AT)
    before, started = run.sent(), time.monotonic()
    private_stack.postgres.restart()
    ended = run.fault_ended()
    complete_at = run.wait_complete(timeout=90)
    run.measure("postgres restart", started=started, ended=ended, sent_before=before, complete_at=complete_at)
    run.assert_exactly_once()


OUTAGE_500_SECONDS, OUTAGE_429_SECONDS, RETRY_AFTER = 10, 20, 5


@pytest.mark.parametrize("max_attempts", [5, 10], ids=["shipped-retry-budget", "retry-budget-10"])
def test_provider_500_then_429_for_30_s(fault_run, max_attempts):
    """Twilio answers every send 500 for 10 s, then 429 (Retry-After: 5) for 20 s, then accepts
    again. The shipped retry policy (DELIVERY_RETRY_BASE_SECONDS=10, DELIVERY_MAX_ATTEMPTS=5) is
    used, once as shipped and once with a larger attempt budget."""
    run = fault_run
    env = {"DELIVERY_RETRY_BASE_SECONDS": 10, "DELIVERY_MAX_ATTEMPTS": max_attempts}
    start(run, **env)
    run.blast(RECIPIENTS, **env)
    run.wait_for_sends(STARTED_AT)
    before, started = run.sent(), time.monotonic()
    run.configure_stub(rules=[{"suffix": "", "status": 500, "code": 20500, "message": "Internal Server Error"}])
    time.sleep(OUTAGE_500_SECONDS)
    run.configure_stub(
        rules=[{"suffix": "", "status": 429, "code": 20429, "message": "Too Many Requests", "retry_after": RETRY_AFTER}]
    )
    time.sleep(OUTAGE_429_SECONDS)
    requests = run.configure_stub(rules=[])["requests"]
    ended = run.fault_ended()
    complete_at = run.wait_complete(timeout=120)
    run.measure(
        f"provider 500 then 429 for 30 s, DELIVERY_MAX_ATTEMPTS={max_attempts}", started=started, ended=ended,
        sent_before=before, complete_at=complete_at, statuses=dict(run.statuses()), stub_requests=requests,
    )  # fmt: skip
    run.assert_exactly_once()


def test_beat_and_a_worker_killed_mid_blast(fault_run, private_stack):
    """Beat and the worker running the blast are SIGKILLed together; a second worker is up at
    once, but nothing wakes it: the dead worker's task message is unacknowledged (redelivered
    only after the broker's visibility timeout, an hour), and the sweeps the dead beat had
    queued are dropped (as if beat had died before sending them). Beat is back after 3 s; its
    sweeper settles the dead worker's batch once its lease ran out and wakes the blast. One
    dispatcher with a 60 s slice: no wake-up of the blast is in the queue when the kill lands."""
    run = fault_run
    env = {"DISPATCH_TASKS": 1, "DISPATCH_TASK_SECONDS": 60}
    first = run.processes.worker(run.env(**env), "worker-0")
    beat = run.processes.beat(run.env(**env))
    run.blast(RECIPIENTS, **env)
    run.wait_for_sends(STARTED_AT)
    before, started = run.sent(), time.monotonic()
    run.processes.kill(beat)
    run.processes.kill(first)
    killed = time.monotonic()
    # The sweeps the dead beat queued while the busy worker could not run them: gone with it.
    private_stack.redis.purge_queue(run.queue)
    run.processes.worker(run.env(**env), "worker-1")
    time.sleep(3)  # beat is down
    run.processes.beat(run.env(**env), "beat-again")
    ended = run.fault_ended()
    # The stub still answers what reached it before the kill (0.05 s each); nothing after that.
    late = [s["to"] for s in run.stub.sends if killed + 0.5 < s["at"] < ended]
    assert not late, f"{len(late)} sent while beat was down: something other than the sweeper woke the blast"
    complete_at = run.wait_complete(timeout=90)
    run.measure("beat + worker killed", started=started, ended=ended, sent_before=before, complete_at=complete_at)
    run.assert_exactly_once()


# The memory limit: this much above what an idle pool child uses (~90 MB here); a child that has
# sent uses ~20 MB more (aiohttp, TLS contexts, the twilio client), so it is over the limit after
# each dispatcher slice, mid-blast.
HEADROOM_KB = 8_000


def _idle_child_rss_kb(run) -> int:
    """What the pool child of an idle prefork worker uses (a probe worker, stopped after)."""
    probe = run.processes.worker(run.env(), "probe", "--pool", "prefork", "--concurrency", "1")
    child = wait_for(lambda: children_of(probe.pid), 30, "the probe's pool child")[0]
    time.sleep(1)  # done initializing
    rss = wait_for(lambda: _rss_kb(child), 10, "the probe child's RSS")
    run.processes.kill(probe)
    return rss


def test_worker_over_its_memory_limit_mid_blast(fault_run):
    """A prefork worker (one child) with `--max-memory-per-child`: Celery replaces its child
    after each task that leaves it over the limit (every 2 s dispatcher slice), mid-blast. And
    once, mid-send, the child over the limit is SIGKILLed, as the kernel's OOM killer does to
    the process over a container's memory limit: the parent forks a replacement, the task message
    is redelivered (acks_late, task_reject_on_worker_lost), the replacement goes on with the
    blast, and the sweeper settles the killed child's leased batch."""
    run = fault_run
    limit_kb = _idle_child_rss_kb(run) + HEADROOM_KB
    worker = run.processes.worker(
        run.env(), "worker-0", "--pool", "prefork", "--concurrency", "1", f"--max-memory-per-child={limit_kb}"
    )
    run.processes.beat(run.env())
    run.blast(RECIPIENTS)
    run.wait_for_sends(STARTED_AT)

    def child_over_the_limit_mid_send():
        """(pid, RSS) of the child once it is over the limit with a batch leased: mid-send, not
        on its way out after a task (the one child has the only leases)."""
        over = [(pid, rss) for pid in children_of(worker.pid) if (rss := _rss_kb(pid) or 0) > limit_kb]
        leased = run.query("SELECT count(*) FROM logs_delivery WHERE status = 'sending'")[0][0]
        return over and leased and over[0]

    child, rss_kb = wait_for(child_over_the_limit_mid_send, 30, "a pool child over its memory limit, sending", 0.01)
    before, started = run.sent(), time.monotonic()
    os.kill(child, signal.SIGKILL)
    ended = run.fault_ended()
    stranded = run.query("SELECT count(*) FROM logs_delivery WHERE status = 'sending'")[0][0]
    children = set()

    def complete():
        children.update(children_of(worker.pid))
        return run.complete()

    try:
        wait_for(complete, 90, "every delivery final", 0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {dict(run.statuses())}\n{run.logs_tail()}") from None
    complete_at = time.monotonic()
    run.measure(
        "worker over its memory limit (OOM kill)", started=started, ended=ended, sent_before=before,
        complete_at=complete_at, limit_kb=limit_kb, killed_child_rss_kb=rss_kb, leased_rows_it_left=stranded,
        children_after_the_kill=len(children - {child}),
    )  # fmt: skip
    assert worker.poll() is None, "the worker itself died"
    assert len(children - {child}) >= 2, "no replacement after the kill was replaced in turn for its memory"
    run.assert_exactly_once()


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None
