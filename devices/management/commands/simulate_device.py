import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from connext.models import User
from devices.services import pairing_code_create
from devices.simulator import GatewayError, SimulatedPhone, register


class Command(BaseCommand):
    help = (
        "Pair one or more simulated Android phones and run them against a Connext server: heartbeats, "
        "polls, sent then delivered reports (optionally some failures), until Ctrl-C or --duration."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The server the phones talk to.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="Pair with fresh codes of this user's organization (one per phone).")
        who.add_argument("--code", help="Pair one phone with this pairing code.")
        parser.add_argument("--count", type=int, default=1, help="Phones to simulate (with --email).")
        parser.add_argument("--name", default="Simulated phone", help="Device name (numbered when several).")
        parser.add_argument("--poll", type=float, default=20.0, help="Seconds between polls when idle.")
        parser.add_argument("--heartbeat", type=float, default=15.0, help="Seconds between heartbeats.")
        parser.add_argument("--latency", type=float, default=0.2, help="Seconds to send one text (jittered).")
        parser.add_argument("--delivery-delay", type=float, default=1.0, help="Seconds from sent to delivered.")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="Share of texts reported failed (0-1).")
        parser.add_argument("--duration", type=float, default=0.0, help="Stop after this many seconds (0: never).")

    def handle(self, *args, url, email, code, count, name, duration, **options):
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate must be between 0 and 1.")
        codes = [code] if code else self._codes(email, count)
        phones = []
        for index, pairing in enumerate(codes):
            label = name if len(codes) == 1 else f"{name} {index + 1}"
            try:
                device_id, token = register(url, pairing, label, f"+1555010{index:04d}")
            except (GatewayError, OSError) as exc:
                raise CommandError(f"cannot pair {label}: {exc}") from None
            phones.append(SimulatedPhone(url, device_id, token, poll_every=options["poll"],
                                         heartbeat_every=options["heartbeat"], latency=options["latency"],
                                         delivery_delay=options["delivery_delay"],
                                         failure_rate=options["failure_rate"]))  # fmt: skip
            self.stderr.write(f"paired {label} as device {device_id}")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threads = [threading.Thread(target=self._run, args=(phone, stop), daemon=True) for phone in phones]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + duration if duration else None
        while not stop.wait(0.5):
            if deadline and time.monotonic() >= deadline:
                stop.set()
        for thread in threads:
            thread.join(30)
        for phone in phones:
            self.stdout.write(f"device {phone.device_id}: " + ", ".join(f"{k} {v}" for k, v in phone.counts.items()))

    def _codes(self, email: str, count: int) -> list[str]:
        user = User.objects.filter(email__iexact=email).first()
        if user is None or user.organization_id is None:
            raise CommandError(f"No user with email {email} in an organization.")
        return [pairing_code_create(user=user).code for _ in range(max(1, count))]

    def _run(self, phone: SimulatedPhone, stop: threading.Event) -> None:
        try:
            phone.run(stop)
        except (GatewayError, OSError) as exc:
            self.stderr.write(f"device {phone.device_id} stopped: {exc}")
