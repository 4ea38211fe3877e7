"""What a subscribed webhook endpoint costs the callback path, in process (no HTTP, no wrk).

    .venv/bin/python bench/webhook_listener_cost.py [--callbacks 5000] [--rounds 3]

A status callback's write, as the Twilio hook makes it: one transaction per callback with
`logs.state.apply_callbacks` for one delivery (`sending` -> `delivered`, announced through
connext.changes). Timed on `--callbacks` deliveries of a new message of the bench organization,
without a webhook endpoint, then with one subscribed to message.delivered (each callback then
writes its outbox row and, after its commit, asks for a dispatcher: one cache add), alternating,
`--rounds` times; medians reported, and the ratio (target >= 80 %). bench/callback_ingest.py
--webhook measures the same over HTTP under gunicorn + wrk.

Needs PostgreSQL and Redis (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/connext_bench_webhooks;
REDIS_URL, default redis://127.0.0.1:6379/14).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.api_latency import check_redis, configure_environment, ensure_database  # noqa: E402

TARGET_RATIO = 0.8
ORG_NAME = "Connext webhook listener bench"


def new_message(org, count: int) -> list[int]:
    from django.db import connection
    from django.utils import timezone

    from logs.models import Delivery, Message

    now = timezone.now()
    message = Message.objects.create(organization=org, types=["sms"], message="Bench", recipients=count,
                                     fanned_out_at=now)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO logs_delivery (message_id, channel, recipient, status, attempts, provider, provider_id, "
            "error_code, error_message, digits, clicks, updated_at) "
            "SELECT %s, 'sms', '+1202' || lpad(i::text, 7, '0'), 'sending', 1, '', '', '', '', '', 0, %s "
            "FROM generate_series(1, %s) AS i",
            [message.pk, now, count],
        )
    return list(Delivery.objects.filter(message=message).order_by("id").values_list("id", flat=True))


def time_callbacks(delivery_ids: list[int]) -> float:
    from django.db import transaction
    from django.utils import timezone

    from logs import state

    start = time.perf_counter()
    for delivery_id in delivery_ids:
        with transaction.atomic():
            state.apply_callbacks("delivered", [(delivery_id, timezone.now(), f"SM{delivery_id}", "", "")],
                                  provider="twilio")  # fmt: skip
    return len(delivery_ids) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/connext_bench_webhooks")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["WEBHOOK_QUEUE"] = "bench-webhook-listener-nobody"  # wake-ups nobody drains
    database_url, redis_url = configure_environment()
    check_redis(redis_url)
    ensure_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    from connext.models import Organization
    from webhooks import services, subscriptions
    from webhooks.models import Endpoint

    call_command("migrate", interactive=False, verbosity=0)
    org = Organization.objects.filter(name=ORG_NAME).first() or Organization.objects.create(name=ORG_NAME)
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for subscribed in (False, True):
            Endpoint.objects.filter(organization=org).delete()
            subscriptions.changed()  # every process forgets them
            if subscribed:
                services.endpoint_create(organization=org, url="https://127.0.0.1:9/hook", events=["message.delivered"])
            rates[subscribed].append(time_callbacks(new_message(org, args.callbacks)))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"callbacks without an endpoint: {without:,.0f}/s; with one subscribed: {with_:,.0f}/s "
          f"= {with_ / without:.0%} (target >= {TARGET_RATIO:.0%}); rounds {rates}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
