"""Latency of the admin console's pages for an organization of 100,000 subscribers and
1,000,000 deliveries (target: every page under 200 ms).

    .venv/bin/python bench/admin_pages.py [--subscribers 100000] [--deliveries 1000000] [--requests 30] [--rebuild]

Data, built once with SQL (generate_series) and kept between runs (`--rebuild` starts over):
the subscribers in two groups, and the deliveries spread over 40 blasts of the last 30 days
(70 % delivered, 18 % sent, 8 % failed over five error codes, 2 % queued, 2 % canceled; every
tenth blast on two channels, the others on one), their
running totals kept by the triggers as in production; stop opt-outs; and a second, small
organization whose ten deliveries are older than all of them; VACUUM ANALYZE after.

Measured in process through Django's test client, logged in as the organization's admin
(sessions, auth, the admin, templates; no HTTP): p50 and p99 over `--requests` of each page,
one after the other. The dashboard is measured twice: with its cached rates per channel (the
normal case: they are kept while the day's totals do not move) and with the cache emptied
before every request (the first visit after a status changed).

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench_admin)
and Redis (REDIS_URL, default redis://127.0.0.1:6379/15).
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/admin_pages.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, redact  # noqa: E402
from bench.dispatch_speed import ensure_audience  # noqa: E402

ORG_NAME = "Connext admin bench org"
ADMIN_EMAIL = "admin-bench@bench.invalid"
SMALL_ORG_NAME = "Connext admin bench small org"  # ten deliveries, older than all the big one's
SMALL_ADMIN_EMAIL = "admin-bench-small@bench.invalid"
BLASTS = 40
TARGET_MS = 200.0

_DELIVERIES_SQL = """
INSERT INTO logs_delivery (message_id, channel, recipient, status, attempts, provider, provider_id, error_code,
                           error_message, digits, clicks, sent_at, delivered_at)
SELECT %(message)s, %(channel)s, '+1415' || lpad(i::text, 7, '0'),
       CASE WHEN b < 70 THEN 'delivered' WHEN b < 88 THEN 'sent' WHEN b < 96 THEN 'failed'
            WHEN b < 98 THEN 'queued' ELSE 'canceled' END,
       1, 'twilio', CASE WHEN b < 96 THEN 'SM' || md5(%(message)s || ':' || i) ELSE '' END,
       CASE WHEN b BETWEEN 88 AND 95 THEN (ARRAY['30003','30005','30006','21610','30007'])[1 + i %% 5] ELSE '' END,
       CASE WHEN b BETWEEN 88 AND 95 THEN (ARRAY['Unreachable destination handset','Unknown destination handset',
            'Landline or unreachable carrier','Attempt to send to unsubscribed recipient',
            'Message filtered'])[1 + i %% 5] ELSE '' END,
       '', CASE WHEN i %% 20 = 0 AND b < 88 THEN 1 ELSE 0 END,
       CASE WHEN b < 88 THEN %(at)s END, CASE WHEN b < 70 THEN %(at)s END
FROM (SELECT i, (hashint8(i::bigint + %(message)s) & 2147483647) %% 100 AS b
      FROM generate_series(1, %(count)s) AS i) AS rows
"""


def fail(message: str, status: int = 1):
    print(f"admin_pages: {message}", file=sys.stderr)
    sys.exit(status)


def prepare(subscribers: int, deliveries: int, rebuild: bool):
    import datetime as dt

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from groups.models import Group
    from logs.models import Delivery, Message
    from subscribers.models import BlocklistEntry, Subscriber

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).first() or organization_create(name=ORG_NAME)
    user = User.objects.filter(email=ADMIN_EMAIL).first() or user_create(
        organization=org, email=ADMIN_EMAIL, role=roles.ORG_ADMIN
    )
    built = (
        Subscriber.objects.filter(organization=org).count() == subscribers
        and Delivery.objects.filter(message__organization=org).count() == deliveries
    )
    if rebuild or not built:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for table in ("logs_delivery", "logs_messagecount"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE message_id IN (SELECT id FROM logs_message WHERE organization_id = %s)",
                    [org.pk],
                )
            cursor.execute("DELETE FROM logs_message WHERE organization_id = %s", [org.pk])
            cursor.execute(
                "DELETE FROM subscribers_subscriber_groups WHERE subscriber_id IN "
                "(SELECT id FROM subscribers_subscriber WHERE organization_id = %s)",
                [org.pk],
            )
            cursor.execute("DELETE FROM subscribers_subscriber WHERE organization_id = %s", [org.pk])
            BlocklistEntry.objects.filter(organization=org).delete()
            Group.objects.filter(organization=org).delete()
            ensure_audience(org.pk, subscribers)  # group 1, everyone: dispatch_speed's audience
            tenth = Group.objects.create(organization=org, number=2, name="Every tenth")
            cursor.execute(
                "INSERT INTO subscribers_subscriber_groups (subscriber_id, group_id) "
                "SELECT id, %s FROM subscribers_subscriber WHERE organization_id = %s AND id %% 10 = 0",
                [tenth.pk, org.pk],
            )
            small = Organization.objects.filter(name=SMALL_ORG_NAME).first() or organization_create(name=SMALL_ORG_NAME)
            small_admin = User.objects.filter(email=SMALL_ADMIN_EMAIL).first() or user_create(
                organization=small, email=SMALL_ADMIN_EMAIL, role=roles.ORG_ADMIN
            )
            Message.objects.filter(organization=small).delete()
            first = Message.objects.create(organization=small, user=small_admin, types=["sms"], recipients=10,
                                           message="small", fanned_out_at=timezone.now())  # fmt: skip
            cursor.execute(_DELIVERIES_SQL, {"message": first.pk, "channel": "sms", "count": 10, "at": timezone.now()})
            now = timezone.now()
            per_blast = deliveries // BLASTS
            for n in range(BLASTS):
                at = now - dt.timedelta(days=29 * n / (BLASTS - 1), minutes=5)
                # Most blasts on one channel; every tenth on two (sms and email: its rates group deliveries).
                channels = ["sms", "email"] if n % 10 == 5 else ["email"] if n % 4 == 3 else ["sms"]
                count = per_blast if n < BLASTS - 1 else deliveries - per_blast * (BLASTS - 1)
                message = Message.objects.create(
                    organization=org, user=user, types=channels, recipients=count, message=f"bench blast {n}",
                    group_numbers=[1], fanned_out_at=at,
                )  # fmt: skip
                Message.objects.filter(pk=message.pk).update(created_at=at)
                for channel in channels:
                    share = count // len(channels)
                    cursor.execute(
                        _DELIVERIES_SQL, {"message": message.pk, "channel": channel, "count": share, "at": at}
                    )
            cursor.execute(
                "INSERT INTO subscribers_blocklistentry (organization_id, recipient, type, reason, manual, created_at) "
                "SELECT %s, '+1415' || lpad(i::text, 7, '0'), 'phone', 'stop', false, "
                "now() - (i %% 30) * interval '1 day' FROM generate_series(1, 3000) AS i",
                [org.pk],
            )
        with connection.cursor() as cursor:
            for table in ("logs_delivery", "logs_messagecount", "logs_message", "subscribers_subscriber",
                          "subscribers_subscriber_groups", "subscribers_blocklistentry"):  # fmt: skip
                cursor.execute(f"VACUUM ANALYZE {table}")
        print(
            f"built {subscribers:,} subscribers and {deliveries:,} deliveries in {time.perf_counter() - started:.1f} s"
        )
    biggest = Message.objects.filter(organization=org).order_by("-recipients", "-id").first()
    return user, biggest, User.objects.get(email=SMALL_ADMIN_EMAIL)


def time_page(client, path: str, requests: int) -> tuple[float, float, float]:
    """(mean, p50, p99) in ms of `requests` GETs one after the other (after 3 warm-up ones)."""
    for _ in range(3):
        response = client.get(path)
        if response.status_code != 200:
            fail(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.fmean(times), times[len(times) // 2], times[min(len(times) - 1, math.ceil(len(times) * 0.99) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_bench_admin")
    database_url, redis_url = configure_environment()
    print(f"DATABASE_URL={redact(database_url)}  REDIS_URL={redact(redis_url)}")
    check_redis(redis_url)
    ensure_database(database_url)
    user, biggest, small_admin = prepare(args.subscribers, args.deliveries, args.rebuild)

    from django.test import Client, override_settings

    client = Client(HTTP_HOST="localhost")  # one of the default ALLOWED_HOSTS
    client.force_login(user)
    pages = [
        ("dashboard (/admin/)", "/admin/", None),
        ("dashboard, rates not cached", "/admin/", "uncached"),
        ("blasts list", "/admin/logs/message/", None),
        ("a blast's page (25,000 deliveries)", f"/admin/logs/message/{biggest.pk}/change/", None),
        ("its failed deliveries", f"/admin/logs/delivery/?message__id__exact={biggest.pk}&status__exact=failed", None),
        ("its clicked deliveries", f"/admin/logs/delivery/?message__id__exact={biggest.pk}&clicked=1", None),
        ("all deliveries", "/admin/logs/delivery/", None),
        ("subscribers list", "/admin/subscribers/subscriber/", None),
        ("subscribers, group 2", "/admin/subscribers/subscriber/?group=" + str(_group_id(user, 2)), None),
        ("subscribers, search a phone", "/admin/subscribers/subscriber/?q=4150012345", None),
        ("compose", "/admin/compose/", None),
        ("import form", "/admin/subscribers/subscriber/import/", None),
        ("import jobs", "/admin/subscribers/importjob/", None),
        ("blocklist", "/admin/subscribers/blocklistentry/", None),
    ]
    print(f"\n{args.subscribers:,} subscribers, {args.deliveries:,} deliveries; {args.requests} requests a page, "
          "one at a time, in process (ms)")  # fmt: skip
    print(f"{'page':<40} {'mean':>7} {'p50':>7} {'p99':>7}")
    worst = 0.0
    for label, path, variant in pages:
        if variant == "uncached":
            with override_settings(DASHBOARD_CACHE_SECONDS=0):  # every rate read anew
                mean, p50, p99 = time_page(client, path, args.requests)
        else:
            mean, p50, p99 = time_page(client, path, args.requests)
            worst = max(worst, p50)
        print(f"{label:<40} {mean:7.1f} {p50:7.1f} {p99:7.1f}")
    other = Client(HTTP_HOST="localhost")
    other.force_login(small_admin)
    for label, path in (
        ("small org: its deliveries (10)", "/admin/logs/delivery/"),
        ("small org: dashboard", "/admin/"),
    ):
        mean, p50, p99 = time_page(other, path, args.requests)
        worst = max(worst, p50)
        print(f"{label:<40} {mean:7.1f} {p50:7.1f} {p99:7.1f}")
    met = "met" if worst < TARGET_MS else "NOT met"
    print(f"\ntarget: every page under {TARGET_MS:.0f} ms (p50; the dashboard with its rates cached): {met}")
    return 0


def _group_id(user, number: int) -> int:
    from groups.models import Group

    return Group.objects.get(organization=user.organization, number=number).pk


if __name__ == "__main__":
    sys.exit(main())
