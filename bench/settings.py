"""The app's settings plus the bench-only routes (`bench.urls`); used by bench/ scripts only."""

import os

# The benchmarks run on the development SECRET_KEY with DEBUG off, as production does not.
os.environ.setdefault("ALLOW_DEVELOPMENT_SECRET_KEY", "true")

from connext.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
