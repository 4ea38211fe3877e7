"""Throughput and latency of `GET /api/v1/groups` against a bare DRF view, under gunicorn + wrk.

    .venv/bin/python bench/api_latency.py [--duration 15] [--connections 16] [--workers 2] [--rounds 1]

Both endpoints run in the same process tree, against the same PostgreSQL and
Redis, one after the other:

* groups: `GET /api/v1/groups?limit=25` with `Authorization: Bearer <key>`:
  API-key auth, role permission, the per-key rate limit (the org's limit is set
  far above what the run can reach), org scoping and limit/offset pagination.
* bare: `GET /bench/bare/<pk>` (bench/urls.py): a RetrieveAPIView with no auth,
  permission, throttle or filter, returning one groups.Group row.

Needs PostgreSQL and Redis: DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/connext_bench, created when missing) and
REDIS_URL (default redis://127.0.0.1:6379/15). The data (one org, one org
admin, ~20 groups) is created idempotently; a fresh API key replaces the
previous bench key on every run, since a key's plaintext is never stored.
Needs `wrk` (Debian: `apt-get install -y wrk`).

Exit status: 0 when both runs were clean (only 2xx, no socket errors), 2 when
not (the figures are then meaningless), 1 on a setup error. `--strict` also
exits 3 when a target is missed.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/api_latency.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/connext_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

ORG_NAME = "Connext bench org"
ADMIN_EMAIL = "bench-admin@bench.invalid"
KEY_NAME = "bench api_latency"
# Requests per minute per key: far above anything a run can reach.
BENCH_RATE_LIMIT = 1_000_000_000

# Targets to report against.
TARGET_RATIO = 0.60
TARGET_GROUPS_P99_MS = 50.0


def fail(message: str, status: int = 1):
    print(f"api_latency: {message}", file=sys.stderr)
    sys.exit(status)


# --- environment ----------------------------------------------------------------


def configure_environment() -> tuple[str, str]:
    """Defaults for DATABASE_URL / REDIS_URL, checked: PostgreSQL and a reachable Redis only."""
    database_url = os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    if urlsplit(database_url).scheme not in ("postgres", "postgresql", "pgsql", "psql"):
        fail(f"DATABASE_URL must point at PostgreSQL (got {redact(database_url)}); e.g. {DEFAULT_DATABASE_URL}")
    if urlsplit(redis_url).scheme not in ("redis", "rediss"):
        fail(f"REDIS_URL must point at Redis (got {redact(redis_url)}); e.g. {DEFAULT_REDIS_URL}")
    # The rate limiter and Celery must use this Redis, not a URL left in the environment.
    for name in ("RATELIMIT_STORAGE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DEBUG"] = "False"  # DEBUG keeps every query in memory: not what production runs
    return database_url, redis_url


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def check_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        fail(f"Redis at {redact(redis_url)} is not reachable ({exc}). Start it or set REDIS_URL.")
    finally:
        client.close()


def ensure_database(database_url: str) -> None:
    """Create the database named in DATABASE_URL when it does not exist yet."""
    import environ
    import psycopg
    from psycopg import sql

    config = environ.Env.db_url_config(database_url)
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 5,
    }
    params = {k: v for k, v in params.items() if v is not None}
    name = config["NAME"]
    try:
        with psycopg.connect(dbname=name, **params):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            fail(f"cannot connect to PostgreSQL at {redact(database_url)}: {exc}".strip())
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        fail(f"database {name!r} does not exist and could not be created: {exc}".strip())
    print(f"created database {name!r}")


# --- data -----------------------------------------------------------------------


@dataclass
class Fixture:
    api_key: str
    group_pk: int
    group_count: int


def prepare_data(group_count: int) -> Fixture:
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connections

    from apikeys.models import APIKey
    from apikeys.services import api_key_create
    from connext import roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from groups.models import Group
    from groups.services import group_create

    call_command("migrate", interactive=False, verbosity=0)

    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first()
    if org is None:
        org = organization_create(name=ORG_NAME)
    if org.rate_limit != BENCH_RATE_LIMIT:
        org.rate_limit = BENCH_RATE_LIMIT
        org.save(update_fields=["rate_limit"])

    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        user = user_create(organization=org, email=ADMIN_EMAIL, role=roles.ORG_ADMIN)

    # The plaintext of a key is never stored: replace the previous bench key.
    APIKey.objects.filter(user=user, name=KEY_NAME).delete()
    _, plaintext = api_key_create(user=user, name=KEY_NAME)

    existing = Group.objects.filter(organization=org).count()
    for i in range(existing, group_count):
        group_create(organization=org, name=f"Bench group {i + 1}")
    first = Group.objects.filter(organization=org).order_by("number").first()
    total = Group.objects.filter(organization=org).count()
    connections.close_all()  # gunicorn forks later: no connection shared across processes
    return Fixture(api_key=plaintext, group_pk=first.pk, group_count=total)


# --- gunicorn -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, args) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "connext.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", args.worker_class,
        "--log-level", "warning",
        "--error-logfile", "-",
        "--graceful-timeout", "10",
    ]  # fmt: skip
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    return subprocess.Popen(command, cwd=REPO, env=env)


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # graceful: workers finish their request and exit
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_until_up(
    proc: subprocess.Popen, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"gunicorn exited with status {proc.returncode} before serving")
        try:
            status, _, _ = fetch(url, headers)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail(f"gunicorn did not answer 200 on {url} within {timeout:.0f} s")


def check_endpoints(groups_url: str, bare_url: str, auth: dict[str, str], fixture: Fixture, limit: int) -> None:
    """Both endpoints must answer 200 with the expected rows before anything is measured."""
    import json

    status, headers, body = fetch(groups_url, auth)
    if status != 200:
        fail(f"GET {groups_url} answered {status}: {body[:300]!r}")
    rows = json.loads(body)
    expected = min(limit, fixture.group_count)
    if len(rows) != expected or headers.get("X-Total-Count") != str(fixture.group_count):
        fail(f"GET {groups_url}: {len(rows)} rows, X-Total-Count {headers.get('X-Total-Count')}; expected "
             f"{expected} rows of {fixture.group_count}")  # fmt: skip
    status, _, body = fetch(bare_url)
    if status != 200:
        fail(f"GET {bare_url} answered {status}: {body[:300]!r}")


# --- wrk ------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    raw: str


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(name: str, output: str) -> Result:
    def search(pattern: str) -> re.Match:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            fail(f"cannot find {pattern!r} in wrk output:\n{output}")
        return match

    percentiles = {
        pct: _to_ms(*search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$").groups()) for pct in ("50", "75", "90", "99")
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Result(
        name=name,
        requests=int(search(r"^\s*(\d+) requests in")[1]),
        rps=float(search(r"^Requests/sec:\s*([\d.]+)")[1]),
        p50_ms=percentiles["50"],
        p75_ms=percentiles["75"],
        p90_ms=percentiles["90"],
        p99_ms=percentiles["99"],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        raw=output,
    )


def run_wrk(wrk: str, url: str, headers: dict[str, str], duration: float, args) -> str:
    command = [wrk, f"-t{args.threads_wrk}", f"-c{args.connections}", f"-d{max(1, round(duration))}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        fail(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


# --- report ---------------------------------------------------------------------


def median_result(results: list[Result]) -> Result:
    """One round: itself. Several: the median of each figure, the sums of the counts."""
    if len(results) == 1:
        return results[0]

    def med(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results)

    return Result(
        name=results[0].name,
        requests=sum(r.requests for r in results),
        rps=med("rps"),
        p50_ms=med("p50_ms"),
        p75_ms=med("p75_ms"),
        p90_ms=med("p90_ms"),
        p99_ms=med("p99_ms"),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        raw="",
    )


def report(groups: Result, bare: Result, args) -> int:
    print()
    rounds = f" x {args.rounds} rounds (medians; requests summed)" if args.rounds > 1 else ""
    print(f"wrk -t{args.threads_wrk} -c{args.connections} -d{args.duration:g}s{rounds}; gunicorn {args.workers} "
          f"{args.worker_class} worker(s){f' x {args.threads} threads' if args.threads else ''}")  # fmt: skip
    header = f"{'endpoint':<8} {'req/s':>9} {'p50 ms':>8} {'p75 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
    header += f"{'requests':>9} {'non-2xx':>8} {'sock err':>8}"
    print(header)
    print("-" * len(header))
    for r in (groups, bare):
        print(f"{r.name:<8} {r.rps:>9.1f} {r.p50_ms:>8.2f} {r.p75_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} "
              f"{r.requests:>9} {r.non_2xx:>8} {r.socket_errors:>8}")  # fmt: skip
    ratio = groups.rps / bare.rps if bare.rps else 0.0
    print()
    ratio_ok = ratio >= TARGET_RATIO
    p99_ok = groups.p99_ms < TARGET_GROUPS_P99_MS
    print(f"ratio groups/bare rps: {ratio:.2f}  (target >= {TARGET_RATIO:.2f}: {'met' if ratio_ok else 'NOT met'})")
    print(f"groups p99: {groups.p99_ms:.2f} ms  (target < {TARGET_GROUPS_P99_MS:.0f} ms: "
          f"{'met' if p99_ok else 'NOT met'})")  # fmt: skip
    clean = all(r.non_2xx == 0 and r.socket_errors == 0 for r in (groups, bare))
    if not clean:
        print("INVALID RUN: non-2xx responses or socket errors (see above); the figures do not measure success.")
        return 2
    if args.strict and not (ratio_ok and p99_ok):
        return 3
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per measured run (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads-wrk", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn --threads (gthread); 0 = not passed")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per endpoint (default 3)")
    parser.add_argument("--groups", type=int, default=20, help="groups in the bench org (default 20)")
    parser.add_argument("--limit", type=int, default=25, help="?limit= of the groups request (default 25)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate bare/groups runs this many times; medians reported (default 1)"
    )
    parser.add_argument("--raw", action="store_true", help="also print wrk's own output")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args()
    if args.rounds < 1:
        fail("--rounds must be at least 1")
    if args.connections < args.threads_wrk:
        fail("--connections must be at least --threads-wrk")

    wrk = shutil.which("wrk")
    if wrk is None:
        fail("wrk is not installed. On Debian/Ubuntu: `apt-get update && apt-get install -y wrk` "
             "(macOS: `brew install wrk`).")  # fmt: skip

    database_url, redis_url = configure_environment()
    print(f"DATABASE_URL={redact(database_url)}  REDIS_URL={redact(redis_url)}")
    check_redis(redis_url)
    ensure_database(database_url)
    fixture = prepare_data(args.groups)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    groups_url = f"{base}/api/v1/groups?limit={args.limit}"
    bare_url = f"{base}/bench/bare/{fixture.group_pk}"
    auth = {"Authorization": f"Bearer {fixture.api_key}"}

    proc = start_gunicorn(port, args)
    try:
        wait_until_up(proc, bare_url)
        check_endpoints(groups_url, bare_url, auth, fixture, args.limit)
        print(f"gunicorn pid {proc.pid} on {base}; warming up {args.warmup:g} s per endpoint")
        for url, headers in ((bare_url, {}), (groups_url, auth)):
            run_wrk(wrk, url, headers, args.warmup, args)
        rounds: dict[str, list[Result]] = {"groups": [], "bare": []}
        for i in range(args.rounds):
            for name, url, headers in (("bare", bare_url, {}), ("groups", groups_url, auth)):
                print(
                    f"measuring {name}: {url} for {args.duration:g} s"
                    + (f" (round {i + 1})" if args.rounds > 1 else "")
                )
                rounds[name].append(parse_wrk(name, run_wrk(wrk, url, headers, args.duration, args)))
                if proc.poll() is not None:
                    fail(f"gunicorn exited with status {proc.returncode} during the run")
    finally:
        stop_gunicorn(proc)

    if args.raw:
        for r in (*rounds["bare"], *rounds["groups"]):
            print(f"\n--- wrk output: {r.name} ---\n{r.raw}")
    if args.rounds > 1:
        print("\nper round:")
        for i, (g, b) in enumerate(zip(rounds["groups"], rounds["bare"], strict=True)):
            print(f"  round {i + 1}: groups {g.rps:7.1f} req/s p99 {g.p99_ms:7.2f} ms | "
                  f"bare {b.rps:7.1f} req/s p99 {b.p99_ms:7.2f} ms | ratio {g.rps / b.rps:.2f}")  # fmt: skip
    return report(median_result(rounds["groups"]), median_result(rounds["bare"]), args)


if __name__ == "__main__":
    sys.exit(main())
