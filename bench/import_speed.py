"""Subscriber import speed: a 100,000-row CSV through POST /api/v1/subscribers/imports to a
`done` job, against a bare PostgreSQL COPY of the same file.

    .venv/bin/python bench/import_speed.py [--rows 100000] [--rounds 3] [--worker] [--profile]

Each round, on a bench organization emptied beforehand:

* copy: `COPY scratch FROM STDIN (FORMAT csv, HEADER)` of the file's bytes through
  psycopg 3's `cursor.copy`, into a table of the file's shape (8 text columns, no
  index), committed. The floor: no parsing in Python, no validation, no lookups.
* copy into a subscribers-like table: the same COPY into `LIKE subscribers_subscriber
  INCLUDING ALL` (every index and constraint of the real table, the trigram GIN
  index of the keyword search included). What storing the rows costs at least.
* import: the same bytes uploaded as multipart `file` through Django's test
  Client (the real URL routing, middleware, API-key auth, rate limit and view),
  then the Celery task `subscribers.run_import` until the job is `done`.
  By default the task runs in this process (Celery eager mode, fired by the
  view's transaction.on_commit, so the POST returns once the job is done); with
  --worker a real `celery -A connext worker` process runs it and the job is
  polled with GET. Every row is new: 100,000 subscribers created, no errors.

The file mixes phone spellings (E.164, 10 digits, (212) 555-0142, 212-555-0142,
212.555.0142) and aliased, mixed-case headers. Reported: seconds and rows/s of the
three, the ratio import time / COPY time (target: within 3x) and import time / COPY
into the subscribers-like table, medians over the rounds.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench,
created when missing) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15) for
the rate limiter and, with --worker, the broker.
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/import_speed.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database, fail  # noqa: E402

ORG_NAME = "Connext import bench org"
ADMIN_EMAIL = "bench-import-admin@bench.invalid"
KEY_NAME = "bench import_speed"
TARGET_RATIO = 3.0
CSV_OPTIONS = "WITH (FORMAT csv, HEADER true)"
HEADER = "First Name,Last Name,Mobile,E-mail,Address,City,State,Zip\n"


def make_csv(rows: int, seed: int = 20240501) -> bytes:
    """`rows` distinct, valid subscribers (checked with the same rules as the import)."""
    from subscribers.addresses import InvalidAddress, normalize_phone

    rng = random.Random(seed)
    out = io.StringIO()
    out.write(HEADER)
    seen: set[str] = set()
    cities = [("Springfield", "IL", "627"), ("Portland", "OR", "972"), ("Austin", "TX", "787"), ("Albany", "NY", "122")]
    spellings = ["+1{a}{b}{c}", "{a}{b}{c}", "({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}"]
    n = 0
    while n < rows:
        a, b, c = f"{rng.randint(201, 989)}", f"{rng.randint(200, 999)}", f"{rng.randint(0, 9999):04d}"
        if a + b + c in seen:
            continue
        try:
            normalize_phone(a + b + c, "US")
        except InvalidAddress:
            continue
        seen.add(a + b + c)
        city, state, zip_prefix = cities[n % len(cities)]
        phone = spellings[n % len(spellings)].format(a=a, b=b, c=c)
        out.write(
            f"First{n},Last{n},{phone},First{n}.Last{n}@Example{n % 40}.com,{n} Main Street,"
            f"{city},{state},{zip_prefix}{n % 100:02d}\n"
        )
        n += 1
    return out.getvalue().encode()


def prepare():
    import django

    django.setup()
    from django.core.management import call_command

    from apikeys.models import APIKey
    from apikeys.services import api_key_create
    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or organization_create(name=ORG_NAME)
    if org.rate_limit != 1_000_000_000:
        org.rate_limit = 1_000_000_000
        org.save(update_fields=["rate_limit"])
    user = User.objects.filter(email=ADMIN_EMAIL).first() or user_create(
        organization=org, email=ADMIN_EMAIL, role=roles.ORG_ADMIN
    )
    APIKey.objects.filter(user=user, name=KEY_NAME).delete()
    _, key = api_key_create(user=user, name=KEY_NAME)
    return org, key


def empty_org(org) -> None:
    """Outside the timings: the bench org's subscribers and jobs deleted, the table vacuumed."""
    import psycopg
    from django.db import connection

    from subscribers.models import ImportJob, Subscriber

    Subscriber.objects.filter(organization=org).delete()
    ImportJob.objects.filter(organization=org).delete()
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {Subscriber._meta.db_table}")


def time_copy(data: bytes, *, like_subscribers: bool = False) -> float:
    """COPY the file into a scratch table: 8 text columns, or (like_subscribers) a copy of
    subscribers_subscriber with all its indexes and constraints, the other columns defaulted."""
    import psycopg
    from django.db import connection

    from subscribers.models import Subscriber

    table = Subscriber._meta.db_table
    with psycopg.connect(**connection.get_connection_params()) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_import_scratch")
        if like_subscribers:
            conn.execute(f"CREATE TABLE bench_import_scratch (LIKE {table} INCLUDING ALL)")
            conn.execute(
                "ALTER TABLE bench_import_scratch ALTER organization_id SET DEFAULT 1, ALTER enabled SET DEFAULT true, "
                "ALTER text SET DEFAULT false, ALTER created_at SET DEFAULT now(), ALTER updated_at SET DEFAULT now()"
            )
        else:
            conn.execute(
                "CREATE TABLE bench_import_scratch (first text, last text, phone text, email text, address text, "
                "city text, state text, zip text)"
            )
        conn.commit()
        columns = "(first, last, phone, email, address, city, state, zip)"
        start = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY bench_import_scratch {columns} FROM STDIN {CSV_OPTIONS}") as copy,
        ):
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        conn.commit()
        elapsed = time.perf_counter() - start
        copied = conn.execute("SELECT count(*) FROM bench_import_scratch").fetchone()[0]
        conn.execute("DROP TABLE bench_import_scratch")
        conn.commit()
    if copied != data.count(b"\n") - 1:
        fail(f"COPY loaded {copied} rows")
    return elapsed


def time_import(client, data: bytes, rows: int, profile: cProfile.Profile | None, worker: bool) -> tuple[float, dict]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("bench.csv", data, content_type="text/csv")
    start = time.perf_counter()
    if profile:
        profile.enable()
    response = client.post("/api/v1/subscribers/imports", {"file": upload})
    if response.status_code != 202:
        fail(f"POST answered {response.status_code}: {response.content[:300]!r}")
    job_url = f"/api/v1/subscribers/imports/{response.json()['id']}"
    deadline = time.monotonic() + 600
    while (job := client.get(job_url).json())["status"] in ("queued", "running"):
        if not worker:
            fail(f"in-process run left the job {job['status']}")
        if time.monotonic() > deadline:
            fail(f"the job did not finish in 600 s: {job}")
        time.sleep(0.01)
    if profile:
        profile.disable()
    elapsed = time.perf_counter() - start
    if job["status"] != "done" or job["created"] != rows or job["errors"]:
        fail(f"unexpected job: { {k: v for k, v in job.items() if k != 'errors'} } errors {job['errors'][:3]}")
    return elapsed, job


def start_worker(queue: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "connext", "worker", "--pool", "solo", "--queues", queue,
               "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    return subprocess.Popen(command, cwd=REPO, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the CSV (default 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians reported (default 3)")
    parser.add_argument("--worker", action="store_true", help="run the task in a real Celery worker process")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process import (last round)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio misses the target")
    args = parser.parse_args()
    if args.profile and args.worker:
        fail("--profile profiles this process: use it without --worker")

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    org, key = prepare()

    from django.db import connections
    from django.test import Client

    from connext import celery_app

    worker = None
    if args.worker:
        queue = f"bench-import-{uuid.uuid4().hex[:8]}"
        celery_app.conf.task_default_queue = queue
        connections.close_all()
        worker = start_worker(queue)
    else:
        celery_app.conf.task_always_eager = True  # the view's on_commit runs the task here, before the POST returns
        celery_app.conf.task_eager_propagates = True

    print(f"generating {args.rows} rows ...", flush=True)
    data = make_csv(args.rows)
    print(f"file: {len(data) / 1e6:.1f} MB; task: {'Celery worker process' if worker else 'in-process (eager)'}")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost")
    copies, floors, runs, tasks = [], [], [], []
    profile = None
    try:
        for round_ in range(1, args.rounds + 1):
            empty_org(org)
            copies.append(time_copy(data))
            floors.append(time_copy(data, like_subscribers=True))
            profile = cProfile.Profile() if args.profile and round_ == args.rounds else None
            elapsed, job = time_import(client, data, args.rows, profile, bool(worker))
            runs.append(elapsed)
            tasks.append(job_seconds(job["id"]))
            print(f"round {round_}: copy {copies[-1]:.3f} s, copy into a subscribers-like table {floors[-1]:.3f} s, "
                  f"import {elapsed:.3f} s (job created -> finished {tasks[-1]:.3f} s)")  # fmt: skip
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        empty_org(org)

    copy_s, floor_s, import_s = statistics.median(copies), statistics.median(floors), statistics.median(runs)
    ratio = import_s / copy_s
    print()
    print(f"medians of {args.rounds} round(s), {args.rows} rows")
    print(f"{'':<34} {'seconds':>8} {'rows/s':>10}")
    print(f"{'copy (8 text columns, no index)':<34} {copy_s:>8.3f} {args.rows / copy_s:>10.0f}")
    print(f"{'copy (subscribers table + indexes)':<34} {floor_s:>8.3f} {args.rows / floor_s:>10.0f}")
    print(f"{'import (HTTP upload -> job done)':<34} {import_s:>8.3f} {args.rows / import_s:>10.0f}")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio import / copy: {ratio:.2f}  (target <= {TARGET_RATIO:.1f}: {verdict})")
    print(f"ratio import / copy into the subscribers table: {import_s / floor_s:.2f}")
    if profile is not None:
        stats = pstats.Stats(profile).strip_dirs()
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(25)
    return 3 if args.strict and ratio > TARGET_RATIO else 0


def job_seconds(job_id: int) -> float:
    from subscribers.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    return (job.finished_at - job.created_at).total_seconds()


if __name__ == "__main__":
    sys.exit(main())
