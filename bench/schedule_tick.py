"""Schedule tick speed: 10,000 schedules due at once, fired by `schedules.tick.fire_due`, against
a bare `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)` over the same rows in the same run.

    .venv/bin/python bench/schedule_tick.py [--schedules 10000] [--rounds 5] [--batch N]

Data, built once (`--rebuild` starts over): one organization with 20 groups and `--schedules`
daily SMS schedules of one or two groups each. Each round, in this order, the schedules all made
due again (`next` a second ago), then the table vacuumed before each timing:

* bare: one transaction of `UPDATE schedules_schedule SET next = next + 1 day, remaining, active,
  last_fired_at FROM (SELECT id ... WHERE active AND next <= now ORDER BY next FOR UPDATE SKIP
  LOCKED) ...`: the claim and the advance with nothing else, the baseline of the ratio.
* tick: `fire_due(now)` as beat's task runs it, timed from the call to its return: the claims
  (SCHEDULE_TICK_BATCH per transaction), each schedule's next run computed by
  `schedules.recurrence` in its zone, one Message per run inserted with its groups, the advance,
  the commits, and one fan-out wake-up per run published to Redis after each commit (to a
  throwaway queue no worker reads: fan-out and sending are the pipeline's, measured by
  fanout_speed.py and dispatch_speed.py). The tick's Messages are deleted after the round.

Reported: seconds and schedules/s of each, medians over the rounds, and the ratio tick / bare
(target: within 5x), also as the median of the per-round ratios.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_schedules,
created when missing, migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15).
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_schedules")

from bench.api_latency import check_redis, configure_environment, ensure_database  # noqa: E402

TARGET_RATIO = 5.0
ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles"]


def prepare(count: int, rebuild: bool):
    import django

    django.setup()
    from django.core.management import call_command

    from connext.models import Organization, User
    from groups.models import Group
    from schedules.models import Schedule

    call_command("migrate", verbosity=0)
    org = Organization.objects.filter(name="bench-schedules").first()
    if org and (rebuild or Schedule.objects.filter(organization=org).count() != count):
        org.delete()
        org = None
    if org is None:
        org = Organization.objects.create(name="bench-schedules")
        user = User.objects.create(username=f"bench-{uuid.uuid4().hex[:8]}", organization=org)
        groups = Group.objects.bulk_create(Group(organization=org, name=f"G{n}", number=n) for n in range(1, 21))
        rng = random.Random(7)
        schedules = Schedule.objects.bulk_create(
            Schedule(
                organization=org,
                user=user,
                title=f"Schedule {n}",
                types=["sms"],
                message="Good morning {first|there}",
                start_date=dt.date(2026, 1, 1),
                start_time=dt.time(rng.randrange(24), rng.randrange(60)),
                timezone=rng.choice(ZONES),
                frequency="days",
                every=1,
                days=rng.choice([None, 62, 127]),
                remaining=rng.choice([None, 1000]),
            )
            for n in range(count)
        )
        links = [
            Schedule.groups.through(schedule_id=s.pk, group_id=g.pk)
            for s in schedules
            for g in rng.sample(groups, rng.choice([1, 2]))
        ]
        Schedule.groups.through.objects.bulk_create(links, batch_size=5000)
    return org


def make_due(org, now) -> None:
    from schedules.models import Schedule

    Schedule.objects.filter(organization=org).update(next=now - dt.timedelta(seconds=1), active=True)


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE schedules_schedule")
        cursor.execute("VACUUM ANALYZE logs_message")


def time_bare(org, now) -> tuple[float, int]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE schedules_schedule s SET next = s.next + interval '1 day', "
            "remaining = CASE WHEN s.remaining IS NULL THEN NULL ELSE s.remaining - 1 END, active = true, "
            "last_fired_at = %s "
            "FROM (SELECT id FROM schedules_schedule WHERE active AND next <= %s ORDER BY next, id "
            "FOR UPDATE SKIP LOCKED) due WHERE s.id = due.id",
            [now, now],
        )
        rows = cursor.rowcount
    return time.perf_counter() - started, rows


def time_tick(org, now) -> tuple[float, int]:
    from schedules.tick import fire_due

    started = time.perf_counter()
    fired = fire_due(now)
    return time.perf_counter() - started, fired


def drop_runs(org) -> None:
    from logs.models import Message

    Message.objects.filter(organization=org).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None, help="SCHEDULE_TICK_BATCH (default: the setting's)")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    org = prepare(args.schedules, args.rebuild)

    from django.conf import settings
    from django.utils import timezone

    from connext import celery_app

    if args.batch:
        settings.SCHEDULE_TICK_BATCH = args.batch
    queue = f"bench-schedules-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    print(f"{args.schedules} schedules due; batch {settings.SCHEDULE_TICK_BATCH}; fan-out wake-ups go to {queue!r}")

    bare, ticks = [], []
    try:
        drop_runs(org)
        for round_ in range(1, args.rounds + 1):
            now = timezone.now()
            make_due(org, now)
            vacuum()
            bare.append(time_bare(org, now))
            make_due(org, now)
            vacuum()
            ticks.append(time_tick(org, now))
            drop_runs(org)
            if bare[-1][1] != args.schedules or ticks[-1][1] != args.schedules:
                print(f"round {round_}: bare {bare[-1][1]}, tick {ticks[-1][1]}: expected {args.schedules} each")
                return 1
            print(f"round {round_}: bare {bare[-1][0]:.3f} s, tick {ticks[-1][0]:.3f} s "
                  f"(ratio {ticks[-1][0] / bare[-1][0]:.2f})")  # fmt: skip
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue)
        client.close()

    bare_s = statistics.median(s for s, _ in bare)
    tick_s = statistics.median(s for s, _ in ticks)
    n = args.schedules
    print()
    print(f"medians of {args.rounds} round(s), {n} schedules due")
    print(f"{'':<48} {'seconds':>8} {'schedules/s':>12}")
    print(f"{'bare UPDATE ... FROM (SELECT ... SKIP LOCKED)':<48} {bare_s:>8.3f} {n / bare_s:>12.0f}")
    print(f"{'schedules.tick.fire_due':<48} {tick_s:>8.3f} {n / tick_s:>12.0f}")
    ratio = tick_s / bare_s
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio tick / bare: {ratio:.2f}  (target <= {TARGET_RATIO:.0f}: {verdict})")
    per_round = statistics.median(t / b for (t, _), (b, _) in zip(ticks, bare, strict=True))
    print(f"median of the per-round ratios: {per_round:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
