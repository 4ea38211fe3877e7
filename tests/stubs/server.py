"""What every provider stub shares: latency, injected faults, the record of sends, the control
routes (`/_stub/...`) and the two ways to run one (a background thread, a CLI process)."""

import argparse
import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Fault:
    """One error answer: HTTP `status` with the provider's error `code` and `message`."""

    status: int
    code: int | None = None
    message: str = ""
    retry_after: float | str | None = None  # sent as the Retry-After header when set

    @classmethod
    def of(cls, value) -> "Fault":
        """A Fault from a Fault, a `(status, code, message[, retry_after])` tuple/list or a dict."""
        if isinstance(value, Fault):
            return value
        if isinstance(value, dict):
            return cls(**value)
        return cls(*value)


@dataclass(frozen=True)
class Rule:
    """Answer every send to a recipient ending with `suffix` with `fault` (until removed)."""

    suffix: str
    fault: Fault

    @classmethod
    def of(cls, value) -> "Rule":
        if isinstance(value, Rule):
            return value
        fault = {k: v for k, v in value.items() if k != "suffix"}
        return cls(value["suffix"], Fault.of(fault.pop("fault", fault)))


@dataclass
class Stub:
    """State of one stub server; the provider subclasses add the API routes.

    - `latency`: seconds each API request waits before answering (asyncio.sleep).
    - `faults`: recipient -> list of Faults returned in order, one per request; once the list
      is used up that recipient succeeds ("fail twice with 503, then succeed").
    - `rules`: suffix rules checked after `faults` ("always 400 21211 for ...0000").
    - `sends`: every accepted send, as a dict (see the subclass for its keys).

    Methods are thread-safe: a test thread configures and reads while the server thread serves.
    """

    latency: float = 0.0
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    requests: int = 0  # API requests that reached fault checking, accepted or not
    in_flight: int = 0
    max_in_flight: int = 0  # the most API requests being answered at once

    def __post_init__(self):
        self._lock = threading.Lock()
        self._sends: list[dict] = []

    # -- configuration (in-process) ------------------------------------------------------------

    def fail(self, recipient: str, *faults) -> None:
        """Queue `faults` (Fault or (status, code, message[, retry_after])) for `recipient`."""
        with self._lock:
            self.faults.setdefault(recipient, []).extend(Fault.of(f) for f in faults)

    def fail_matching(self, suffix: str, status: int, code: int | None = None, message: str = "", **kw) -> None:
        with self._lock:
            self.rules.append(Rule(suffix, Fault(status, code, message, **kw)))

    def configure(self, **options) -> None:
        """Set `latency`, `faults` ({recipient: [fault...]}), `rules` ([{suffix, status, code,
        message}]) or any other public attribute of the stub (e.g. `callbacks`)."""
        with self._lock:
            for name, value in options.items():
                if name == "faults":
                    value = {to: [Fault.of(f) for f in faults] for to, faults in value.items()}
                elif name == "rules":
                    value = [Rule.of(r) for r in value]
                elif name.startswith("_") or not hasattr(self, name):
                    raise ValueError(f"unknown stub option {name!r}")
                setattr(self, name, value)

    def reset(self) -> None:
        """Forget sends, faults and rules; keep latency and credentials."""
        with self._lock:
            self._sends.clear()
            self.faults.clear()
            self.rules.clear()
            self.requests = self.max_in_flight = 0
            if hasattr(self, "no_rcs"):
                self.no_rcs, self.rcs_services = set(), set()

    # -- what the server saw -------------------------------------------------------------------

    @property
    def sends(self) -> list[dict]:
        with self._lock:
            return list(self._sends)

    def record(self, send: dict) -> None:
        with self._lock:
            self._sends.append(send)

    def update(self, key: str, value: str, **changes) -> dict | None:
        """Change the recorded send whose `key` is `value` (e.g. its status); returns it."""
        with self._lock:
            for send in self._sends:
                if send.get(key) == value:
                    send.update(changes)
                    return send
        return None

    def fault_for(self, recipient: str) -> Fault | None:
        with self._lock:
            self.requests += 1
            queued = self.faults.get(recipient)
            if queued:
                return queued.pop(0)
            for rule in self.rules:
                if recipient.endswith(rule.suffix):
                    return rule.fault
        return None

    async def pause(self) -> None:
        """Every API request starts here: counts requests in flight, waits `latency`."""
        self.in_flight += 1  # only the server's loop touches these two
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1

    # -- the app -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_stub/sends", self._get_sends)
        app.router.add_delete("/_stub/sends", self._delete_sends)
        app.router.add_post("/_stub/config", self._post_config)
        app.router.add_get("/_stub/config", self._get_config)
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def public_config(self) -> dict:
        with self._lock:
            return {
                "latency": self.latency,
                "faults": {to: [asdict(f) for f in faults] for to, faults in self.faults.items()},
                "rules": [{"suffix": r.suffix, **asdict(r.fault)} for r in self.rules],
                "requests": self.requests,
                "max_in_flight": self.max_in_flight,
                "sends": len(self._sends),  # how many it recorded (the list itself: /_stub/sends)
            }

    async def _get_sends(self, request: web.Request) -> web.Response:
        return web.json_response(self.sends)

    async def _delete_sends(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(status=204)

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            self.configure(**await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.json_response(self.public_config())

    async def _get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.public_config())


def unused_url(host: str = "127.0.0.1") -> str:
    """A base URL where nothing listens (a port just given back): connecting is refused."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return f"http://{host}:{sock.getsockname()[1]}"


@contextlib.contextmanager
def run_in_thread(app_factory, *, host: str = "127.0.0.1", port: int = 0, **options) -> Iterator[tuple[str, Stub]]:
    """Serve `app_factory(**options)` (a Stub subclass) on `host`, an ephemeral port by default,
    from a background thread; yields `(base_url, stub)` and stops the server on exit."""
    stub = app_factory(**options)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict = {}

    async def start():
        # Requests still waiting out `latency` after a test are cut off, not awaited.
        runner = web.AppRunner(stub.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def serve():
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            state["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name=f"{type(stub).__name__}-server", daemon=True)
    thread.start()
    started.wait(10)
    if "error" in state:
        raise state["error"]

    async def stop():
        await state["runner"].cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    try:
        yield f"http://{host}:{state['port']}", stub
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def main(stub_class, description: str, argv=None) -> None:
    """CLI: serve one stub in this process until interrupted, printing its base URL first."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = an ephemeral port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per API request")
    stub_class.add_arguments(parser)
    args = parser.parse_args(argv)
    stub = stub_class(latency=args.latency, **stub_class.options_from(args))

    async def serve():
        runner = web.AppRunner(stub.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port, backlog=1024)
        await site.start()
        print(f"http://{args.host}:{runner.addresses[0][1]}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
