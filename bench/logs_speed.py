"""Latency of `GET /api/v1/logs/{id}/stats` and `GET /api/v1/logs/{id}?status=failed&limit=100` on a
message with 1,000,000 deliveries (target: p99 under 100 ms).

    .venv/bin/python bench/logs_speed.py [--deliveries 1000000] [--requests 200] [--rebuild] [--explain]

Data, built once with SQL (generate_series) and kept between runs (`--rebuild` starts
over): one message of `--deliveries` deliveries, 70 % delivered, 18 % sent, 8 % failed
over five error codes, 2 % queued, 2 % canceled; one in twenty clicked; plus a second
message of 100,000 so the indexes hold rows the filter must skip. VACUUM ANALYZE after.

Measured in process, one request after the other through Django's WSGI handler
(middleware, API-key auth, rate limit, view, serializer; no HTTP): the server's own
time per request, p50 and p99 over `--requests`. `--explain` prints the plans.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench)
and Redis (REDIS_URL, default redis://127.0.0.1:6379/15).
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/logs_speed.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, redact  # noqa: E402

ORG_NAME = "Connext logs bench org"
ADMIN_EMAIL = "logs-bench-admin@bench.invalid"
KEY_NAME = "bench logs_speed"
TARGET_P99_MS = 100.0

_DELIVERIES_SQL = """
INSERT INTO logs_delivery (message_id, channel, recipient, status, attempts, provider, provider_id, error_code,
                           error_message, digits, clicks, sent_at, delivered_at)
SELECT %(message)s, 'sms', '+1202' || lpad(i::text, 7, '0'),
       CASE WHEN b < 70 THEN 'delivered' WHEN b < 88 THEN 'sent' WHEN b < 96 THEN 'failed'
            WHEN b < 98 THEN 'queued' ELSE 'canceled' END,
       1, 'twilio', CASE WHEN b < 96 THEN 'SM' || md5(i::text) ELSE '' END,
       CASE WHEN b BETWEEN 88 AND 95 THEN (ARRAY['30003','30005','30006','21610','30007'])[1 + i %% 5] ELSE '' END,
       CASE WHEN b BETWEEN 88 AND 95 THEN (ARRAY['Unreachable destination handset','Unknown destination handset',
            'Landline or unreachable carrier','Attempt to send to unsubscribed recipient',
            'Message filtered'])[1 + i %% 5] ELSE '' END,
       '', CASE WHEN i %% 20 = 0 AND b < 88 THEN 1 + i %% 3 ELSE 0 END,
       CASE WHEN b < 88 THEN now() END, CASE WHEN b < 70 THEN now() END
FROM (SELECT i, (hashint8(i::bigint) & 2147483647) %% 100 AS b FROM generate_series(1, %(count)s) AS i) AS rows
"""


def fail(message: str, status: int = 1):
    print(f"logs_speed: {message}", file=sys.stderr)
    sys.exit(status)


def prepare(count: int, rebuild: bool) -> tuple[str, int]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from apikeys.models import APIKey
    from apikeys.services import api_key_create
    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from logs.models import Delivery, Message

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).first() or organization_create(name=ORG_NAME)
    Organization.objects.filter(pk=org.pk).update(rate_limit=1_000_000_000)
    user = User.objects.filter(email=ADMIN_EMAIL).first() or user_create(
        organization=org, email=ADMIN_EMAIL, role=roles.ORG_ADMIN
    )
    message = Message.objects.filter(organization=org, message="bench big").first()
    if rebuild or message is None or Delivery.objects.filter(message=message).count() != count:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM logs_delivery WHERE message_id IN "
                "(SELECT id FROM logs_message WHERE organization_id = %s)",
                [org.pk],
            )
            cursor.execute(
                "DELETE FROM logs_messagecount WHERE message_id IN "
                "(SELECT id FROM logs_message WHERE organization_id = %s)",
                [org.pk],
            )
            cursor.execute("DELETE FROM logs_message WHERE organization_id = %s", [org.pk])
            now = timezone.now()
            message = Message.objects.create(organization=org, user=user, types=["sms"], message="bench big",
                                             recipients=count, fanned_out_at=now)  # fmt: skip
            other = Message.objects.create(organization=org, user=user, types=["sms"], message="bench other",
                                           recipients=100_000, fanned_out_at=now)  # fmt: skip
            cursor.execute(_DELIVERIES_SQL, {"message": message.pk, "count": count})
            cursor.execute(_DELIVERIES_SQL, {"message": other.pk, "count": 100_000})
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE logs_delivery")
        print(f"built {count:,} deliveries in {time.perf_counter() - started:.1f} s")
    APIKey.objects.filter(user=user, name=KEY_NAME).delete()
    _, plaintext = api_key_create(user=user, name=KEY_NAME)
    return plaintext, message.pk


def explain(message_id: int) -> None:
    from django.db import connection

    from logs import selectors
    from logs.models import Message

    message = Message.objects.get(pk=message_id)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        selectors.message_stats(message)
        list(selectors.delivery_queryset(message, status="failed")[:100])
        selectors.delivery_queryset(message, status="failed").count()
    queries = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print("\n".join(row[0] for row in cursor.fetchall()), end="\n\n")


def time_path(api_key: str, path: str, query: str, requests: int) -> tuple[float, float, float]:
    """(mean, p50, p99) in ms of `requests` requests one at a time, in process."""
    from bench.profile_groups import time_requests

    times = time_requests(path, query, {"Authorization": f"Bearer {api_key}"}, requests, fail)
    return statistics.fmean(times), times[len(times) // 2], times[min(len(times) - 1, math.ceil(len(times) * 0.99) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    database_url, redis_url = configure_environment()
    print(f"DATABASE_URL={redact(database_url)}  REDIS_URL={redact(redis_url)}")
    check_redis(redis_url)
    ensure_database(database_url)
    api_key, message_id = prepare(args.deliveries, args.rebuild)
    if args.explain:
        explain(message_id)
    print(f"\n{args.deliveries:,} deliveries, {args.requests} requests one at a time, in process (ms)")
    print(f"{'request':<52} {'mean':>7} {'p50':>7} {'p99':>7}")
    worst = 0.0
    for path, query in (
        (f"/api/v1/logs/{message_id}/stats", ""),
        (f"/api/v1/logs/{message_id}", "status=failed&limit=100"),
        (f"/api/v1/logs/{message_id}", "limit=100"),
    ):
        mean, p50, p99 = time_path(api_key, path, query, args.requests)
        worst = max(worst, p99) if "stats" in path or "failed" in query else worst
        label = "GET " + path.replace(f"/logs/{message_id}", "/logs/{id}") + (f"?{query}" if query else "")
        print(f"{label:<52} {mean:7.1f} {p50:7.1f} {p99:7.1f}")
    met = worst < TARGET_P99_MS
    print(f"\ntarget p99 < {TARGET_P99_MS:.0f} ms for stats and status=failed: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
