"""Dispatch throughput: a blast's queued SMS deliveries sent by `blasts.dispatch.dispatch` through
the twilio SDK (TwilioChannel) to the Twilio stub with 100 ms latency, against a bare aiohttp
client with 100 requests in flight to the same stub in the same run.

    .venv/bin/python bench/dispatch_speed.py [--sends 5000] [--rounds 3] [--workers 1]
        [--latency 0.1] [--concurrency 100] [--celery] [--profile]

The stub (`python -m tests.stubs.twilio_stub`) runs in its own process for the whole run.
Each round, one after the other:

* bare: `--sends` POSTs to `/2010-04-01/Accounts/{sid}/Messages.json` from one aiohttp
  session, `--concurrency` requests in flight, with the body the SDK sends for a blast
  (To, From, Body, StatusCallback, form-encoded), HTTP Basic auth, the JSON answer read
  and parsed. No database, no SDK. The ceiling is concurrency / latency (1000/s).
* dispatch: a new Message of the bench organization (`--sends` subscribers in group 1)
  and one queued sms Delivery per subscriber, made with SQL (the message marked fanned
  out); then `blasts.dispatch.dispatch(message_id)` until every delivery is `sent`: leased
  claims of DISPATCH_BATCH_SIZE rows, merge fields rendered, TwilioChannel.send_batch
  (the SDK's async API, DISPATCH_CONCURRENCY in flight), results recorded. With
  `--workers 1` (default) it runs in this process, its channel (event loop, connections)
  kept across rounds as a worker keeps it across tasks; with `--workers K` K processes
  call dispatch on the same message at once, sharing its rows through SKIP LOCKED (they
  start, import Django and build their channel before the clock starts).
* with `--celery`, also celery: a real `celery -A connext worker` (prefork, concurrency 2)
  on a queue of its own; a new Message for group 1 not yet fanned out, and `fan_out_message`
  enqueued as `POST /blasts` does after its commit; timed until every delivery is `sent`
  (fan-out, the dispatch tasks it enqueues, their sends).

After each run the stub's record is checked: exactly `--sends` sends, each recipient once,
and for dispatch each delivery id once (from its StatusCallback); every delivery `sent`.
Reported per round: seconds, sends/s and the client's CPU per send (bare: this process;
dispatch: this process, or the sum of the `--workers` processes). Then seconds and sends/s
of each, medians over the rounds, and the ratio dispatch / bare in sends/s (target: at least
0.5), also as the median of the per-round ratios (each round times them back to back).
`--profile` cProfiles the last in-process dispatch.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench,
created when missing, migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15; the
Celery broker with --celery). Exit status: 0, 1 on a setup error or a failed check, 3 with
`--strict` when the ratio misses.
"""

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/dispatch_speed.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail  # noqa: E402

ORG_NAME = "Connext dispatch bench org"
FROM_NUMBER = "+15005550006"
BODY = "Hello {first|there}, the meeting moved to 3pm."
TARGET_RATIO = 0.5

_SUBSCRIBERS_SQL = """
INSERT INTO subscribers_subscriber
    (organization_id, first, last, phone, email, address, city, state, zip, enabled, text, created_at, updated_at)
SELECT %(org)s, 'First' || i, 'Last' || i, '+1415' || lpad(i::text, 7, '0'), 'first' || i || '@example.com',
       '', '', '', '', true, true, now(), now()
FROM generate_series(1, %(count)s) AS i
"""
_DELIVERIES_SQL = """
INSERT INTO logs_delivery (message_id, subscriber_id, channel, recipient, status, attempts, provider, provider_id,
                           error_code, error_message, digits, clicks)
SELECT %(message)s, s.id, 'sms', s.phone, 'queued', 0, '', '', '', '', '', 0
FROM subscribers_subscriber s WHERE s.organization_id = %(org)s ORDER BY s.id
"""


# --- the stub -------------------------------------------------------------------


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.stubs.twilio_stub", "--port", "0", "--latency", str(latency)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = stub.stdout.readline().strip()
    if not base_url.startswith("http"):
        stub.kill()
        fail("the Twilio stub did not start")
    return stub, base_url


def stub_sends(base_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{base_url}/_stub/sends", timeout=60) as response:
        return json.load(response)


def stub_reset(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/_stub/sends", method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()


def check_stub(base_url: str, sends: int, label: str, delivery_ids: set[int] | None = None) -> None:
    """Exactly `sends` sends, each recipient once (and each delivery once); then forget them."""
    record = stub_sends(base_url)
    recipients = {s["to"] for s in record}
    if len(record) != sends or len(recipients) != sends:
        fail(f"{label}: the stub recorded {len(record)} sends to {len(recipients)} recipients, expected {sends}")
    if delivery_ids is not None:
        seen = [int(parse_qs(urlsplit(s["status_callback"]).query)["d"][0]) for s in record]
        if len(set(seen)) != len(seen) or set(seen) != delivery_ids:
            fail(f"{label}: the stub's sends do not match the deliveries one to one")
    stub_reset(base_url)


# --- bare -----------------------------------------------------------------------


async def _bare(base_url: str, sends: int, concurrency: int, account_sid: str, token: str) -> int:
    import aiohttp

    url = f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    pending = iter(range(sends))
    ok = 0

    async def worker(session):
        nonlocal ok
        for i in pending:
            body = urlencode(
                {
                    "To": f"+1415{i:07d}",
                    "From": FROM_NUMBER,
                    "Body": f"Hello First{i}, the meeting moved to 3pm.",
                    "StatusCallback": f"http://localhost:8000/hooks/twilio/status?d={i}",
                }
            ).encode()
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.json()
                ok += response.status == 201 and payload["sid"].startswith("SM")

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ok


def time_bare(base_url: str, sends: int, concurrency: int) -> tuple[float, float]:
    """Seconds and this process's CPU seconds of the bare client's `sends` requests."""
    from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    start, cpu = time.perf_counter(), time.process_time()
    ok = asyncio.run(_bare(base_url, sends, concurrency, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if ok != sends:
        fail(f"bare: {sends - ok} of {sends} requests failed")
    check_stub(base_url, sends, "bare")
    return elapsed, cpu


# --- data -----------------------------------------------------------------------


def prepare(sends: int) -> tuple[int, int]:
    """The bench organization with exactly `sends` subscribers in group 1; (org id, user id)."""
    import django

    django.setup()
    from django.core.management import call_command

    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or organization_create(name=ORG_NAME)
    email = "bench-dispatch@bench.invalid"
    user = User.objects.filter(email=email).first() or user_create(organization=org, email=email, role=roles.ORG_ADMIN)
    drop_messages(org.pk)
    ensure_audience(org.pk, sends)
    return org.pk, user.pk


def ensure_audience(org_id: int, count: int) -> None:
    """`count` texting subscribers (phones +1415..., emails), all in group 1, built with SQL
    unless the organization has that many already."""
    from django.db import connection, transaction

    from groups.models import Group
    from subscribers.models import Subscriber

    if Subscriber.objects.filter(organization_id=org_id).count() == count:
        return
    with transaction.atomic():
        Subscriber.groups.through.objects.filter(subscriber__organization_id=org_id).delete()
        Subscriber.objects.filter(organization_id=org_id).delete()
        Group.objects.filter(organization_id=org_id).delete()
        group = Group.objects.create(organization_id=org_id, name="Everyone", number=1)
        with connection.cursor() as cursor:
            cursor.execute(_SUBSCRIBERS_SQL, {"org": org_id, "count": count})
            cursor.execute(
                "INSERT INTO subscribers_subscriber_groups (subscriber_id, group_id) "
                "SELECT id, %s FROM subscribers_subscriber WHERE organization_id = %s",
                [group.pk, org_id],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE subscribers_subscriber")


def new_message(org_id: int, user_id: int, *, fanned_out: bool) -> int:
    from django.utils import timezone

    from logs.models import Message

    return Message.objects.create(
        organization_id=org_id,
        user_id=user_id,
        types=["sms"],
        message=BODY,
        group_numbers=[1],
        fanned_out_at=timezone.now() if fanned_out else None,
    ).pk


def queued_message(org_id: int, user_id: int, sends: int) -> tuple[int, set[int]]:
    """A fanned-out message with one queued sms delivery per subscriber, made with SQL."""
    from django.db import connection

    from logs.models import Delivery, Message

    message_id = new_message(org_id, user_id, fanned_out=True)
    with connection.cursor() as cursor:
        cursor.execute(_DELIVERIES_SQL, {"message": message_id, "org": org_id})
        cursor.execute("ANALYZE logs_delivery")
    Message.objects.filter(pk=message_id).update(recipients=sends)
    return message_id, set(Delivery.objects.filter(message_id=message_id).values_list("id", flat=True))


def drop_messages(org_id: int) -> None:
    from django.db import connection

    from logs.models import Message

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM logs_delivery WHERE message_id IN (SELECT id FROM logs_message WHERE organization_id = %s)",
            [org_id],
        )
    Message.objects.filter(organization_id=org_id).delete()


def statuses(message_id: int) -> dict[str, int]:
    from django.db.models import Count

    from logs.models import Delivery

    rows = Delivery.objects.filter(message_id=message_id).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def check_all_sent(message_id: int, sends: int, label: str) -> None:
    counts = statuses(message_id)
    if counts != {"sent": sends}:
        fail(f"{label}: deliveries {counts}, expected {sends} sent")


# --- dispatch -------------------------------------------------------------------


def run_dispatch(message_id: int) -> None:
    from blasts.dispatch import dispatch

    while dispatch(message_id) == "more":
        pass


def time_dispatch_here(message_id: int, profile: cProfile.Profile | None) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    run_dispatch(message_id)
    if profile:
        profile.disable()
    return time.perf_counter() - start, time.process_time() - cpu


def worker_main(message_id: int) -> None:
    """A `--workers` process: set up, say ready, wait for `go`, dispatch, report its CPU time."""
    import django

    django.setup()
    from django.db import connection

    from blasts.channels import channel_for

    channel_for("sms")
    connection.ensure_connection()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu = time.process_time()
    run_dispatch(message_id)
    print(f"cpu {time.process_time() - cpu:.3f}", flush=True)


def time_dispatch_workers(message_id: int, workers: int) -> tuple[float, float]:
    from django.db import connections

    connections.close_all()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker-for", str(message_id)]
    procs = [
        subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                fail("a dispatch worker did not start")
        start = time.perf_counter()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        cpu = 0.0
        for proc in procs:
            line = proc.stdout.readline().strip()
            if proc.wait(timeout=600) != 0 or not line.startswith("cpu "):
                fail("a dispatch worker failed")
            cpu += float(line.split()[1])
        return time.perf_counter() - start, cpu
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


# --- celery ---------------------------------------------------------------------


def start_celery_worker(queue: str) -> subprocess.Popen:
    from connext import celery_app

    command = [sys.executable, "-m", "celery", "-A", "connext", "worker", "--pool", "prefork", "--concurrency", "2",
               "--queues", queue, "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
               "--without-mingle"]  # fmt: skip
    worker = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            fail("the Celery worker did not start")
    return worker


def time_celery(org_id: int, user_id: int, sends: int) -> tuple[float, int]:
    import psycopg
    from django.db import connection

    from blasts.tasks import fan_out_message

    message_id = new_message(org_id, user_id, fanned_out=False)
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        start = time.perf_counter()
        fan_out_message.delay(message_id)
        deadline = time.monotonic() + 600
        while True:
            sent = conn.execute(
                "SELECT count(*) FROM logs_delivery WHERE message_id = %s AND status = 'sent'", [message_id]
            ).fetchone()[0]
            if sent >= sends:
                break
            if time.monotonic() > deadline:
                fail(f"celery: {sent} of {sends} sent after 600 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    return elapsed, message_id


# --- main -----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=5000, help="deliveries / requests per run (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians reported (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="dispatch processes on the same message (default 1)")
    parser.add_argument("--latency", type=float, default=0.1, help="stub latency per request, seconds (default 0.1)")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight per client (default 100)")
    parser.add_argument("--celery", action="store_true", help="also run through a real Celery worker (prefork, 2)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last in-process dispatch")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio misses the target")
    parser.add_argument("--worker-for", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_for:
        worker_main(args.worker_for)
        return 0
    if args.profile and args.workers != 1:
        fail("--profile profiles this process: use it with --workers 1")

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    stub, base_url = start_stub(args.latency)
    from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    # Read by connext.settings, so this process, the --workers processes and the Celery worker
    # all send sms through TwilioChannel to the stub.
    os.environ.update(
        TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TEST_AUTH_TOKEN,
        TWILIO_FROM_NUMBER=FROM_NUMBER,
        TWILIO_API_BASE_URL=base_url,
        TWILIO_RATE_LIMIT="0",
        DISPATCH_CONCURRENCY=str(args.concurrency),
        CELERY_QUEUE=f"bench-dispatch-{uuid.uuid4().hex[:8]}",
    )
    worker = None
    try:
        org_id, user_id = prepare(args.sends)
        from django.conf import settings

        from blasts.channels import channel_for

        channel = channel_for("sms")
        if channel.name != "twilio" or channel.base_url != base_url:
            fail(f"channel_for('sms') is {channel.name!r}, not TwilioChannel pointed at the stub")
        print(f"{args.sends} SMS per run, stub latency {args.latency} s, {args.concurrency} in flight "
              f"(ceiling {args.concurrency / args.latency:.0f}/s); dispatch: {args.workers} process(es), "
              f"batches of {settings.DISPATCH_BATCH_SIZE}")  # fmt: skip
        if args.celery:
            worker = start_celery_worker(settings.CELERY_TASK_DEFAULT_QUEUE)
        bare, runs, celery_runs = [], [], []
        profile = None
        for round_ in range(1, args.rounds + 1):
            seconds, bare_cpu = time_bare(base_url, args.sends, args.concurrency)
            bare.append(seconds)
            message_id, delivery_ids = queued_message(org_id, user_id, args.sends)
            if args.workers == 1:
                profile = cProfile.Profile() if args.profile and round_ == args.rounds else None
                elapsed, cpu = time_dispatch_here(message_id, profile)
            else:
                elapsed, cpu = time_dispatch_workers(message_id, args.workers)
            runs.append(elapsed)
            check_all_sent(message_id, args.sends, "dispatch")
            check_stub(base_url, args.sends, "dispatch", delivery_ids)
            line = (f"round {round_}: bare {bare[-1]:.2f} s ({args.sends / bare[-1]:.0f}/s, CPU "
                    f"{bare_cpu * 1e6 / args.sends:.0f} µs/send), dispatch {elapsed:.2f} s "
                    f"({args.sends / elapsed:.0f}/s, CPU {cpu * 1e6 / args.sends:.0f} µs/send)")  # fmt: skip
            if worker is not None:
                seconds, celery_message = time_celery(org_id, user_id, args.sends)
                celery_runs.append(seconds)
                check_all_sent(celery_message, args.sends, "celery")
                check_stub(base_url, args.sends, "celery")
                line += f", celery {seconds:.2f} s ({args.sends / seconds:.0f}/s)"
            drop_messages(org_id)
            print(line, flush=True)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
            import redis

            client = redis.Redis.from_url(redis_url)
            client.delete(os.environ["CELERY_QUEUE"])
            client.close()
        stub.terminate()
        stub.wait(timeout=10)

    bare_s, dispatch_s = statistics.median(bare), statistics.median(runs)
    ratio = bare_s / dispatch_s  # of sends/s: dispatch / bare
    print()
    print(f"medians of {args.rounds} round(s), {args.sends} SMS each")
    print(f"{'':<48} {'seconds':>8} {'sends/s':>8}")
    print(f"{f'bare aiohttp, {args.concurrency} in flight':<48} {bare_s:>8.2f} {args.sends / bare_s:>8.0f}")
    label = f"dispatch.dispatch, {args.workers} process(es)"
    print(f"{label:<48} {dispatch_s:>8.2f} {args.sends / dispatch_s:>8.0f}")
    if celery_runs:
        celery_s = statistics.median(celery_runs)
        label = "celery worker (prefork 2), fan_out_message enqueued"
        print(f"{label:<48} {celery_s:>8.2f} {args.sends / celery_s:>8.0f}")
        print(f"ratio celery / bare (sends/s): {bare_s / celery_s:.2f}")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"ratio dispatch / bare (sends/s): {ratio:.2f}  (target >= {TARGET_RATIO}: {verdict})")
    per_round = statistics.median(b / d for b, d in zip(bare, runs, strict=True))
    print(f"median of the per-round ratios: {per_round:.2f}")
    if profile is not None:
        stats = pstats.Stats(profile).strip_dirs()
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    return 3 if args.strict and ratio < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
