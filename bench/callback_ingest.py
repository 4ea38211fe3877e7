"""Ingestion rate of signed Twilio status callbacks (`POST /hooks/twilio/status`) under gunicorn + wrk.

    .venv/bin/python bench/callback_ingest.py [--deliveries 40000] [--duration 15] [--connections 16]
        [--workers 2] [--worker-class gthread] [--threads 4] [--rounds 1] [--webhook | --compare]

The real app (bench.settings: the app's settings and middleware) under gunicorn, on
PostgreSQL and Redis, with TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL set for the run. Each
measured run gets a new Message of the bench organization with `--deliveries` SMS
deliveries made with SQL, `sending` and without a provider id (Twilio's callback overtook
our own `record_sent`: the heaviest case, every callback writes). For each delivery two
callbacks are pre-signed with the SDK's RequestValidator, exactly as Twilio posts them
(`?d=<id>` in the URL, MessageSid, MessageStatus, ...): `sent` for a block of 500
deliveries, then `delivered` for the same block, and so on. wrk (a Lua script, one
slice of the file per wrk thread) posts them round-robin over `--connections`
keep-alive connections; a warm-up run on a message of its own comes first.

With `--webhook` the bench organization has one webhook endpoint subscribed to the events the
callbacks make (each callback then writes its outbox row): compare with a run without it, or
use `--compare`, which alternates rounds without and with the endpoint in one gunicorn and
prints the ratios per pair (on a shared machine both sides of a pair see the same load).

Reported: callbacks/s and latency percentiles from wrk, non-2xx answers, and what the
database shows afterwards (deliveries delivered, i.e. callbacks that really changed a
row; once wrk has gone through every callback it starts again, and those repeats are
no-op UPDATEs). Target: >= 1,000 callbacks/s on 2 cores shared by gunicorn, PostgreSQL,
Redis and wrk.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench,
created when missing, migrated), Redis (REDIS_URL, default redis://127.0.0.1:6379/15) and
`wrk`. Exit status: 0 on a clean run (only 2xx, no socket errors), 2 when not, 1 on a
setup error, 3 with `--strict` when the target is missed.
"""

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/callback_ingest.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import (  # noqa: E402
    Result,
    check_redis,
    configure_environment,
    ensure_database,
    fail,
    free_port,
    median_result,
    parse_wrk,
    redact,
    stop_gunicorn,
    wait_until_up,
)

ORG_NAME = "Connext bench callbacks"
AUTH_TOKEN = "bench-callback-token"
PUBLIC_BASE_URL = "https://bench.connext.invalid"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
OUR_NUMBER = "+15005550006"
BLOCK = 500  # `sent` for this many deliveries, then their `delivered`
TARGET_RPS = 1000.0
CORES = 2  # the target's machine

LUA = r"""
-- Pre-signed Twilio callbacks, one per line: path \t signature \t form body.
-- Each wrk thread takes every n-th line (its slice) and posts them round-robin.
local next_thread = 0
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local file, threads, unsigned = args[1], tonumber(args[2]), args[3] == "unsigned"
  requests, position = {}, 0
  local i = 0
  for line in io.lines(file) do
    if i % threads == tid then
      local path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      if unsigned then signature = "forged" end
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
end

function request()
  position = position % #requests + 1
  return requests[position]
end
"""


def prepare_message(deliveries: int) -> int:
    """A new Message of the bench org with `deliveries` SMS deliveries in `sending`, made with SQL."""
    from django.db import connection, transaction
    from django.utils import timezone

    from connext.models import Organization
    from logs.models import Message

    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first()
    if org is None:
        org = Organization.objects.create(name=ORG_NAME)
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            organization=org, types=["sms"], message="Bench", recipients=deliveries, fanned_out_at=now
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO logs_delivery (message_id, subscriber_id, channel, recipient, status, attempts,
                    provider, provider_id, error_code, error_message, digits, clicks, lease_expires_at, updated_at)
                SELECT %s, NULL, 'sms', '+1202' || lpad(i::text, 7, '0'), 'sending', 1,
                    '', '', '', '', '', 0, %s, %s
                FROM generate_series(1, %s) AS i
                """,
                [message.pk, now, now, deliveries],
            )
    return message.pk


def drop_previous_runs() -> None:
    """The bench org's earlier messages: their deliveries with SQL, then the rest through the ORM."""
    from django.db import connection, transaction

    from logs.models import Message

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM logs_delivery WHERE message_id IN (SELECT m.id FROM logs_message m "
                "JOIN connext_organization o ON o.id = m.organization_id WHERE o.name = %s)",
                [ORG_NAME],
            )
        Message.objects.filter(organization__name=ORG_NAME).delete()
    # Left dead, those rows would weigh on every later run where autovacuum is off or behind.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) logs_delivery, logs_messagecount, logs_message, webhooks_delivery")


def subscribe_webhook(subscribed: bool) -> None:
    """With `--webhook`, one endpoint of the bench org wants every callback's event: each writes an
    outbox row in its transaction (nobody drains them here: the cost measured is the callback's)."""
    from connext.models import Organization
    from webhooks import services, subscriptions
    from webhooks.models import Endpoint

    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or Organization.objects.create(
        name=ORG_NAME
    )
    Endpoint.objects.filter(organization=org).delete()
    subscriptions.changed()  # every process forgets them
    if subscribed:
        services.endpoint_create(organization=org, url="https://127.0.0.1:9/hook", events=EVENTS)


EVENTS = ["message.sent", "message.delivered"]


def start_gunicorn(port: int, args) -> subprocess.Popen:
    """gunicorn on bench.settings (the app's settings), with gunicorn.conf.py as the app runs it."""
    command = [
        sys.executable, "-m", "gunicorn", "connext.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers), "--worker-class", args.worker_class, "--log-level", "warning",
        "--error-logfile", "-", "--graceful-timeout", "10",
    ]  # fmt: skip
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    return subprocess.Popen(command, cwd=REPO, env=env)


def count_triggers(action: str) -> None:
    """ENABLE or DISABLE the statement trigger that keeps logs_messagecount on every UPDATE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE logs_delivery {action} TRIGGER logs_delivery_counts_update")
    print(f"logs_delivery_counts_update: {action.lower()}d")


def write_callbacks(message_id: int, path: Path) -> int:
    """The signed callbacks of every delivery of the message, in wrk's line format. Returns how many."""
    from twilio.request_validator import RequestValidator

    from logs.models import Delivery

    validator = RequestValidator(AUTH_TOKEN)
    rows = list(Delivery.objects.filter(message_id=message_id).order_by("id").values_list("id", "recipient"))
    lines = []
    for start in range(0, len(rows), BLOCK):
        block = rows[start : start + BLOCK]
        for status in ("sent", "delivered"):
            for pk, recipient in block:
                sid = f"SM{pk:032x}"
                params = {
                    "AccountSid": ACCOUNT_SID,
                    "ApiVersion": "2010-04-01",
                    "From": OUR_NUMBER,
                    "MessageSid": sid,
                    "MessageStatus": status,
                    "SmsSid": sid,
                    "SmsStatus": status,
                    "To": recipient,
                }
                url_path = f"/hooks/twilio/status?d={pk}"
                signature = validator.compute_signature(PUBLIC_BASE_URL + url_path, params)
                lines.append(f"{url_path}\t{signature}\t{urlencode(params)}\n")
    path.write_text("".join(lines))
    return len(lines)


def outcome(message_id: int) -> dict[str, int]:
    from django.db.models import Count

    from logs.models import Delivery

    rows = Delivery.objects.filter(message_id=message_id).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


# --- CPU accounting: on a shared machine, callbacks/s depends on the neighbours; CPU per callback does not.

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def backend_pids() -> list[int]:
    """The PostgreSQL backends of this database other than ours: gunicorn's connections."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_snapshot(gunicorn_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds so far per process: gunicorn's, this database's backends, wrk (our children)."""
    wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "gunicorn": {p: cpu_seconds(p) for p in [gunicorn_pid, *children(gunicorn_pid)]},
        "postgres": {p: cpu_seconds(p) for p in backend_pids()},
        "wrk": {0: wrk.ru_utime + wrk.ru_stime},
    }


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two snapshots, per kind, over the processes alive at the end (one that
    started meanwhile counts whole; one that ended meanwhile, a connection gunicorn closed after
    CONN_MAX_AGE, is lost, never negative)."""
    return {kind: sum(max(0.0, t - before[kind].get(p, 0.0)) for p, t in after[kind].items()) for kind in after}


def run_wrk(wrk: str, url: str, script: Path, callbacks: Path, duration: float, args, mode: str = "signed") -> str:
    command = [
        wrk, f"-t{args.threads_wrk}", f"-c{args.connections}", f"-d{max(1, round(duration))}s", "--latency",
        "-s", str(script), url, "--", str(callbacks), str(args.threads_wrk), mode,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    if done.returncode != 0 or "error" in done.stderr.lower():
        fail(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=40000, help="deliveries per measured run (default 40000)")
    parser.add_argument("--duration", type=float, default=15, help="seconds per measured run (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads-wrk", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (default gthread)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads (default 4; 0 = not passed)")
    parser.add_argument("--rounds", type=int, default=1, help="measured runs, each on a new message (default 1)")
    parser.add_argument("--floor", action="store_true", help="also post them unsigned: the 403 path, no database")
    parser.add_argument(
        "--without-count-triggers",
        action="store_true",
        help="diagnostic: disable the running-totals trigger on logs_delivery during the run (re-enabled after)",
    )
    parser.add_argument("--raw", action="store_true", help="also print wrk's own output")
    parser.add_argument("--strict", action="store_true", help="exit 3 when the target is missed")
    parser.add_argument("--webhook", action="store_true",
                        help="the bench org has a webhook endpoint for message.sent and message.delivered")  # fmt: skip
    parser.add_argument("--compare", action="store_true",
                        help="--rounds pairs in one gunicorn: a round without the endpoint, then one with it; "
                             "reports the ratio (noise on a shared machine hits both alike)")  # fmt: skip
    args = parser.parse_args()
    if args.worker_class == "sync":
        args.threads = 0

    wrk = shutil.which("wrk")
    if wrk is None:
        fail("wrk is not installed. On Debian/Ubuntu: `apt-get update && apt-get install -y wrk`.")

    database_url, redis_url = configure_environment()
    os.environ["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    os.environ["PUBLIC_BASE_URL"] = PUBLIC_BASE_URL
    print(f"DATABASE_URL={redact(database_url)}  REDIS_URL={redact(redis_url)}")
    check_redis(redis_url)
    ensure_database(database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=0)
    drop_previous_runs()
    subscribe_webhook(args.webhook)
    workdir = Path(tempfile.mkdtemp(prefix="callback_ingest-"))
    script = workdir / "callbacks.lua"
    script.write_text(LUA)
    runs = []  # (message id, callbacks file, count)
    measured = 2 * args.rounds if args.compare else args.rounds
    # Warm-ups first (--compare: one without the endpoint, one with it, as the rounds go).
    warmups = 2 if args.compare else 1
    for i in range(measured + warmups):
        size = min(args.deliveries, 5000) if i < warmups else args.deliveries
        message_id = prepare_message(size)
        path = workdir / f"callbacks-{message_id}.tsv"
        runs.append((message_id, path, write_callbacks(message_id, path)))
    if args.without_count_triggers:
        count_triggers("DISABLE")
    connections.close_all()  # gunicorn forks later: no connection shared across processes

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results: list[Result] = []
    cpu_ceilings: list[float] = []
    paired: dict[bool, list[tuple[float, float]]] = {False: [], True: []}  # --compare: (rate, CPU ceiling)
    proc = start_gunicorn(port, args)
    try:
        wait_until_up(proc, f"{base}/healthz")
        print(f"gunicorn pid {proc.pid} on {base}: {args.workers} {args.worker_class} worker(s)"
              + (f" x {args.threads} threads" if args.threads else ""))  # fmt: skip
        for i, (message_id, path, count) in enumerate(runs):
            warm = i < warmups
            duration = args.warmup if warm else args.duration
            what = "warm-up" if warm else f"round {i - warmups + 1}"
            subscribed = args.compare and (i - warmups) % 2 == 1
            if args.compare:
                subscribe_webhook(subscribed)  # the change notice reaches gunicorn's processes
                what += " with the endpoint" if subscribed else " without an endpoint"
            print(f"{what}: {count} signed callbacks of message {message_id}, {duration:g} s")
            before = cpu_snapshot(proc.pid)
            result = parse_wrk(what, run_wrk(wrk, base, script, path, duration, args))
            used = cpu_used(before, cpu_snapshot(proc.pid))
            if proc.poll() is not None:
                fail(f"gunicorn exited with status {proc.returncode} during the run")
            if not warm:
                results.append(result)
                statuses = outcome(message_id)
                sent_through = min(result.requests, count)
                print(f"  {result.rps:.1f} callbacks/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms; "
                      f"{result.requests} requests ({result.requests - sent_through} repeats), "
                      f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}; "
                      f"deliveries now {statuses}")  # fmt: skip
                per = {k: 1e6 * v / max(result.requests, 1) for k, v in used.items()}
                cpu_per_callback = sum(per.values()) / 1e6
                cpu_ceilings.append(CORES / cpu_per_callback if cpu_per_callback else 0.0)
                print(f"  CPU per callback: gunicorn {per['gunicorn']:.0f} us, PostgreSQL backends "
                      f"{per['postgres']:.0f} us, wrk {per['wrk']:.0f} us: {CORES} cores run out at "
                      f"{cpu_ceilings[-1]:.0f} callbacks/s")  # fmt: skip
                if args.compare:
                    paired[subscribed].append((result.rps, cpu_ceilings[-1]))
                if args.raw:
                    print(result.raw)
            connections.close_all()
        if args.floor:
            print(f"floor: the same {runs[-1][2]} callbacks unsigned (403 before any query), {args.duration:g} s")
            floor = parse_wrk("floor", run_wrk(wrk, base, script, runs[-1][1], args.duration, args, mode="unsigned"))
    finally:
        stop_gunicorn(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        if args.without_count_triggers:
            count_triggers("ENABLE")

    total = median_result(results)
    print()
    print(f"wrk -t{args.threads_wrk} -c{args.connections} -d{args.duration:g}s; gunicorn {args.workers} "
          f"{args.worker_class} worker(s){f' x {args.threads} threads' if args.threads else ''}; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    met = total.rps >= TARGET_RPS
    print(f"callbacks/s: {total.rps:.1f}  p50 {total.p50_ms:.2f} ms  p90 {total.p90_ms:.2f} ms  "
          f"p99 {total.p99_ms:.2f} ms  (target >= {TARGET_RPS:.0f}/s: {'met' if met else 'NOT met'})")  # fmt: skip
    if args.floor:
        print(f"floor (unsigned, 403, no database): {floor.rps:.1f}/s  p99 {floor.p99_ms:.2f} ms; "
              f"callbacks reach {total.rps / floor.rps:.0%} of it")  # fmt: skip
    if args.without_count_triggers:
        print("(measured WITHOUT the logs_delivery running-totals trigger: a diagnostic, not the product)")
    print(f"CPU ceiling on {CORES} dedicated cores (gunicorn + PostgreSQL backends + wrk): "
          f"{statistics.median(cpu_ceilings):.0f} callbacks/s")  # fmt: skip
    if args.compare:
        for name, index in (("callbacks/s", 0), ("CPU ceiling", 1)):
            ratios = [w[index] / wo[index] for wo, w in zip(paired[False], paired[True], strict=True)]
            pairs = ", ".join(f"{r:.0%}" for r in ratios)
            print(f"with the endpoint / without, {name}, per pair: {pairs}; "
                  f"median {statistics.median(ratios):.0%} (target >= 80%)")  # fmt: skip
    if total.non_2xx or total.socket_errors:
        print("INVALID RUN: non-2xx answers or socket errors; the figures do not measure success.")
        return 2
    return 3 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
