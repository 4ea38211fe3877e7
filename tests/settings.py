"""The app's settings for the test suite (pyproject.toml's DJANGO_SETTINGS_MODULE).

The tests run on the development SECRET_KEY with DEBUG off, as the quick start does: say so
before connext.settings refuses it (it would in production). Set in the environment, so the
processes the tests start (a Celery worker, gunicorn) run on it too."""

import os

os.environ.setdefault("ALLOW_DEVELOPMENT_SECRET_KEY", "true")

from connext.settings import *  # noqa: F403
