"""A simulated Android phone: pairs with a code, then heartbeats, polls and reports over HTTP
exactly as the app does (`simulate_device`, the gateway benchmark, demos).

Each phone keeps one HTTP connection. A task is "sent" after `latency` seconds (or fails, with
probability `failure_rate`) and "delivered" `delivery_delay` seconds after it was sent.
"""

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class GatewayError(Exception):
    pass


class Connection:
    """JSON over one kept-alive HTTP connection; reconnects once when the server closed it."""

    def __init__(self, base_url: str, headers: dict | None = None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self.https, self.headers = parts.scheme == "https", headers or {}
        self.conn = None

    def request(self, method: str, path: str, body=None) -> tuple[int, object]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, "Content-Type": "application/json"} if payload else dict(self.headers)
        for attempt in (1, 2):
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def register(base_url: str, code: str, name: str, phone_number: str) -> tuple[str, str]:
    """(device id, token) for a pairing code."""
    connection = Connection(base_url)
    try:
        status, body = connection.request(
            "POST", "/api/devices/register/", {"code": code, "device_name": name, "phone_number": phone_number}
        )
    finally:
        connection.close()
    if status != 201:
        raise GatewayError(f"registration refused ({status}): {body}")
    return body["device_id"], body["device_token"]


@dataclass
class SimulatedPhone:
    base_url: str
    device_id: str
    token: str
    poll_every: float = 20.0
    heartbeat_every: float = 15.0
    latency: float = 0.2
    delivery_delay: float = 1.0
    failure_rate: float = 0.0
    counts: dict = field(default_factory=lambda: {"polls": 0, "tasks": 0, "sent": 0, "failed": 0, "delivered": 0})
    task_ids: list = field(default_factory=list)  # every task id received, in order (double-claim checks)

    def __post_init__(self):
        self.connection = Connection(self.base_url, {"X-Device-Token": self.token})
        self._due: list[tuple[float, str]] = []  # (when, task id) to report delivered

    def heartbeat(self) -> None:
        status, body = self.connection.request(
            "POST", f"/api/devices/{self.device_id}/heartbeat/",
            {"battery": random.randint(20, 100), "signal": random.randint(1, 4), "android_version": "14",
             "app_version": "sim-1.0"},
        )  # fmt: skip
        if status != 200:
            raise GatewayError(f"heartbeat refused ({status}): {body}")

    def poll(self) -> list[dict]:
        status, body = self.connection.request("GET", f"/api/devices/{self.device_id}/tasks/")
        if status != 200:
            raise GatewayError(f"poll refused ({status}): {body}")
        self.counts["polls"] += 1
        self.counts["tasks"] += len(body)
        self.task_ids.extend(task["id"] for task in body)
        return body

    def report(self, task_id: str, status: str, error: str = "") -> None:
        body = {"status": status, **({"error": error} if error else {})}
        code, answer = self.connection.request("POST", f"/api/sms/{task_id}/status/", body)
        if code != 200:
            raise GatewayError(f"status {status} of {task_id} refused ({code}): {answer}")
        self.counts[status] += 1

    def handle(self, tasks: list[dict]) -> None:
        """Send each task as the phone would: wait the radio's latency, then sent (or failed)."""
        for task in tasks:
            if self.latency:
                time.sleep(random.uniform(0.5, 1.5) * self.latency)
            if random.random() < self.failure_rate:
                self.report(task["id"], "failed", "RESULT_ERROR_GENERIC_FAILURE")
            else:
                self.report(task["id"], "sent")
                self._due.append((time.monotonic() + self.delivery_delay, task["id"]))

    def deliver_due(self, *, everything: bool = False) -> None:
        now = time.monotonic()
        due = [item for item in self._due if everything or item[0] <= now]
        self._due = [item for item in self._due if item not in due]
        for _, task_id in due:
            self.report(task_id, "delivered")

    def run(self, stop: threading.Event) -> None:
        """Heartbeat, poll, send and report until `stop` is set."""
        next_beat = next_poll = time.monotonic()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    self.heartbeat()
                    next_beat = now + self.heartbeat_every
                if now >= next_poll:
                    tasks = self.poll()
                    self.handle(tasks)
                    # A phone that got work asks again at once; an idle one waits its interval.
                    next_poll = time.monotonic() + (0 if tasks else self.poll_every)
                self.deliver_due()
                idle = max(0.0, min(next_beat, next_poll) - time.monotonic())
                stop.wait(min(idle, 0.05) if self._due else idle)
            self.deliver_due(everything=True)
        finally:
            self.connection.close()
