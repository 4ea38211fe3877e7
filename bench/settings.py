"""The app's settings plus the bench-only routes (`bench.urls`); used by bench/ scripts only."""

from connext.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
