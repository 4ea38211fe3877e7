"""Where the time of `GET /api/v1/groups` goes, in process (no gunicorn, no wrk).

    .venv/bin/python bench/profile_groups.py [--requests 1000] [--top 25]

Same database, Redis and data as bench/api_latency.py. Requests go through
Django's WSGIHandler as gunicorn calls it (request_started/finished signals,
connection health checks, every middleware), one at a time, and report:

* every SQL statement of one steady-state request, from Django
  (CaptureQueriesContext) and from the driver (psycopg cursors, which also sees
  the CONN_HEALTH_CHECKS `SELECT 1`), with the time each took;
* every Redis command of that request;
* the mean wall time per request of groups and of the bare view, and of the
  parts of the groups request (authentication, permission, throttle, list);
* a cProfile of the groups requests, sorted by cumulative and by own time.
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_latency import check_redis, configure_environment, ensure_database, prepare_data


def make_environ(path: str, query: str = "", headers: dict[str, str] | None = None) -> dict:
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call(app, environ: dict) -> tuple[str, bytes]:
    environ = {**environ, "wsgi.input": io.BytesIO(b"")}
    status = []

    def start_response(s, h, exc_info=None):
        status.append(s)

    response = app(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # fires request_finished, as gunicorn does
    return status[0], body


def time_requests(path: str, query: str, headers: dict[str, str], requests: int, fail) -> list[float]:
    """Milliseconds of `requests` GETs one after the other through Django's WSGI handler (after
    5 warm-up ones: connections, the key's last_used_at, cached serializer fields), sorted.
    Anything but a 200 is reported through `fail`."""
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    environ = make_environ(path, query, headers)
    for _ in range(5):
        call(app, environ)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        status, body = call(app, environ)
        times.append((time.perf_counter() - started) * 1000)
        if not status.startswith("200"):
            fail(f"GET {path}?{query} answered {status}: {body[:300]!r}")
    return sorted(times)


@contextmanager
def driver_statements():
    """Every statement psycopg sends, Django's or not: [(sql, ms)]."""
    import psycopg

    seen = []
    original = psycopg.Cursor.execute

    def execute(self, query, params=None, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, query, params, **kwargs)
        finally:
            text = query if isinstance(query, str) else query.as_string(self) if hasattr(query, "as_string") else query
            seen.append((str(text), (time.perf_counter() - start) * 1000))

    psycopg.Cursor.execute = execute
    try:
        yield seen
    finally:
        psycopg.Cursor.execute = original


@contextmanager
def redis_commands():
    """Every command redis-py sends: [(command, ms)]."""
    import redis

    seen = []
    original = redis.Redis.execute_command

    def execute_command(self, *args, **options):
        start = time.perf_counter()
        try:
            return original(self, *args, **options)
        finally:
            seen.append((" ".join(str(a) for a in args[:2]), (time.perf_counter() - start) * 1000))

    redis.Redis.execute_command = execute_command
    try:
        yield seen
    finally:
        redis.Redis.execute_command = original


@contextmanager
def timed_methods(targets: dict[str, tuple[type, str]]):
    """Accumulate wall time spent in some methods: {label: [calls, seconds]}."""
    totals = {label: [0, 0.0] for label in targets}
    originals = {}
    for label, (cls, name) in targets.items():
        original = getattr(cls, name)
        originals[label] = (cls, name, cls.__dict__.get(name))

        def wrapper(*args, __original=original, __label=label, **kwargs):
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                totals[__label][0] += 1
                totals[__label][1] += time.perf_counter() - start

        setattr(cls, name, wrapper)
    try:
        yield totals
    finally:
        for cls, name, own in originals.values():
            if own is None:
                delattr(cls, name)  # inherited: uncover the base class's method again
            else:
                setattr(cls, name, own)


def mean_ms(app, environ: dict, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        status, body = call(app, environ)
        if not status.startswith("200"):
            raise SystemExit(f"{environ['PATH_INFO']} answered {status}: {body[:200]!r}")
    return (time.perf_counter() - start) * 1000 / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per timed loop (default 1000)")
    parser.add_argument("--top", type=int, default=25, help="rows of each cProfile listing (default 25)")
    args = parser.parse_args()

    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    fixture = prepare_data(20)

    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apikeys.authentication import APIKeyAuthentication
    from apikeys.permissions import RolePermission
    from apikeys.throttling import APIKeyRateThrottle
    from connext.pagination import LimitOffsetPagination
    from groups.views import GroupViewSet

    app = get_wsgi_application()
    groups = make_environ("/api/v1/groups", "limit=25", {"Authorization": f"Bearer {fixture.api_key}"})
    bare = make_environ(f"/bench/bare/{fixture.group_pk}")

    # Warm up: the first request of a key writes last_used_at, loads Lua scripts, opens connections.
    for _ in range(20):
        call(app, groups)
        call(app, bare)

    for label, environ in (("groups", groups), ("bare", bare)):
        with CaptureQueriesContext(connection) as django_q, driver_statements() as driver_q, redis_commands() as rc:
            status, _ = call(app, environ)
        print(f"\n=== one steady-state request: {label} ({status}) ===")
        print(f"SQL via Django: {len(django_q.captured_queries)}; statements sent by psycopg: {len(driver_q)}")
        for sql, ms in driver_q:
            print(f"  {ms:6.3f} ms  {sql[:150]}")
        print(f"Redis commands: {len(rc)}")
        for command, ms in rc:
            print(f"  {ms:6.3f} ms  {command[:100]}")

    n = args.requests
    print(f"\n=== mean wall time per request, in process, one at a time ({n} requests) ===")
    bare_ms = mean_ms(app, bare, n)
    targets = {
        "APIKeyAuthentication.authenticate": (APIKeyAuthentication, "authenticate"),
        "RolePermission.has_permission": (RolePermission, "has_permission"),
        "APIKeyRateThrottle.allow_request": (APIKeyRateThrottle, "allow_request"),
        "LimitOffsetPagination.paginate_queryset": (LimitOffsetPagination, "paginate_queryset"),
        "GroupViewSet.list (incl. pagination, serialization)": (GroupViewSet, "list"),
    }
    with timed_methods(targets) as totals:
        groups_ms = mean_ms(app, groups, n)
    print(f"bare   {bare_ms:6.3f} ms")
    print(f"groups {groups_ms:6.3f} ms  ({groups_ms / bare_ms:.2f}x bare; bare/groups = {bare_ms / groups_ms:.2f})")
    for label, (calls, seconds) in totals.items():
        print(f"  {seconds * 1000 / max(calls, 1):6.3f} ms  {label}")

    with driver_statements() as driver_q, redis_commands() as rc:
        mean_ms(app, groups, 200)
    per = Counter()
    for sql, ms in driver_q:
        per[sql.split(" WHERE ")[0][:110]] += ms
    print("\nSQL time per groups request (200 requests, by statement):")
    for sql, ms in per.most_common():
        print(f"  {ms / 200:6.3f} ms  {sql}")
    print(f"  total {sum(ms for _, ms in driver_q) / 200:.3f} ms in {len(driver_q) / 200:.1f} statements")
    print(f"Redis per groups request: {sum(ms for _, ms in rc) / 200:.3f} ms in {len(rc) / 200:.1f} commands")

    profiler = cProfile.Profile()
    profiler.enable()
    mean_ms(app, groups, n)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order)
        stats.print_stats(args.top)
        print(f"\n=== cProfile of {n} groups requests, by {order} ===")
        print(out.getvalue().split("\n", 4)[-1] if order == "cumulative" else out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
