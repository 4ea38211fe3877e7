"""The private services of the fault tests, and the processes that run against them.

Nothing here touches the shared PostgreSQL (:5432) or Redis (:6379): every server is started
here, on a free port, with its files in a temporary folder of its own, and is stopped by the
fixture that made it. Redis, workers and beat are started in a process group of their own (so a
prefork worker's children go with it) and get SIGTERM if the test process that started them dies
(PostgreSQL is daemonized by pg_ctl: only the fixture stops it).
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]  # the checkout: manage.py, the apps


def pg_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl, postgres), newest first."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])

    def major(initdb: Path) -> int:  # /usr/lib/postgresql/<major>/bin/initdb
        return int(initdb.parts[-3]) if initdb.parts[-3].isdigit() else 0

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major, reverse=True)
    if versions:
        return versions[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_servers() -> str:
    """Why the private stack cannot be made here ("" when it can)."""
    binaries = pg_bin()
    if binaries is None or not all((binaries / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
        return "PostgreSQL server binaries (initdb, pg_ctl) not found"
    if not shutil.which("redis-server"):
        return "redis-server not found"
    if os.geteuid() == 0 and not _postgres_user():
        return "running as root and no 'postgres' user to run initdb as"
    return ""


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    """Poll `predicate` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


# SIGTERM a child when the thread that started it dies (a killed pytest): setpriv sets the
# parent-death signal, then execs the command (no preexec_fn: the stub's thread is running).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []


class PrivatePostgres:
    """A PostgreSQL cluster made with initdb in a temporary folder, on a free port of 127.0.0.1
    and a unix socket in that folder. Run as the `postgres` user when we are root (initdb
    refuses root). Durability is off (fsync, synchronous_commit): the data is thrown away."""

    def __init__(self, port: int | None = None):
        self.bin = pg_bin()
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="connext-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        user = _postgres_user() if os.geteuid() == 0 else None
        self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        if user:
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            args, check=True, timeout=timeout, cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            **self._as,
        )  # fmt: skip

    def init(self) -> "PrivatePostgres":
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                "shared_buffers = 64MB\n"
            )
        return self

    def pg_ctl(self, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut off; returns once it accepts again."""
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.pg_ctl("stop", "-m", "immediate")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=3, **kwargs
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def mark_template(self, name: str) -> None:
        """No connections left to `name`, so CREATE DATABASE ... TEMPLATE can copy it."""
        with self.connect(autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')


class PrivateRedis:
    """`redis-server` without persistence on a free port: a restart loses every key (queued task
    messages, unacked ones, the cache), as a Redis without AOF does."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="connext-faults-redis-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        with open(self.root / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [*DIE_WITH_PARENT, "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for(self.ping, 20, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1).ping()
        except redis.RedisError:
            return False

    def purge_queue(self, queue: str) -> int:
        """Drop the messages waiting in a Celery queue (kombu's list and its priority lists)."""
        client = redis.Redis(port=self.port)
        keys = [key for key in client.scan_iter(match=f"{queue}*") if key.decode().partition("\x06")[0] == queue]
        return client.delete(*keys) if keys else 0

    def stop(self) -> None:
        """SIGKILL: no save, no goodbye to the clients."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Processes:
    """The worker and beat processes of one test: started with `start`, all stopped by `stop_all`
    (process group: SIGTERM, then SIGKILL)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [*DIE_WITH_PARENT, *argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        process.log = log  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def worker(self, env: dict, name: str = "worker", *extra: str) -> subprocess.Popen:
        queue = env["CELERY_QUEUE"]
        argv = [sys.executable, "-m", "celery", "-A", "connext", "worker", "--queues", queue, "--hostname",
                f"{name}-{os.getpid()}@%h", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip",
                "--without-mingle", *(extra or ("--pool", "solo"))]  # fmt: skip
        return self.start(name, argv, env)

    def beat(self, env: dict, name: str = "beat") -> subprocess.Popen:
        schedule = self.folder / "beat-schedule"
        argv = [sys.executable, "-m", "celery", "-A", "connext", "beat", "--schedule", str(schedule),
                "--loglevel", "INFO"]  # fmt: skip
        return self.start(name, argv, env)

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL the process and everything in its group (a prefork worker's pool too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # what is left of the group (pool children)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found
