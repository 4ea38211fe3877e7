"""Static checks of the production deployment files.

There is no Docker daemon in CI, so these parse docker-compose.yml, the
Dockerfile and .env.example and check them against what the app reads.
"""

import ast
import re
import shlex
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS_FILE = ROOT / "connext" / "settings.py"

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
# Provider variables the operating contract (API.md, README "Settings") documents.
# settings.py does not read them yet; while it doesn't, .env.example may still list them.
PROVIDER_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_API_BASE_URL",
    "SENDGRID_API_KEY",
    "SENDGRID_FROM_EMAIL",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "SENDGRID_API_BASE_URL",
)
# Compose passes these through from .env with `${NAME:-...}`.
PASS_THROUGH = ("ALLOWED_HOSTS", "PUBLIC_BASE_URL", "ALLOW_PRIVATE_URLS", *PROVIDER_VARIABLES)
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service(name: str) -> dict:
    return compose()["services"][name]


def command_text(svc: dict) -> str:
    command = svc.get("command", "")
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(svc: dict) -> dict[str, str]:
    """Service name -> start condition (short list syntax means service_started)."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_text(svc: dict) -> str:
    test = (svc.get("healthcheck") or {}).get("test", "")
    return test if isinstance(test, str) else " ".join(test)


@cache
def settings_reads() -> frozenset[str]:
    """Names passed to env(...), env.bool(...), env.db(...) etc. or os.environ in settings.py."""
    names = set()
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text())):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = node.func
        reads_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and (
                (isinstance(func.value, ast.Name) and func.value.id == "env")
                or func.attr == "getenv"
                or (func.attr == "get" and isinstance(func.value, ast.Attribute) and func.value.attr == "environ")
            )
        )
        if reads_env and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return frozenset(names)


@cache
def env_example_names() -> frozenset[str]:
    """`NAME=value` lines, including optional ones commented out as `# NAME=value`."""
    pattern = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return frozenset(pattern.findall(ENV_EXAMPLE.read_text()))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            rows.append((instruction.upper(), rest.strip()))
    return rows


# --- docker-compose.yml: services and start order ------------------------------


@pytest.mark.parametrize("name", [*APP_SERVICES, *BACKING_SERVICES])
def test_service_exists(name):
    assert name in compose()["services"]


def test_every_depends_on_target_exists():
    services = compose()["services"]
    missing = {(name, dep) for name, svc in services.items() for dep in depends_on(svc) if dep not in services}
    assert not missing


def test_postgres_has_pg_isready_healthcheck():
    assert "pg_isready" in healthcheck_text(service("postgres"))


def test_redis_has_ping_healthcheck():
    assert "redis-cli ping" in healthcheck_text(service("redis"))


def test_postgres_data_is_on_a_named_volume():
    named = set(compose().get("volumes") or {})
    mounts = [str(volume).split(":")[0] for volume in service("postgres").get("volumes", [])]
    assert any(mount in named for mount in mounts)


@pytest.mark.parametrize("name", APP_SERVICES)
@pytest.mark.parametrize("backing", BACKING_SERVICES)
def test_app_service_waits_for_healthy_backing_service(name, backing):
    assert depends_on(service(name)).get(backing) == "service_healthy"


def migration_runners(name: str) -> list[str]:
    """How migrations run before `name`: inline in its command, or a one-shot it waits for."""
    svc = service(name)
    runners = []
    if re.search(r"manage\.py migrate\b.*&&.*\b(gunicorn|celery)\b", command_text(svc)):
        runners.append(name)
    for dep, condition in depends_on(svc).items():
        if condition == "service_completed_successfully" and "manage.py migrate" in command_text(service(dep)):
            runners.append(dep)
    return runners


def test_migrations_run_before_web_starts():
    assert migration_runners("web")


def test_one_shot_migrate_service_is_not_restarted():
    # A one-shot that restarts "unless-stopped" would rerun migrate forever.
    present = [name for name in APP_SERVICES if name in compose()["services"]]
    one_shots = {runner for name in present for runner in migration_runners(name) if runner != name}
    for runner in one_shots:
        assert str(service(runner).get("restart", "no")) in {"no", "on-failure"}


@pytest.mark.parametrize("name", [*APP_SERVICES, *BACKING_SERVICES])
def test_long_running_services_restart(name):
    assert service(name).get("restart") == "unless-stopped"


# --- docker-compose.yml: commands ----------------------------------------------


def test_web_runs_gunicorn_with_connext_wsgi():
    command = command_text(service("web"))
    assert re.search(r"\bgunicorn\b.*\bconnext\.wsgi(:application)?\b", command)
    assert "0.0.0.0:8000" in command


def test_web_publishes_port_8000():
    ports = service("web").get("ports", [])
    targets = {str(port.get("target")) if isinstance(port, dict) else str(port).rsplit(":", 1)[-1] for port in ports}
    assert "8000" in targets


def test_web_healthcheck_requests_healthz_without_curl():
    check = healthcheck_text(service("web"))
    assert "localhost:8000/healthz" in check
    assert "urllib" in check


def test_worker_runs_celery_worker():
    assert re.search(r"\bcelery\s+(-A|--app)[ =]connext\s+worker\b", command_text(service("worker")))


def test_beat_runs_celery_beat():
    assert re.search(r"\bcelery\s+(-A|--app)[ =]connext\s+beat\b", command_text(service("beat")))


# --- docker-compose.yml: environment -------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_database_url_points_at_postgres_service(name):
    url = urlsplit(environment(service(name)).get("DATABASE_URL", ""))
    assert url.scheme in {"postgres", "postgresql"}
    assert url.hostname == "postgres"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_redis_url_points_at_redis_service(name):
    url = urlsplit(environment(service(name)).get("REDIS_URL", ""))
    assert url.scheme == "redis"
    assert url.hostname == "redis"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secret_key_is_required_not_defaulted(name):
    assert environment(service(name)).get("SECRET_KEY", "").startswith("${SECRET_KEY:?")


@pytest.mark.parametrize("name", APP_SERVICES)
@pytest.mark.parametrize("variable", PASS_THROUGH)
def test_documented_variable_is_passed_through(name, variable):
    assert re.search(rf"\$\{{{variable}:-", environment(service(name)).get(variable, ""))


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_app_services_share_one_environment(name):
    shared = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", *PASS_THROUGH}
    web_env, env = environment(service("web")), environment(service(name))
    assert {key: env.get(key) for key in shared} == {key: web_env.get(key) for key in shared}


# --- .env.example ----------------------------------------------------------------


def test_settings_reads_are_found():
    # Guards the two tests below against a parser that silently finds nothing.
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "DEBUG"} <= settings_reads()


def test_env_example_lists_every_variable_settings_reads():
    assert settings_reads() - env_example_names() == set()


def test_env_example_lists_only_variables_settings_reads():
    source = SETTINGS_FILE.read_text()
    unknown = {name for name in env_example_names() if not re.search(rf"[\"']{name}[\"']", source)}
    assert unknown == set()


def test_env_example_documents_each_variable_with_a_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    assignment = re.compile(r"^\s*#?\s*[A-Z][A-Z0-9_]*=")
    for index, line in enumerate(lines):
        if assignment.match(line):
            previous = lines[index - 1] if index else ""
            assert previous.startswith("#") and not assignment.match(previous), line


def test_env_example_secret_key_is_a_placeholder():
    text = ENV_EXAMPLE.read_text()
    value = re.search(r"^SECRET_KEY=(.*)$", text, re.MULTILINE).group(1)
    assert "replace" in value.lower() or "change" in value.lower()
    assert "secrets.token" in text or "generate" in text.lower()


# --- Dockerfile --------------------------------------------------------------------


def test_dockerfile_base_image_is_python_311():
    froms = [rest for instruction, rest in dockerfile_instructions() if instruction == "FROM"]
    assert froms
    assert froms[0].split()[0].startswith("python:3.11")


def test_dockerfile_runs_as_non_root_user():
    users = [rest for instruction, rest in dockerfile_instructions() if instruction == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_installs_project_and_collects_static():
    runs = " ".join(rest for instruction, rest in dockerfile_instructions() if instruction == "RUN")
    assert "pip install ." in runs
    assert "collectstatic --noinput" in runs


def test_dockerfile_exposes_8000_and_serves_gunicorn():
    rows = dockerfile_instructions()
    assert ("EXPOSE", "8000") in rows
    cmd = next(rest for instruction, rest in reversed(rows) if instruction == "CMD")
    assert re.search(r"\bgunicorn\b.*\bconnext\.wsgi:application\b", cmd)


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", "db.sqlite3", ".git", ".env"} <= ignored


def test_env_example_has_only_comments_and_assignments():
    # Compose's .env parser and a shell `set -a; . .env` both accept these lines.
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, equals, value = line.partition("=")
            assert equals and ENV_NAME.match(name), line
            assert shlex.split(value) in ([], [value]), line
