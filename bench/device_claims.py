"""Device gateway claims: 50 simulated phones polling concurrently through gunicorn on PostgreSQL
while a 20,000-recipient blast drains, against a bare SQL `SKIP LOCKED` claim loop over the same
rows in the same run; then how long an offline phone's texts take to reach another phone.

    .venv/bin/python bench/device_claims.py [--recipients 20000] [--devices 50] [--workers 2]
        [--threads 8] [--no-recovery]

1. A blast: an organization sending through its own phones, `--recipients` subscribers in group
   1; `blast_create` with the Celery tasks run in this process (eager), so the real fan-out and
   dispatchers hand every text to the device queue (timed: "hand-over").
2. Phones: `--devices` devices paired through the real services; gunicorn (gthread) serves the
   protocol; one aiohttp coroutine per phone heartbeats once, then polls
   `GET /api/devices/<id>/tasks/` and reports each task `sent` (`POST /api/sms/<id>/status/`), as
   the app does, until every task is claimed. Claims/s = tasks / seconds from the first poll to
   the last claim (the reports' load included).
3. Bare: the same task rows put back to waiting, then `--devices` threads each run
   `SELECT ... FOR UPDATE SKIP LOCKED LIMIT 10` + `UPDATE` in one statement, autocommit, until
   none is left: the ceiling of the claim itself with no HTTP, auth, limits or delivery update.
4. Checks, by the benchmark itself: no task id handed to two phones (nor twice by the bare loop),
   every delivery `sent`, every task claimed exactly once.
5. Recovery (unless --no-recovery): a phone claims 10 texts and goes silent; another phone
   heartbeats every 15 s and polls every 20 s (the app's intervals); the devices' sweep runs every
   DEVICE_SWEEP_INTERVAL (as beat does). Reported: seconds from the silent phone's last heartbeat
   until the other phone holds all 10 (bounded by DEVICE_OFFLINE_RELEASE_SECONDS + the sweep
   interval + one poll interval).

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench_devices,
created when missing) and Redis (REDIS_URL, default redis://127.0.0.1:6379/13). Exit status 0;
1 on a setup error or a failed check.
"""

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/device_claims.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_bench_devices")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")

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
from bench.dispatch_speed import ensure_audience  # noqa: E402

ORG_NAME = "Connext device bench org"
EMAIL = "bench-devices@bench.invalid"
PER_CLAIM = 10

_BARE_CLAIM_SQL = """
WITH picked AS (
    SELECT delivery_id FROM devices_devicetask
    WHERE fleet_id = %(fleet)s AND state = 'waiting' ORDER BY delivery_id LIMIT %(n)s FOR UPDATE SKIP LOCKED
)
UPDATE devices_devicetask t SET state = 'claimed', attempts = attempts + 1
FROM picked WHERE t.delivery_id = picked.delivery_id RETURNING t.delivery_id
"""


def prepare(recipients: int, devices: int):
    """The organization (own phones), its subscribers in group 1, fresh paired devices; a blast
    handed over to the device queue. Returns (org, message id, [(device id, token)], seconds)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    from blasts.compose import blast_create
    from connext import celery_app, roles
    from connext.models import Organization, User
    from connext.services import organization_create, user_create
    from devices.models import Device, DeviceTask
    from devices.services import device_register, pairing_code_create
    from logs.models import Message

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).order_by("pk").first() or organization_create(name=ORG_NAME)
    Organization.objects.filter(pk=org.pk).update(routes={"sms": "device"})
    org.refresh_from_db()
    user = User.objects.filter(email=EMAIL).first() or user_create(organization=org, email=EMAIL, role=roles.ORG_ADMIN)
    DeviceTask.objects.filter(fleet=org).delete()
    Message.objects.filter(organization=org).delete()
    Device.objects.filter(organization=org).delete()
    ensure_audience(org.pk, recipients)
    phones = []
    for i in range(devices):
        device, token = device_register(code=pairing_code_create(user=user).code, name=f"Bench phone {i + 1}",
                                         phone_number=f"+1555020{i:04d}")  # fmt: skip
        phones.append((str(device.pk), token))
    celery_app.conf.task_always_eager = True  # the real fan-out and dispatch, in this process
    started = time.perf_counter()
    with transaction.atomic():
        message = blast_create(user=user, data={"types": ["sms"], "groups": [1], "message": "Hi {first}, see you at 3"})
    handed_over = time.perf_counter() - started
    celery_app.conf.task_always_eager = False
    held = DeviceTask.objects.filter(delivery__message_id=message.pk, state="waiting").count()
    if held != recipients:
        fail(f"the blast handed {held} texts to the device queue, not {recipients}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_devicetask")
        cursor.execute("ANALYZE logs_delivery")
    connections.close_all()  # gunicorn forks later: no connection shared across processes
    return org, message.pk, phones, handed_over


async def drain(base: str, phones: list[tuple[str, str]], total: int) -> tuple[float, dict, list]:
    """Every phone polls and reports until `total` tasks were claimed; (seconds, ids per phone, poll ms)."""
    import aiohttp

    claimed, received, latencies = [0], {pk: [] for pk, _ in phones}, []
    first_poll, last_claim = [None], [0.0]

    async def phone(session, device_id: str, token: str):
        headers = {"X-Device-Token": token}
        next_beat = 0.0
        while claimed[0] < total:
            if time.monotonic() >= next_beat:  # every 15 s, as the app does: online for the next minute
                async with session.post(f"{base}/api/devices/{device_id}/heartbeat/", json={"battery": 90},
                                        headers=headers) as response:  # fmt: skip
                    if response.status != 200:
                        raise RuntimeError(f"heartbeat answered {response.status}: {await response.text()}")
                next_beat = time.monotonic() + 15
            started = time.perf_counter()
            first_poll[0] = first_poll[0] or started
            async with session.get(f"{base}/api/devices/{device_id}/tasks/", headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"poll answered {response.status}: {await response.text()}")
                tasks = await response.json()
            latencies.append((time.perf_counter() - started) * 1000)
            if not tasks:
                await asyncio.sleep(0.05)
                continue
            claimed[0] += len(tasks)
            last_claim[0] = time.perf_counter()
            received[device_id].extend(task["id"] for task in tasks)
            for task in tasks:
                async with session.post(f"{base}/api/sms/{task['id']}/status/", json={"status": "sent"},
                                        headers=headers) as response:  # fmt: skip
                    if response.status != 200:
                        raise RuntimeError(f"status answered {response.status}: {await response.text()}")

    connector = aiohttp.TCPConnector(limit=len(phones) + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(phone(session, pk, token) for pk, token in phones))
    return last_claim[0] - first_poll[0], received, latencies


def bare_loop(fleet_id: int, message_id: int, concurrency: int) -> tuple[float, list[int]]:
    """The same task rows back to waiting, then `concurrency` connections claim them with bare SQL."""
    import psycopg
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE devices_devicetask SET state = 'waiting', attempts = 0 FROM logs_delivery d "
            "WHERE d.id = devices_devicetask.delivery_id AND d.message_id = %s",
            [message_id],
        )
        cursor.execute("ANALYZE devices_devicetask")
    connection.close()
    url = os.environ["DATABASE_URL"]
    got, lock, start = [], threading.Lock(), threading.Barrier(concurrency)
    ends = []

    def claimer():
        mine = []
        with psycopg.connect(url, autocommit=True) as conn:
            start.wait()
            while rows := conn.execute(_BARE_CLAIM_SQL, {"fleet": fleet_id, "n": PER_CLAIM}).fetchall():
                mine.extend(row[0] for row in rows)
        with lock:
            got.extend(mine)
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=claimer) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    with psycopg.connect(url, autocommit=True) as conn:  # done with them: out of the queue the next phase uses
        conn.execute("UPDATE devices_devicetask SET state = 'reported' WHERE fleet_id = %s", [fleet_id])
    return max(ends) - started, got


def recovery(base: str, user_email: str) -> float:
    """Seconds from a silent phone's last heartbeat until another phone holds all its texts."""
    from django.conf import settings

    from connext.models import User
    from devices import queue
    from devices.sending import sms_send
    from devices.services import device_register, pairing_code_create
    from devices.simulator import SimulatedPhone

    user = User.objects.get(email=user_email)
    pair = [device_register(code=pairing_code_create(user=user).code, name=f"Recovery {n}",
                            phone_number=f"+1555030{n:04d}") for n in (1, 2)]  # fmt: skip
    silent, other = (SimulatedPhone(base, str(d.pk), token, latency=0) for d, token in pair)
    silent.heartbeat()
    ids = [sms_send(organization=user.organization, user=user, to=f"+1202555{n:04d}", text="Recovery",
                    device_id=pair[0][0].pk)["id"] for n in range(PER_CLAIM)]  # fmt: skip
    if sorted(t["id"] for t in silent.poll()) != sorted(ids):
        fail("the silent phone did not claim its texts")
    gone_at = time.monotonic()  # its last heartbeat: it dies now, holding 10 texts
    stop = threading.Event()

    def beat():  # the devices' sweep, as beat runs it
        while not stop.wait(settings.DEVICE_SWEEP_INTERVAL):
            queue.release_claims()

    sweeper = threading.Thread(target=beat, daemon=True)
    sweeper.start()
    next_beat = next_poll = time.monotonic()
    got = set()
    try:
        while not set(ids) <= got:
            now = time.monotonic()
            if now - gone_at > 300:
                fail("the silent phone's texts did not move within 300 s")
            if now >= next_beat:
                other.heartbeat()
                next_beat = now + 15
            if now >= next_poll:
                got.update(t["id"] for t in other.poll())
                next_poll = now + 20
            time.sleep(0.05)
    finally:
        stop.set()
    return time.monotonic() - gone_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--no-recovery", action="store_true", help="skip the offline-phone recovery figure")
    args = parser.parse_args()
    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    org, message_id, phones, handed_over = prepare(args.recipients, args.devices)
    print(f"hand-over: {args.recipients} texts fanned out and handed to the device queue in {handed_over:.1f} s")

    port = free_port()
    server = start_gunicorn(
        port, argparse.Namespace(workers=args.workers, worker_class="gthread", threads=args.threads)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, f"{base}/healthz")
        seconds, received, latencies = asyncio.run(drain(base, phones, args.recipients))
        everything = [task for tasks in received.values() for task in tasks]
        doubles = len(everything) - len(set(everything))
        from devices.models import DeviceTask
        from logs.models import Delivery

        sent = Delivery.objects.filter(message_id=message_id, status="sent").count()
        once = DeviceTask.objects.filter(delivery__message_id=message_id, attempts=1).count()
        shares = sorted(len(tasks) for tasks in received.values())
        rate = len(everything) / seconds
        p50, p99 = statistics.median(latencies), statistics.quantiles(latencies, n=100)[98]
        print(f"phones: {len(everything)} claims by {len(phones)} phones in {seconds:.1f} s = {rate:.0f} claims/s "
              f"(poll p50 {p50:.0f} ms, p99 {p99:.0f} ms; per phone {shares[0]}-{shares[-1]} texts)")  # fmt: skip
        bare_seconds, bare_ids = bare_loop(org.pk, message_id, args.devices)
        bare_rate = len(bare_ids) / bare_seconds
        bare_doubles = len(bare_ids) - len(set(bare_ids))
        print(f"bare SKIP LOCKED loop: {len(bare_ids)} claims in {bare_seconds:.2f} s = {bare_rate:.0f} claims/s "
              f"({args.devices} connections, {PER_CLAIM} a claim)")  # fmt: skip
        print(f"ratio phones / bare: {rate / bare_rate:.3f}")
        print(f"double claims: {doubles} (phones), {bare_doubles} (bare); deliveries sent {sent}/{args.recipients}, "
              f"tasks claimed exactly once {once}/{args.recipients}")  # fmt: skip
        if doubles or bare_doubles or sent != args.recipients or once != args.recipients:
            fail("a check failed: see the line above")
        if not args.no_recovery:
            from django.conf import settings

            release, sweep = settings.DEVICE_OFFLINE_RELEASE_SECONDS, settings.DEVICE_SWEEP_INTERVAL
            print(f"recovery: DEVICE_OFFLINE_RELEASE_SECONDS={release:g}, sweep every {sweep:g} s, "
                  "the other phone polls every 20 s ...")  # fmt: skip
            print(f"recovery: a silent phone's 10 texts held by another phone {recovery(base, EMAIL):.1f} s "
                  "after its last heartbeat")  # fmt: skip
    finally:
        stop_gunicorn(server)


if __name__ == "__main__":
    main()
