"""Raw throughput of TwilioChannel.send_batch: SMS through the real twilio SDK (async API)
to the Twilio stub running in its own process with a fixed latency per request.

    .venv/bin/python bench/twilio_channel_speed.py [--sends 2000] [--latency 0.1]
        [--concurrency 100] [--rounds 3] [--profile]

Each round sends one batch of `--sends` SMS on one channel (its loop and connections kept
across rounds, as a worker keeps them across batches); the first round also pays for the
loop, the client and the connections. Reported: seconds, sends/s and this process's CPU
per send for each round, and the ceiling `concurrency / latency`. Target: 450+ sends/s at
0.1 s and concurrency 100 on 2 cores shared with the stub. `--profile` prints the cProfile
of the last round (the functions that take the most time themselves).
"""

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connext.settings")
os.environ.setdefault("ALLOW_DEVELOPMENT_SECRET_KEY", "true")  # the development SECRET_KEY, DEBUG off

import django  # noqa: E402

django.setup()  # the channel speaks in our kinds and refusals (logs.models, logs.reports)

from blasts.channels.base import Outgoing  # noqa: E402
from blasts.channels.twilio.client import TwilioChannel  # noqa: E402
from tests.stubs.twilio_stub import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last round")
    args = parser.parse_args()

    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.stubs.twilio_stub", "--port", "0", "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = stub.stdout.readline().strip()
        if not base_url.startswith("http"):
            sys.exit("the stub did not start")
        channel = TwilioChannel(
            TEST_ACCOUNT_SID,
            TEST_AUTH_TOKEN,
            "+15005550006",
            base_url=base_url,
            public_base_url="https://connext.example",
            concurrency=args.concurrency,
        )
        items = [
            Outgoing(i, "sms", f"+1202555{i % 10000:04d}", body=f"Hello #{i}, the meeting moved to 3pm.")
            for i in range(args.sends)
        ]
        print(
            f"{args.sends} SMS, latency {args.latency} s, concurrency {args.concurrency}: "
            f"ceiling {args.concurrency / args.latency:.0f} sends/s"
        )
        for round_ in range(1, args.rounds + 1):
            profiler = cProfile.Profile() if args.profile and round_ == args.rounds else None
            start, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            results = channel.send_batch(items)
            if profiler:
                profiler.disable()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            failed = sum(not r.ok for r in results)
            print(
                f"round {round_}: {elapsed:.2f} s, {args.sends / elapsed:.0f} sends/s, {failed} failed, "
                f"{cpu * 1e6 / args.sends:.0f} µs of this process's CPU per send"
            )
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        channel.close()
    finally:
        stub.terminate()
        _, status, usage = os.wait4(stub.pid, 0)  # its CPU time too: is it the stub that limits?
        stub.returncode = os.waitstatus_to_exitcode(status)
    total = args.sends * args.rounds
    print(f"stub process: {(usage.ru_utime + usage.ru_stime) * 1e6 / total:.0f} µs of CPU per send")


if __name__ == "__main__":
    main()
