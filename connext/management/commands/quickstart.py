"""`./dev up`: migrate, make a demo organization and a fresh API key, then run
web (gunicorn) + Celery worker + beat in the foreground until Ctrl-C."""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apikeys.services import api_key_create
from connext import roles
from connext.models import Organization, User
from connext.services import organization_create, user_create

DEMO_ORG = "Demo"
DEMO_EMAIL = "admin@example.com"


class Children:
    """The processes `./dev up` keeps running: one that exits (a worker killed mid-blast) is
    started again, as a process manager would, unless it keeps exiting (a broken setup)."""

    MAX_RESTARTS = 3  # within WINDOW seconds
    WINDOW = 60.0

    def __init__(self, procs: dict[str, list[str]], env: dict[str, str], *, log):
        self.procs, self.env, self.log = procs, env, log
        self.running = {name: subprocess.Popen(argv, env=env) for name, argv in procs.items()}
        self.restarts: dict[str, list[float]] = {name: [] for name in procs}

    def values(self):
        return self.running.values()

    def start(self, name: str, argv: list[str]) -> None:
        """One more process, kept running like the others (started once the stack is up)."""
        self.procs[name], self.restarts[name] = argv, []
        self.running[name] = subprocess.Popen(argv, env=self.env)

    def restart_exited(self) -> None:
        now = time.monotonic()
        for name, child in list(self.running.items()):
            if child.poll() is None:
                continue
            recent = [at for at in self.restarts[name] if now - at < self.WINDOW]
            if len(recent) >= self.MAX_RESTARTS:
                raise CommandError(f"{name} exited with code {child.returncode}, {len(recent) + 1} times in a minute")
            self.log(f"{name} exited with code {child.returncode}; starting it again")
            self.restarts[name] = [*recent, now]
            self.running[name] = subprocess.Popen(self.procs[name], env=self.env)

    def stop(self) -> None:
        for child in self.running.values():
            if child.poll() is None:
                child.terminate()
        for child in self.running.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


class Command(BaseCommand):
    help = "Set up the embedded defaults and run web + worker + beat; prints an API key to try."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--devices", type=int, default=0, metavar="N",
            help="Also run N simulated Android phones (simulate_device); the demo organization then texts "
            "through its own phones.",
        )  # fmt: skip

    def handle(self, *args, host, port, devices, **options):
        call_command("migrate", verbosity=0, interactive=False)
        password = self._ensure_demo_admin()
        user = User.objects.get(email=DEMO_EMAIL)
        _, plaintext = api_key_create(user=user, name=f"quickstart {time.strftime('%Y-%m-%d %H:%M:%S')}")

        python = sys.executable
        base = f"http://{host}:{port}"
        procs = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "connext.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "connext",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--queues",  # sending and webhook deliveries: one worker takes both here
                f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.WEBHOOK_QUEUE}",
            ],
            "beat": [python, "-m", "celery", "-A", "connext", "beat", "--loglevel", "INFO"],
        }
        # Short links, unsubscribe and callback URLs point at this server unless configured.
        env = {**os.environ}
        env.setdefault("PUBLIC_BASE_URL", base)
        children = Children(procs, env, log=self.stderr.write)
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            self._wait_until_ready(base, children)
            if devices > 0:
                self._simulate_devices(children, base, devices)
            self._banner(base, plaintext, password)
            while not stopping:
                children.restart_exited()
                time.sleep(0.5)
        finally:
            children.stop()

    def _simulate_devices(self, children: Children, base: str, count: int) -> None:
        """`count` simulated phones paired with the demo organization, which now texts through them."""
        Organization.objects.filter(name=DEMO_ORG).update(routes={"sms": "device"})
        argv = [sys.executable, "manage.py", "simulate_device", "--url", base, "--email", DEMO_EMAIL,
                "--count", str(count), "--poll", "5", "--name", "Demo phone"]  # fmt: skip
        children.start("devices", argv)
        self.stderr.write(f"{count} simulated phone(s) paired with {DEMO_ORG}: its texts go through them.")

    def _ensure_demo_admin(self) -> str | None:
        """Create the demo organization and admin on the first run; returns the new password then."""
        if User.objects.filter(email=DEMO_EMAIL).exists():
            return None
        password = secrets.token_urlsafe(12)
        org = Organization.objects.filter(name=DEMO_ORG).first() or organization_create(name=DEMO_ORG)
        user_create(organization=org, email=DEMO_EMAIL, password=password, role=roles.ORG_ADMIN)
        return password

    def _wait_until_ready(self, base: str, children) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in children.values()):
                raise CommandError("a process exited during start-up; see the log above")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 (our own http URL)
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise CommandError(f"web server did not answer {base}/healthz within 60 s")
        from connext.tasks import ping

        ping.delay().get(timeout=60)  # the worker is consuming: the whole stack is up

    @staticmethod
    def _stack() -> str:
        """What this run is on: database, broker and the channel of each kind of send."""
        from django.db import connection

        from blasts.channels import route
        from logs.models import Kind

        database = "SQLite" if connection.vendor == "sqlite" else "PostgreSQL"
        broker = "Redis" if settings.REDIS_URL else "embedded broker"
        names = {"twilio": "Twilio", "sendgrid": "SendGrid"}
        texts, email = (names.get(route(kind), route(kind)) for kind in (Kind.SMS, Kind.EMAIL))
        return f"{database}, {broker}, SMS/MMS/voice: {texts} channel, email: {email} channel"

    def _banner(self, base: str, key: str, password: str | None) -> None:
        login = f"{DEMO_EMAIL} / {password}" if password else f"{DEMO_EMAIL} (password from the first run)"
        lines = [
            "",
            f"Connext is running (web + worker + beat; {self._stack()}).",
            f"  API key:  {key}",
            f"  Try:      curl -H 'Authorization: Bearer {key}' {base}/api/v1/groups",
            f"  Docs:     {base}/api/docs",
            f"  Admin:    {base}/admin/  ({login})",
            "  Stop with Ctrl-C.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
