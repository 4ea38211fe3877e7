"""Fan-out speed: a blast to an organization of 100,000 subscribers expanded into deliveries by
`blasts.fanout.fanout`, against a bare `INSERT ... SELECT` of the same rows in the same run.

    .venv/bin/python bench/fanout_speed.py [--subscribers 100000] [--rounds 5] [--explain] [--rebuild]

Data, built once with SQL (generate_series, a few seconds) and kept between runs
(`--rebuild` starts over): one organization of `--subscribers` subscribers with a phone and
an email, `text` on, all in group 1; for realism 2 % disabled, 5 % not taking texts, ~3 % of
phones on the blocklist and ~2.5 % in group 2, the blast's do-not-contact group. About 87 %
of them are reachable by SMS.

Each round, in this order, the tables vacuumed before each timing:

* bare, no index: `INSERT INTO scratch SELECT ...` of the rows the fan-out makes (the
  audience's WHERE clause from `blasts.audience.channel_where`, the same columns and
  values) into a table of logs_delivery's columns without any index. For information.
* bare: the same statement into a fresh `LIKE logs_delivery INCLUDING ALL` table: the
  same primary key, unique constraint and indexes as logs_delivery (no foreign key:
  LIKE copies none). This is the baseline of the ratio.
* fanout: `blasts.fanout.fanout(message_id)` on a new Message (group 1, dnc group 2,
  sms), called in this process, timed from the call to its return: the row lock on the
  message, the group lookups, the INSERT ... SELECT ... ON CONFLICT DO NOTHING into
  logs_delivery, the message update, the commit and the enqueueing of its dispatch tasks.
  Those tasks go to a throwaway Celery queue no worker consumes, deleted afterwards; the
  message's deliveries are deleted after the round.

With `--metering`, each round also times the fan-out twice more, back to back: without
metering (the organization not billed and the analytics rollup trigger disabled: what the
fan-out was before credits and rollups) and with it (billed, with credits: the Charge rows, the
one debit under the balance's lock, the rollup trigger), in alternating order. Reported: the
median of the per-round ratios metered / unmetered (target: at most 1.10), and, steadier on a
loaded machine, metering's own cost: the rollup trigger's time in EXPLAIN ANALYZE of the
fan-out's INSERT plus the median time of the Charge rows and the debit, as a share of the INSERT.

Reported: seconds and rows/s of each, medians over the rounds, and the ratio
fanout / bare (target: within 2x), also as the median of the per-round ratios (each round
times the two back to back, so that one moves less with the load of a shared machine).
`--explain` prints EXPLAIN (ANALYZE, BUFFERS) of the fan-out's INSERT and of the bare one
(each in a transaction rolled back; constraints set IMMEDIATE so that the per-row checks of
the deferred foreign key to logs_message, which the fan-out pays at its COMMIT, show up as
"Trigger for constraint ...").

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench,
created when missing, migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15) for
the Celery broker. Exit status: 0, 1 on a setup error, 3 with `--strict` when the ratio misses.
"""

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/fanout_speed.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail  # noqa: E402

ORG_NAME = "Connext fanout bench org"
TARGET_RATIO = 2.0
SCRATCH = "bench_fanout_scratch"

# One subscriber per row number i (1-based); every run sees the same data.
_SUBSCRIBERS_SQL = """
INSERT INTO subscribers_subscriber
    (organization_id, first, last, phone, email, address, city, state, zip, enabled, text, created_at, updated_at)
SELECT %(org)s, 'First' || i, 'Last' || i,
       '+1' || (201 + i %% 700)::text || (2000000 + (i::bigint * 7919) %% 8000000)::text,
       'first' || i || '.last' || i || '@example' || (i %% 40) || '.com',
       i || ' Main Street', 'Springfield', 'IL', '627' || lpad((i %% 100)::text, 2, '0'),
       i %% 50 <> 0, i %% 20 <> 0, now(), now()
FROM generate_series(1, %(count)s) AS i
"""
_MEMBERSHIPS_SQL = """
INSERT INTO subscribers_subscriber_groups (subscriber_id, group_id)
SELECT s.id, %(group1)s FROM subscribers_subscriber s WHERE s.organization_id = %(org)s
UNION ALL
SELECT s.id, %(group2)s FROM subscribers_subscriber s WHERE s.organization_id = %(org)s AND s.id %% 41 = 0
"""
_BLOCKLIST_SQL = """
INSERT INTO subscribers_blocklistentry (organization_id, recipient, type, reason, created_at)
SELECT organization_id, phone, 'phone', 'stop', now()
FROM subscribers_subscriber WHERE organization_id = %(org)s AND id %% 31 = 0
"""


@dataclass
class Fixture:
    org_id: int
    user_id: int
    reachable: int  # SMS deliveries a blast to group 1 minus group 2 makes


def vacuum(*tables: str) -> None:
    import psycopg
    from django.db import connection

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM ANALYZE {table}")


def prepare(count: int, rebuild: bool) -> Fixture:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from groups.models import Group
    from logs.models import Message
    from subscribers.models import BlocklistEntry, Subscriber

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or organization_create(name=ORG_NAME)
    email = "bench-fanout@bench.invalid"
    user = User.objects.filter(email=email).first() or user_create(organization=org, email=email, role=roles.ORG_ADMIN)
    # Leftovers of an interrupted run: their deliveries would collide with nothing, but weigh on the table.
    Message.objects.filter(organization=org).delete()
    if rebuild or Subscriber.objects.filter(organization=org).count() != count:
        started = time.perf_counter()
        with transaction.atomic():
            BlocklistEntry.objects.filter(organization=org).delete()
            Subscriber.groups.through.objects.filter(subscriber__organization=org).delete()
            Subscriber.objects.filter(organization=org).delete()
            Group.objects.filter(organization=org).delete()
            g1 = Group.objects.create(organization=org, name="Everyone", number=1)
            g2 = Group.objects.create(organization=org, name="Do not contact", number=2)
            with connection.cursor() as cursor:
                cursor.execute(_SUBSCRIBERS_SQL, {"org": org.pk, "count": count})
                cursor.execute(_MEMBERSHIPS_SQL, {"org": org.pk, "group1": g1.pk, "group2": g2.pk})
                cursor.execute(_BLOCKLIST_SQL, {"org": org.pk})
        vacuum("subscribers_subscriber", "subscribers_subscriber_groups", "subscribers_blocklistentry")
        print(f"built {count} subscribers in {time.perf_counter() - started:.1f} s")
    audience, plan = audience_and_plan(org.pk)
    reachable = _count(audience, plan)
    return Fixture(org_id=org.pk, user_id=user.pk, reachable=reachable)


def audience_and_plan(org_id: int):
    from blasts.audience import Audience, plan_for
    from groups.models import Group

    ids = dict(Group.objects.filter(organization_id=org_id, number__in=[1, 2]).values_list("number", "id"))
    return Audience(org_id, (ids[1],), (ids[2],)), plan_for(["sms"], has_media=False, voice_fallback=False)


def _count(audience, plan) -> int:
    from blasts.compose import count_recipients

    return count_recipients(audience, plan)["sms"]


def select_sql(message_id: int, audience, plan) -> tuple[str, list]:
    """The SELECT of the fan-out's INSERT (fanout.fanout), for the sms channel."""
    from blasts.audience import channel_where

    column, where, params = channel_where(audience, "sms", plan)
    sql = (
        f"SELECT %s, s.id, %s, s.{column}, 'queued', 0, '', '', '', '', '', 0 "
        f"FROM subscribers_subscriber s WHERE {where}"
    )
    return sql, [message_id, "sms", *params]


def new_message(fixture: Fixture) -> int:
    from logs.models import Message

    message = Message.objects.create(
        organization_id=fixture.org_id,
        user_id=fixture.user_id,
        types=["sms"],
        message="Hello {first|there}, the meeting moved to 3pm.",
        group_numbers=[1],
        dnc_numbers=[2],
    )
    return message.pk


def time_bare(fixture: Fixture, *, indexes: bool) -> tuple[float, int]:
    """A single INSERT ... SELECT of the fan-out's rows into a fresh scratch table, committed."""
    import psycopg
    from django.db import connection

    from blasts.fanout import INSERT_COLUMNS

    audience, plan = audience_and_plan(fixture.org_id)
    sql, params = select_sql(0, audience, plan)
    # Without indexes: the columns, their defaults, identity and CHECK constraints; no primary key.
    like = "INCLUDING ALL" if indexes else "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
    with psycopg.connect(**connection.get_connection_params()) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH} (LIKE logs_delivery {like})")
        conn.commit()
        start = time.perf_counter()
        # Django's %s placeholders work with psycopg's client-side parameters as well.
        rows = conn.execute(f"INSERT INTO {SCRATCH} ({INSERT_COLUMNS}) {sql}", params).rowcount
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute(f"DROP TABLE {SCRATCH}")
        conn.commit()
    return elapsed, rows


def time_fanout(fixture: Fixture) -> tuple[float, int, int]:
    """fanout.fanout on a new message; returns seconds, rows made, the message id."""
    from django.db import reset_queries

    from blasts.fanout import fanout

    message_id = new_message(fixture)
    vacuum("logs_delivery", "logs_message")
    reset_queries()
    start = time.perf_counter()
    created = fanout(message_id)
    elapsed = time.perf_counter() - start
    return elapsed, created, message_id


def set_metering(fixture: Fixture, on: bool) -> None:
    """Bill the bench organization (with plenty of credits) and keep the rollups, or neither."""
    from django.db import connection

    from accounts import credits
    from connext.models import Organization

    Organization.objects.filter(pk=fixture.org_id).update(billed=on)
    if on and credits.balance_of(fixture.org_id) < 1_000_000:
        credits.topup(organization=Organization.objects.get(pk=fixture.org_id), amount=10_000_000, note="bench")
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE logs_delivery {'ENABLE' if on else 'DISABLE'} TRIGGER analytics_delivery_usage_insert"
        )


def metering_parts(fixture: Fixture, repeats: int = 20) -> tuple[float, float, float]:
    """What metering adds, measured where the load of a shared machine moves it least: the rollup
    trigger's own time in EXPLAIN ANALYZE of the fan-out INSERT, and the median time of the
    fan-out's metering calls (Charge rows, then the debit under the balance's lock), each in a
    transaction rolled back. Returns (trigger ms, INSERT ms, charge + debit ms)."""
    import re

    from django.db import connection, transaction

    from accounts import metering
    from blasts.compose import unit_prices
    from blasts.fanout import INSERT_COLUMNS
    from logs.models import Message

    set_metering(fixture, True)
    audience, plan = audience_and_plan(fixture.org_id)
    message_id = new_message(fixture)
    try:
        sql, params = select_sql(message_id, audience, plan)
        vacuum("logs_delivery")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"EXPLAIN (ANALYZE) INSERT INTO logs_delivery ({INSERT_COLUMNS}) {sql} "
                "ON CONFLICT (message_id, channel, recipient) DO NOTHING",
                params,
            )
            text = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
        trigger_ms = float(re.search(r"Trigger analytics_delivery_usage_insert: time=([0-9.]+)", text)[1])
        insert_ms = float(re.search(r"Execution Time: ([0-9.]+)", text)[1])
        message = Message.objects.select_related("organization").get(pk=message_id)
        times = []
        for _ in range(repeats):
            with transaction.atomic():
                start = time.perf_counter()
                prices = unit_prices(message.message, plan.channels)
                payer = metering.price(message, prices)
                assert metering.reserve(message, payer, prices, {"sms": fixture.reachable})
                times.append((time.perf_counter() - start) * 1000)
                transaction.set_rollback(True)
    finally:
        drop_message(message_id)
    return trigger_ms, insert_ms, statistics.median(times)


def drop_message(message_id: int) -> None:
    from logs.models import Delivery, Message

    Delivery.objects.filter(message_id=message_id).delete()
    Message.objects.filter(pk=message_id).delete()


def explain(fixture: Fixture) -> None:
    from django.db import connection, transaction

    from blasts.fanout import INSERT_COLUMNS

    audience, plan = audience_and_plan(fixture.org_id)
    message_id = new_message(fixture)
    try:
        sql, params = select_sql(message_id, audience, plan)
        statements = [
            (
                "fan-out INSERT (fanout.fanout)",
                f"INSERT INTO logs_delivery ({INSERT_COLUMNS}) {sql} "
                "ON CONFLICT (message_id, channel, recipient) DO NOTHING",
            ),
            ("bare INSERT, table LIKE logs_delivery INCLUDING ALL", f"INSERT INTO {SCRATCH} ({INSERT_COLUMNS}) {sql}"),
        ]
        for title, statement in statements:
            vacuum("logs_delivery")
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            with transaction.atomic(), connection.cursor() as cursor:
                # A real table (a temp one is not WAL-logged), gone with the rollback.
                cursor.execute(f"CREATE TABLE {SCRATCH} (LIKE logs_delivery INCLUDING ALL)")
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) {statement}", params)
                plan_text = "\n".join(row[0] for row in cursor.fetchall())
                transaction.set_rollback(True)
            print(f"\n--- {title}\n{plan_text}")
    finally:
        drop_message(message_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000, help="subscribers in the organization")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians reported (default 5)")
    parser.add_argument("--rebuild", action="store_true", help="build the organization's data again")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the fan-out INSERT")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio misses the target")
    parser.add_argument("--metering", action="store_true", help="also time the fan-out with and without metering")
    args = parser.parse_args()

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    fixture = prepare(args.subscribers, args.rebuild)

    from connext import celery_app

    # The dispatch tasks fanout enqueues after its commit go to a queue nobody consumes.
    queue = f"bench-fanout-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    print(f"{args.subscribers} subscribers, {fixture.reachable} reachable by SMS; dispatch tasks go to {queue!r}")

    if args.explain:
        explain(fixture)
        print()

    bare_noindex, bare, runs, metered = [], [], [], []
    try:
        for round_ in range(1, args.rounds + 1):
            if args.metering:
                timed = {}
                for on in (False, True) if round_ % 2 else (True, False):  # each first in every other round
                    set_metering(fixture, on)
                    elapsed, created, message_id = time_fanout(fixture)
                    drop_message(message_id)
                    timed[on] = elapsed
                timed = (timed[False], timed[True])
                metered.append(timed)
                print(f"round {round_}: fanout without metering {timed[0]:.3f} s, with {timed[1]:.3f} s "
                      f"(ratio {timed[1] / timed[0]:.2f})")  # fmt: skip
            set_metering(fixture, True)  # the fan-out as it runs now
            vacuum("subscribers_subscriber", "subscribers_subscriber_groups")
            bare_noindex.append(time_bare(fixture, indexes=False))
            bare.append(time_bare(fixture, indexes=True))
            elapsed, created, message_id = time_fanout(fixture)
            runs.append((elapsed, created))
            drop_message(message_id)
            for label, (_, rows) in (("bare, no index", bare_noindex[-1]), ("bare", bare[-1])):
                if rows != created:
                    fail(f"{label} inserted {rows} rows, fanout {created}")
            print(f"round {round_}: bare, no index {bare_noindex[-1][0]:.3f} s, bare {bare[-1][0]:.3f} s, "
                  f"fanout {elapsed:.3f} s ({created} rows, ratio {elapsed / bare[-1][0]:.2f})")  # fmt: skip
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue)
        client.close()

    rows = runs[0][1]
    noindex_s = statistics.median(s for s, _ in bare_noindex)
    bare_s = statistics.median(s for s, _ in bare)
    fanout_s = statistics.median(s for s, _ in runs)
    ratio = fanout_s / bare_s
    print()
    print(f"medians of {args.rounds} round(s), {rows} deliveries from {args.subscribers} subscribers")
    print(f"{'':<44} {'seconds':>8} {'rows/s':>10}")
    print(f"{'bare INSERT ... SELECT, table without indexes':<44} {noindex_s:>8.3f} {rows / noindex_s:>10.0f}")
    print(f"{'bare INSERT ... SELECT, logs_delivery indexes':<44} {bare_s:>8.3f} {rows / bare_s:>10.0f}")
    print(f"{'fanout.fanout':<44} {fanout_s:>8.3f} {rows / fanout_s:>10.0f}")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio fanout / bare: {ratio:.2f}  (target <= {TARGET_RATIO:.1f}: {verdict})")
    per_round = statistics.median(f / b for (f, _), (b, _) in zip(runs, bare, strict=True))
    print(f"median of the per-round ratios fanout / bare: {per_round:.2f} (less sensitive to the machine's load)")
    print(f"ratio fanout / bare without indexes: {fanout_s / noindex_s:.2f}")
    if args.metering:
        trigger_ms, insert_ms, debit_ms = metering_parts(fixture)
        share = (trigger_ms + debit_ms) / (insert_ms + debit_ms)
        print(
            f"metering's own cost: rollup trigger {trigger_ms:.1f} ms of the INSERT's {insert_ms:.0f} ms, "
            f"Charge rows + debit {debit_ms:.1f} ms: {share:.1%} of the fan-out's INSERT (target <= 10 %)"
        )
    if metered:
        per_round = statistics.median(on / off for off, on in metered)
        off_s, on_s = statistics.median(off for off, _ in metered), statistics.median(on for _, on in metered)
        print(f"metering: fanout without {off_s:.3f} s, with {on_s:.3f} s; median of the per-round ratios "
              f"{per_round:.3f} (target <= 1.10: {'met' if per_round <= 1.10 else 'NOT met'})")  # fmt: skip
    return 3 if args.strict and ratio > TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
