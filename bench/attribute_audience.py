"""Custom attributes at scale: a fan-out whose audience is chosen by one attribute against the same
fan-out chosen by a group, and `GET /subscribers?attr.NAME=value` on 100,000 subscribers.

    .venv/bin/python bench/attribute_audience.py [--subscribers 100000] [--rounds 5] [--requests 200]
                                                 [--explain] [--rebuild]

Data, built once with SQL and kept between runs (`--rebuild` starts over): one organization of
`--subscribers` subscribers with a phone, `text` on, each with attributes `TIER` (`gold` for all
but 1 in 50, which are `silver`), `COLOR` (one of ten) and `VIP` (a boolean, 1 in 10 true), and
group 1 holding exactly the `gold` ones. So a blast to group 1 and a blast with
`where: {"attr.TIER": "gold"}` reach the same ~98,000 subscribers.

Each round, the tables vacuumed before each timing: `blasts.fanout.fanout` of a new SMS message
to group 1, then of one to `where: {"attr.TIER": "gold"}` (no groups), each timed from the call
to its return (row lock, audience, the INSERT ... SELECT ... ON CONFLICT DO NOTHING, commit, the
dispatch wake-ups, which go to a queue no worker reads); the deliveries are deleted after each.
Reported: medians, and the median of the per-round ratios attribute / group (target <= 1.5).

Then `GET /api/v1/subscribers?attr.COLOR=RED` (10 % of the organization), `?attr.VIP=true` and
`?attr.TIER=gold` (98 %), `--requests` one after the other through Django's WSGI handler in
process (API-key auth, rate limit, the filter, the page, X-Total-Count): p50 / p99 (target p99 <
50 ms). `--explain` prints the plans of the list's queries and of the fan-out's INSERT.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench, created
when missing, migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15).
"""

import argparse
import math
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/attribute_audience.py`
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail  # noqa: E402
from bench.fanout_speed import vacuum  # noqa: E402

ORG_NAME = "Connext attribute bench org"
TARGET_RATIO = 1.5
TARGET_P99_MS = 50.0
COLORS = ("RED", "BLUE", "GREEN", "BLACK", "WHITE", "PINK", "GREY", "GOLD", "TEAL", "NAVY")

_SUBSCRIBERS_SQL = """
INSERT INTO subscribers_subscriber
    (organization_id, first, last, phone, email, address, city, state, zip, enabled, text, whatsapp, attributes,
     created_at, updated_at)
SELECT %(org)s, 'First' || i, 'Last' || i,
       '+1' || (201 + i %% 700)::text || (2000000 + (i::bigint * 7919) %% 8000000)::text,
       '', '', '', '', '', TRUE, TRUE, FALSE,
       jsonb_build_object('TIER', CASE WHEN i %% 50 = 0 THEN 'silver' ELSE 'gold' END,
                          'COLOR', (%(colors)s::text[])[1 + i %% 10], 'VIP', i %% 10 = 0),
       now(), now()
FROM generate_series(1, %(count)s) AS i
"""
_MEMBERSHIPS_SQL = """
INSERT INTO subscribers_subscriber_groups (subscriber_id, group_id)
SELECT s.id, %(group)s FROM subscribers_subscriber s
WHERE s.organization_id = %(org)s AND s.attributes @> '{"TIER": "gold"}'
"""


def prepare(count: int, rebuild: bool):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from apikeys.services import api_key_create
    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from groups.models import Group
    from logs.models import Message
    from subscribers import attributes
    from subscribers.models import Subscriber

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or organization_create(name=ORG_NAME)
    org.rate_limit = 1_000_000
    org.save(update_fields=["rate_limit"])
    email = "bench-attributes@bench.invalid"
    user = User.objects.filter(email=email).first() or user_create(organization=org, email=email, role=roles.ORG_ADMIN)
    Message.objects.filter(organization=org).delete()
    if rebuild or Subscriber.objects.filter(organization=org).count() != count:
        started = time.perf_counter()
        with transaction.atomic():
            Subscriber.groups.through.objects.filter(subscriber__organization=org).delete()
            Subscriber.objects.filter(organization=org).delete()
            Group.objects.filter(organization=org).delete()
            group = Group.objects.create(organization=org, name="Gold", number=1)
            with connection.cursor() as cursor:
                cursor.execute(_SUBSCRIBERS_SQL, {"org": org.pk, "count": count, "colors": list(COLORS)})
                cursor.execute(_MEMBERSHIPS_SQL, {"org": org.pk, "group": group.pk})
            attributes.remember(org.pk, ["TIER", "COLOR", "VIP"])
        vacuum("subscribers_subscriber", "subscribers_subscriber_groups")
        print(f"built {count} subscribers in {time.perf_counter() - started:.1f} s")
    _, key = api_key_create(user=user, name=f"bench-{uuid.uuid4().hex[:6]}")
    return org, user, key


def new_message(org, user, **audience) -> int:
    from logs.models import Message

    # As blasts.compose writes it: a blast given no groups is not limited to any (then `where` is).
    fields = {"group_numbers": [], "where": {}, "everyone": not audience.get("group_numbers"), **audience}
    return Message.objects.create(organization=org, user=user, types=["sms"], message="Hi {first|there}", **fields).pk


def time_fanout(org, user, **audience) -> tuple[float, int]:
    from blasts.fanout import fanout
    from logs.models import Delivery, Message

    message_id = new_message(org, user, **audience)
    vacuum("logs_delivery", "logs_message")
    started = time.perf_counter()
    created = fanout(message_id)
    elapsed = time.perf_counter() - started
    Delivery.objects.filter(message_id=message_id).delete()
    Message.objects.filter(pk=message_id).delete()
    return elapsed, created


def explain(org) -> None:
    from django.db import connection, transaction

    from blasts.audience import audience_of_message, channel_where, plan_for
    from logs.models import Message

    plan = plan_for(["sms"], has_media=False, voice_fallback=False)
    for label, audience in (("group 1", {"group_numbers": [1]}), ("attr.TIER=gold", {"where": {"attr.TIER": "gold"}})):
        message = Message(organization=org, types=["sms"], **{"group_numbers": [], "where": {}, **audience})
        _, where, params = channel_where(audience_of_message(message), "sms", plan)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) SELECT s.id FROM subscribers_subscriber s WHERE {where}", params
            )
            print(f"\n--- fan-out SELECT, {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))
    for color in ("RED",):
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM subscribers_subscriber "
                "WHERE organization_id = %s AND attributes @> %s::jsonb",
                [org.pk, f'{{"COLOR": "{color}"}}'],
            )
            print(f"\n--- list count, attr.COLOR={color}\n" + "\n".join(row[0] for row in cursor.fetchall()))


def time_list(key: str, query: dict, requests: int) -> tuple[float, float]:
    from bench.profile_groups import time_requests

    times = time_requests("/api/v1/subscribers", urlencode(query), {"Authorization": f"Bearer {key}"}, requests, fail)
    return times[len(times) // 2], times[min(len(times) - 1, math.ceil(len(times) * 0.99) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="fan-out rounds; medians reported (default 5)")
    parser.add_argument("--requests", type=int, default=200, help="list requests per filter (default 200; 0: skip)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    org, user, key = prepare(args.subscribers, args.rebuild)

    from connext import celery_app

    queue = f"bench-attributes-{uuid.uuid4().hex[:8]}"  # the dispatch wake-ups: nobody reads them
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    if args.explain:
        explain(org)

    by_group, by_attribute = [], []
    try:
        for round_ in range(1, args.rounds + 1):
            vacuum("subscribers_subscriber", "subscribers_subscriber_groups")
            by_group.append(time_fanout(org, user, group_numbers=[1]))
            by_attribute.append(time_fanout(org, user, where={"attr.TIER": "gold"}))
            if by_group[-1][1] != by_attribute[-1][1]:
                fail(f"group made {by_group[-1][1]} deliveries, the attribute {by_attribute[-1][1]}")
            print(f"round {round_}: group {by_group[-1][0]:.3f} s, attribute {by_attribute[-1][0]:.3f} s "
                  f"({by_group[-1][1]} rows, ratio {by_attribute[-1][0] / by_group[-1][0]:.2f})")  # fmt: skip
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue)
        client.close()

    group_s = statistics.median(s for s, _ in by_group)
    attribute_s = statistics.median(s for s, _ in by_attribute)
    ratio = statistics.median(a / g for (a, _), (g, _) in zip(by_attribute, by_group, strict=True))
    print(f"\nfan-out of {by_group[0][1]} deliveries, medians of {args.rounds} rounds: by group {group_s:.3f} s, "
          f"by attribute {attribute_s:.3f} s")  # fmt: skip
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"median per-round ratio attribute / group: {ratio:.2f} (target <= {TARGET_RATIO}: {verdict})")

    if args.requests:
        print(f"\nGET /api/v1/subscribers on {args.subscribers} subscribers, {args.requests} requests each, in process")
        for query, share in (({"attr.COLOR": "RED"}, "10 %"), ({"attr.VIP": "true"}, "10 %"),
                             ({"attr.TIER": "gold"}, "98 %")):  # fmt: skip
            p50, p99 = time_list(key, query, args.requests)
            verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
            print(f"  {urlencode(query):<18} ({share} match) p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                  f"(target p99 < {TARGET_P99_MS:.0f} ms: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
