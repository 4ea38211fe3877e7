"""Analytics latency through the API: `GET /api/v1/analytics/messages?groupBy=day` over 90 days
(one sub-account's key) and `GET /api/v1/analytics/usage` (the parent's key, 10 sub-accounts),
served by gunicorn from the rollups, on 1,000,000 deliveries spread over 90 days.

    .venv/bin/python bench/analytics_speed.py [--deliveries 1000000] [--requests 500] [--rebuild]

Data, built once and kept between runs (`--rebuild` starts over): a parent organization with 10
sub-accounts; each sub-account sent 4 SMS blasts a day for 90 days (at 08:00, 11:00, 14:00 and
17:00 UTC, one SMS segment each, 0.0079 a delivery), together `--deliveries` deliveries:
~91 % delivered, ~2 % failed at the carrier (provider id set: charged), ~2 % failed before the
provider (refunded) and ~3 % canceled. The deliveries are written with one INSERT ... SELECT,
so the rollups are built by the same triggers as every other write; then the shards are
folded as beat does (`analytics.compact`). Before timing, the rollups are checked against a full
recount of the deliveries.

Timing: gunicorn (`--workers`, default 2, gthread with 4 threads) on a free port; each endpoint
first warmed with 20 requests, then `--requests` sequential requests over one keep-alive
connection; p50, p90, p99 and max in milliseconds (target: p99 < 50 ms).

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench_analytics,
created when missing, migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15).
Exit status: 0, 1 on a setup error, 3 with `--strict` when a p99 misses the target.
"""

import argparse
import datetime as dt
import http.client
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_bench_analytics")

from bench.api_latency import (  # noqa: E402
    check_redis,
    configure_environment,
    ensure_database,
    fail,
    free_port,
    start_gunicorn,
    stop_gunicorn,
    wait_until_up,
)

PARENT = "Connext analytics bench parent"
SUBACCOUNTS = 10
DAYS = 90
SLOTS = (8, 11, 14, 17)  # UTC hours of each sub-account's daily blasts
TARGET_P99_MS = 50.0

_DELIVERIES_SQL = """
INSERT INTO logs_delivery (message_id, subscriber_id, channel, recipient, status, attempts, provider, provider_id,
                           error_code, error_message, digits, clicks, sent_at, delivered_at, updated_at)
SELECT m.id, NULL, 'sms', '+1202' || lpad(g::text, 7, '0'), x.status, 1,
       CASE WHEN x.status = 'canceled' THEN '' ELSE 'twilio' END,
       CASE WHEN x.status = 'canceled' OR g %% 50 = 1 THEN '' ELSE 'SM' || m.id || 'x' || g END,
       CASE WHEN x.status = 'failed' THEN '30003' ELSE '' END, '', '', 0,
       CASE WHEN x.status = 'canceled' OR g %% 50 = 1 THEN NULL ELSE m.created_at END,
       CASE WHEN x.status = 'delivered' THEN m.created_at + interval '5 seconds' END, m.created_at
FROM logs_message m
CROSS JOIN generate_series(1, %(per_message)s) AS g
CROSS JOIN LATERAL (SELECT CASE WHEN g %% 33 = 0 THEN 'canceled' WHEN g %% 50 IN (1, 2) THEN 'failed'
                                ELSE 'delivered' END AS status) AS x
WHERE m.organization_id = ANY(%(orgs)s)
"""


def prepare(deliveries: int, rebuild: bool):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Charge
    from accounts.services import subaccount_create
    from analytics import rollups
    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from logs.models import Message

    call_command("migrate", interactive=False, verbosity=0)
    parent = Organization.objects.filter(name=PARENT).first()
    per_message = -(-deliveries // (SUBACCOUNTS * DAYS * len(SLOTS)))  # at least `deliveries` in all
    if parent is not None and not rebuild:
        children = list(Organization.objects.filter(parent=parent).order_by("id"))
        made = Message.objects.filter(organization__in=children).count()
        if len(children) == SUBACCOUNTS and made == SUBACCOUNTS * DAYS * len(SLOTS):
            with connection.cursor() as cursor:
                cursor.execute("SELECT recipients FROM logs_message WHERE organization_id = %s LIMIT 1",
                               [children[0].pk])  # fmt: skip
                if cursor.fetchone()[0] == per_message:
                    return parent, children
        rebuild = True
    if parent is not None:
        ids = [parent.pk, *Organization.objects.filter(parent=parent).values_list("id", flat=True)]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM logs_delivery WHERE message_id IN "
                           "(SELECT id FROM logs_message WHERE organization_id = ANY(%s))", [ids])  # fmt: skip
            cursor.execute("DELETE FROM accounts_charge WHERE message_id IN "
                           "(SELECT id FROM logs_message WHERE organization_id = ANY(%s))", [ids])  # fmt: skip
            cursor.execute("DELETE FROM logs_messagecount WHERE message_id IN "
                           "(SELECT id FROM logs_message WHERE organization_id = ANY(%s))", [ids])  # fmt: skip
            cursor.execute("DELETE FROM logs_message WHERE organization_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM analytics_hourlyusage WHERE organization_id = ANY(%s)", [ids])
        User.objects.filter(organization_id__in=ids).delete()
        Organization.objects.filter(pk__in=ids[1:]).delete()
        Organization.objects.filter(pk=ids[0]).delete()
    started = time.perf_counter()
    parent = organization_create(name=PARENT, billed=True)
    user_create(organization=parent, email="bench-analytics@bench.invalid", role=roles.ORG_ADMIN)
    children = [
        subaccount_create(parent=parent, admin_email=f"bench-analytics-{n}@bench.invalid", name=f"Sub {n}")[0]
        for n in range(SUBACCOUNTS)
    ]
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    messages = [
        Message(organization=child, types=["sms"], message="Hello", group_numbers=[1], recipients=per_message)
        for child in children for _ in range(DAYS) for _ in SLOTS
    ]  # fmt: skip
    Message.objects.bulk_create(messages, batch_size=2000)
    # created_at is auto_now_add: set the days and hours afterwards, before any delivery exists.
    moments = [today - dt.timedelta(days=d) + dt.timedelta(hours=h) for d in range(1, DAYS + 1) for h in SLOTS]
    with connection.cursor() as cursor:
        for child in children:
            ids = list(Message.objects.filter(organization=child).order_by("id").values_list("id", flat=True))
            cursor.execute(
                "UPDATE logs_message m SET created_at = v.at, fanned_out_at = v.at "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) WHERE m.id = v.id",
                [ids, moments],
            )
    Charge.objects.bulk_create(
        [Charge(message=m, channel="sms", unit_price="0.0079", segments=1, account_id=m.organization_id)
         for m in Message.objects.filter(organization__in=children)],
        batch_size=2000,
    )  # fmt: skip
    print(f"built {len(messages)} messages in {time.perf_counter() - started:.1f} s; writing deliveries ...")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DELIVERIES_SQL, {"per_message": per_message, "orgs": [c.pk for c in children]})
        written = cursor.rowcount
    print(f"wrote {written} deliveries (rollups by the triggers) in {time.perf_counter() - started:.1f} s")
    folded = rollups.compact(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    print(f"folded {folded} rollup shards")
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        for table in ("logs_delivery", "logs_message", "analytics_hourlyusage", "accounts_charge"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return parent, children


def keys(parent, children) -> tuple[str, str]:
    from apikeys.services import api_key_create
    from connext.models import Organization, User

    # A latency benchmark, not a test of the per-key rate limit (DEFAULT_RATE_LIMIT: 600 a minute).
    Organization.objects.filter(pk__in=[parent.pk, *(c.pk for c in children)]).update(rate_limit=10**9)
    parent_admin = User.objects.get(email="bench-analytics@bench.invalid")
    child_admin = User.objects.filter(organization=children[0]).first()
    return api_key_create(user=parent_admin, name="bench")[1], api_key_create(user=child_admin, name="bench")[1]


def check_rollups(parent, children) -> None:
    from analytics import rollups

    ids = [parent.pk, *(c.pk for c in children)]
    started = time.perf_counter()
    recount = rollups.recount_hourly(ids)
    recount_s = time.perf_counter() - started
    same = rollups.rollup_hourly(ids) == recount
    total = sum(row[4] for row in recount)
    print(f"rollups equal a full recount of {total} deliveries: {'yes' if same else 'NO'} "
          f"(the recount took {recount_s * 1000:.0f} ms)")  # fmt: skip
    if not same:
        fail("the rollups differ from the recount")


def time_requests(port: int, path: str, key: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}"}
    times = []
    try:
        for n in range(count + 20):
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                fail(f"{path}: {response.status} {body[:200]!r}")
            if n >= 20:  # warm-up
                times.append(elapsed)
    finally:
        conn.close()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered), math.ceil(p / 100 * len(ordered))) - 1]  # nearest rank

    return {"p50": statistics.median(ordered), "p90": pct(90), "p99": pct(99), "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500, help="timed requests per endpoint")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a p99 misses the target")
    args = parser.parse_args()
    args.worker_class, args.threads = "gthread", 4

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    parent, children = prepare(args.deliveries, args.rebuild)
    check_rollups(parent, children)
    parent_key, child_key = keys(parent, children)
    today = dt.datetime.now(dt.UTC).date()
    period = f"from={today - dt.timedelta(days=DAYS)}&to={today}&timezone=UTC"
    endpoints = [
        ("messages groupBy=day, 90 days (a sub-account)", f"/api/v1/analytics/messages?groupBy=day&{period}",
         child_key),
        ("messages groupBy=status, 90 days", f"/api/v1/analytics/messages?groupBy=status&{period}", child_key),
        ("usage groupBy=organization, 10 sub-accounts", f"/api/v1/analytics/usage?groupBy=organization&{period}",
         parent_key),
    ]  # fmt: skip
    port = free_port()
    proc = start_gunicorn(port, args)
    results = []
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}/healthz")
        for title, path, key in endpoints:
            times = time_requests(port, path, key, args.requests)
            results.append((title, summary(times)))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", endpoints[2][1], headers={"Authorization": f"Bearer {parent_key}"})
        usage = json.loads(conn.getresponse().read())
        conn.close()
    finally:
        stop_gunicorn(proc)
    print(f"\n{args.deliveries} deliveries over {DAYS} days in {SUBACCOUNTS} sub-accounts; "
          f"{args.requests} sequential requests each, milliseconds")  # fmt: skip
    print(f"{'':<48} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for title, s in results:
        print(f"{title:<48} {s['p50']:>7.1f} {s['p90']:>7.1f} {s['p99']:>7.1f} {s['max']:>7.1f}")
    print(f"usage total: {usage['total']}")
    missed = [title for title, s in results if s["p99"] >= TARGET_P99_MS]
    print(f"target p99 < {TARGET_P99_MS:.0f} ms: {'met' if not missed else 'NOT met: ' + ', '.join(missed)}")
    return 3 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
