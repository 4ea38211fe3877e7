"""Loopback stand-ins for the providers' HTTP APIs, spoken well enough for their real SDKs.

`run_in_thread(TwilioStub)` / `run_in_thread(SendGridStub)` serve one on an
ephemeral 127.0.0.1 port for a test; `python -m tests.stubs.twilio_stub --port 0`
serves one in its own process for a benchmark. Each records every accepted send
and can be told to answer slowly or with errors (see `server.Stub`).
"""

from tests.stubs.server import Fault, Rule, Stub, run_in_thread, unused_url

__all__ = ["Fault", "Rule", "Stub", "run_in_thread", "unused_url"]
