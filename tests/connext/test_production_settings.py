"""A production start (DEBUG off) on the development SECRET_KEY, or on .env.example's
placeholder, refuses to start; a development run says it is one with
ALLOW_DEVELOPMENT_SECRET_KEY (./dev up, tests/settings.py). Each case starts Python afresh,
as gunicorn, Celery or manage.py would, in an environment of its own."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

DEVELOPMENT_SECRET_KEY = "connext-insecure-development-key-change-me"  # settings.py's default
REFUSAL = "SECRET_KEY is unset or a published placeholder, and DEBUG is off"
PLACEHOLDER = "replace-me-with-a-generated-secret"  # .env.example's
A_REAL_KEY = "k3Jq9-a-long-random-production-key-Zx81vPq0wLm4Tn7Rb2Yc5Hd"

STARTS = {
    "check --deploy": ["manage.py", "check", "--deploy"],
    "the WSGI app gunicorn loads": ["-c", "from connext.wsgi import application"],
    "django.setup()": ["-c", "import django; django.setup()"],
}


def start(argv: list[str], tmp_path, **variables) -> subprocess.CompletedProcess:
    """Python with only these variables set (and PATH), from the repository root."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "connext.settings",
        "CONNEXT_VAR_DIR": str(tmp_path),  # the embedded broker's folders, not the checkout's
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **variables,
    }
    return subprocess.run(
        [sys.executable, *argv], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("argv", STARTS.values(), ids=STARTS.keys())
@pytest.mark.parametrize("key", [DEVELOPMENT_SECRET_KEY, PLACEHOLDER], ids=["development key", "placeholder"])
def test_production_refuses_to_start_on_a_published_key(tmp_path, argv, key):
    # DEBUG and the flag spelled out: a .env beside manage.py must not decide this test.
    done = start(argv, tmp_path, SECRET_KEY=key, DEBUG="false", ALLOW_DEVELOPMENT_SECRET_KEY="false")
    assert done.returncode != 0
    assert REFUSAL in done.stderr
    assert "Set SECRET_KEY to a long random value" in done.stderr


@pytest.mark.parametrize(
    "variables",
    [
        {"SECRET_KEY": A_REAL_KEY, "DEBUG": "false", "ALLOW_DEVELOPMENT_SECRET_KEY": "false"},  # production
        {"SECRET_KEY": DEVELOPMENT_SECRET_KEY, "DEBUG": "false", "ALLOW_DEVELOPMENT_SECRET_KEY": "true"},  # ./dev up
        {"SECRET_KEY": DEVELOPMENT_SECRET_KEY, "DEBUG": "true", "ALLOW_DEVELOPMENT_SECRET_KEY": "false"},
    ],
    ids=["a real key", "a development run", "DEBUG on"],
)
def test_these_start(tmp_path, variables):
    done = start(STARTS["django.setup()"], tmp_path, **variables)
    assert done.returncode == 0, done.stderr


def test_the_tests_run_as_a_development_run():
    """What lets this suite (and the worker and gunicorn processes it starts) run on the
    development key: tests/settings.py."""
    assert settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY or os.environ.get("SECRET_KEY")
    assert os.environ["ALLOW_DEVELOPMENT_SECRET_KEY"] == "true"
