"""Webhook events of a blast to one subscribed endpoint, against a bare aiohttp client.

    .venv/bin/python bench/webhook_throughput.py [--recipients 100000] [--concurrency 100] [--verify]

The real pipeline on PostgreSQL and Redis: an SMS blast to `--recipients` subscribers on the
console channel (which records each send as `sent`, then `delivered`), one organization with
one endpoint subscribed to `message.sent` and `message.delivered`, a local receiver in its
own process (aiohttp; counts events once per `webhook-id`; `--verify` checks every signature
with the standardwebhooks library: the bare client's unsigned requests are then refused with a
401 before any HMAC, which flatters the bare figure). Three phases:

1. blast: a real `celery -A connext worker -Q connext` (prefork, 2) fans the blast out and
   sends it; every status change writes its outbox row in its transaction. Reported: the
   blast's time and the outbox rows written (2 per recipient). Then VACUUM and CHECKPOINT, so
   that the blast's writes weigh on neither of the timed phases.
2. webhooks: a real `celery -A connext worker -Q webhooks` drains the outbox; the clock runs
   from the first task to the receiver counting every event. Reported: events/s.
3. bare: the same bodies posted to the same receiver by a bare aiohttp client, `--concurrency`
   in flight (WEBHOOK_CONCURRENCY is set to it too). Reported: events/s, and the ratio
   (target >= 50 %).

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench_webhooks,
created when missing) and Redis (REDIS_URL, default redis://127.0.0.1:6379/14). Exit status 0,
1 on a setup error, 3 with `--strict` when the target is missed.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail, free_port  # noqa: E402

TARGET_RATIO = 0.5
EVENTS = ["message.sent", "message.delivered"]


# --- the receiver (its own process) ---------------------------------------------------------


def serve_receiver(port: int, secret: str) -> None:
    from aiohttp import web
    from standardwebhooks import Webhook

    seen: set[str] = set()
    counts = {"requests": 0, "events": 0, "unverified": 0}
    webhook = Webhook(secret) if secret else None

    async def receive(request):
        body = await request.read()
        counts["requests"] += 1
        if webhook is not None:
            try:
                webhook.verify(body, dict(request.headers))
            except Exception:
                counts["unverified"] += 1
                return web.Response(status=401)
        event_id = request.headers.get("webhook-id", "")
        if event_id not in seen:
            seen.add(event_id)
            counts["events"] += 1
        return web.Response(status=204)

    async def count(request):
        return web.json_response(counts)

    async def reset(request):
        seen.clear()
        counts.update(requests=0, events=0, unverified=0)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=2048)


def receiver_counts(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/count", timeout=10) as response:
        return json.load(response)


def wait_for_events(base: str, expected: int, timeout: float) -> float:
    start = time.monotonic()
    while True:
        counts = receiver_counts(base)
        if counts["events"] >= expected:
            return time.monotonic()
        if time.monotonic() - start > timeout:
            fail(f"the receiver counted {counts['events']} of {expected} events after {timeout:g} s")
        time.sleep(0.05)


# --- the phases -------------------------------------------------------------------------------


def celery_worker(queue: str, concurrency: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "connext", "worker", "--pool", "prefork", "--concurrency",
             str(concurrency), "--queues", queue, "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def outbox_count(endpoint_id: int) -> int:
    from webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.filter(endpoint_id=endpoint_id).count()


def run_blast(org_id: int, user_id: int, endpoint_id: int, recipients: int, log: Path) -> float:
    from bench.dispatch_speed import new_message
    from blasts.tasks import fan_out_message
    from logs.models import Delivery

    worker = celery_worker(os.environ["CELERY_QUEUE"], 2, log)
    try:
        time.sleep(4)  # the worker starts
        message_id = new_message(org_id, user_id, fanned_out=False)
        start = time.monotonic()
        fan_out_message.delay(message_id)
        deadline = start + 3600
        while outbox_count(endpoint_id) < 2 * recipients:
            if time.monotonic() > deadline:
                fail("the blast did not finish within an hour")
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        delivered = Delivery.objects.filter(message_id=message_id, status="delivered").count()
        print(f"blast: {recipients} SMS sent and delivered ({delivered} delivered) in {elapsed:.1f} s; "
              f"{outbox_count(endpoint_id)} outbox rows written with them")  # fmt: skip
        return elapsed
    finally:
        stop(worker)


def settle() -> None:
    """Vacuum and checkpoint after the blast, so that neither autovacuum nor a checkpoint of its
    writes lands in one measured phase and not the other."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE webhooks_delivery")
        cursor.execute("VACUUM ANALYZE logs_delivery")
        cursor.execute("CHECKPOINT")


def run_webhooks(endpoint_id: int, expected: int, base: str, log: Path) -> float:
    from django.conf import settings

    from webhooks import dispatch

    worker = celery_worker(settings.WEBHOOK_QUEUE, 1, log)
    try:
        time.sleep(4)  # the worker starts
        start = time.monotonic()
        dispatch.wake([endpoint_id])
        end = wait_for_events(base, expected, timeout=3600)
    finally:
        stop(worker)
    counts = receiver_counts(base)
    rate = expected / (end - start)
    print(f"webhooks: {expected} events in {end - start:.1f} s = {rate:,.0f} events/s "
          f"({counts['requests']} requests, {counts['unverified']} failed verification)")  # fmt: skip
    return rate


def run_bare(endpoint_id: int, url: str, base: str, concurrency: int) -> float:
    import aiohttp

    from webhooks.models import WebhookDelivery

    rows = list(WebhookDelivery.objects.filter(endpoint_id=endpoint_id).values_list("event_id", "payload"))
    urllib.request.urlopen(urllib.request.Request(f"{base}/reset", method="POST"), timeout=10)

    async def post_all():
        pending = iter(rows)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def worker():
                for event_id, payload in pending:
                    headers = {"webhook-id": event_id, "content-type": "application/json"}
                    async with session.post(url, data=payload.encode(), headers=headers) as response:
                        await response.read()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    start = time.monotonic()
    asyncio.run(post_all())
    elapsed = time.monotonic() - start
    rate = len(rows) / elapsed
    print(f"bare aiohttp: {len(rows)} events in {elapsed:.1f} s = {rate:,.0f} events/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight, both clients")
    parser.add_argument("--verify", action="store_true", help="the receiver verifies every signature")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio misses the target")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver, args.secret)
        return 0

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_bench_webhooks")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    run = uuid.uuid4().hex[:8]
    os.environ.update(
        CELERY_QUEUE=f"bench-webhooks-{run}", WEBHOOK_QUEUE=f"bench-webhooks-{run}-out", ALLOW_PRIVATE_URLS="true",
        CONSOLE_DELIVERY_DELAY="1", WEBHOOK_CONCURRENCY=str(args.concurrency),
    )  # fmt: skip
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.dispatch_speed import prepare

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:  # the last run's console records and outbox (this database is ours)
        cursor.execute("TRUNCATE blasts_consolesend, webhooks_delivery")
    org_id, user_id = prepare(args.recipients)
    from connext.models import Organization
    from webhooks import services
    from webhooks.models import Endpoint

    Endpoint.objects.filter(organization_id=org_id).delete()
    port = free_port()
    base, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/hook"
    endpoint = services.endpoint_create(organization=Organization.objects.get(pk=org_id), url=url, events=EVENTS)
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port),
                                 "--secret", endpoint.secret if args.verify else ""])  # fmt: skip
    log = Path(f"/tmp/connext-bench-webhooks-{run}.log")
    print(f"{args.recipients} recipients, {args.concurrency} requests in flight; worker log {log}")
    try:
        time.sleep(1)
        run_blast(org_id, user_id, endpoint.pk, args.recipients, log)
        settle()
        expected = 2 * args.recipients
        ours = run_webhooks(endpoint.pk, expected, base, log)
        bare = run_bare(endpoint.pk, url, base, args.concurrency)
    finally:
        stop(receiver)
    ratio = ours / bare
    print(f"webhooks / bare aiohttp: {ratio:.0%} (target >= {TARGET_RATIO:.0%})")
    return 3 if args.strict and ratio < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
