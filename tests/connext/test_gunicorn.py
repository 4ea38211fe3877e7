"""gunicorn.conf.py: what gunicorn answers itself, before Django sees a request, is JSON too."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "connext.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def raw(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


def test_a_long_keyword_still_reaches_the_api(server):
    status, _, body = raw(server, f"GET /api/v1/logs?keyword={'a' * 7000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status.split()[1] == "401" and json.loads(body)["message"]  # Django answered: no key


def test_too_long_a_request_line_is_a_json_414(server):
    status, headers, body = raw(server, f"GET /api/v1/logs?keyword={'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status.split()[1] == "414" and headers["Content-Type"] == "application/json"
    assert "too large" in json.loads(body)["message"]


def test_a_malformed_header_is_a_json_400(server):
    status, headers, body = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    assert status.split()[1] == "400" and headers["Content-Type"] == "application/json"
    assert json.loads(body)["message"]
