"""The ops commands of API.md: createorg, createapikey, createpairingcode."""

import datetime
import io
import os
import sys
import zoneinfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apikeys.models import APIKey
from connext import roles
from connext.models import Organization, User
from devices.models import PairingCode
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


def test_createorg_makes_org_and_staff_admin_and_prints_the_id():
    lines = run(
        "createorg",
        "Acme Schools",
        "--admin-email",
        "Boss@Acme.test",
        "--password",
        "s3cret-Pass!",
        "--timezone",
        "America/Chicago",
    )
    org = Organization.objects.get(pk=int(lines[-1]))
    assert (org.name, org.timezone) == ("Acme Schools", "America/Chicago")
    admin = User.objects.get(email="boss@acme.test")
    assert admin.organization == org and admin.is_staff and not admin.is_superuser
    assert admin.check_password("s3cret-Pass!")
    assert list(admin.groups.values_list("name", flat=True)) == [roles.ORG_ADMIN]


def test_createorg_refuses_a_bad_timezone_and_a_taken_email():
    with pytest.raises(CommandError, match="timezone"):
        run("createorg", "X", "--admin-email", "x@x.test", "--timezone", "Mars/Olympus")
    assert not Organization.objects.exists()
    run("createorg", "X", "--admin-email", "x@x.test")
    with pytest.raises(CommandError, match="already exists"):
        run("createorg", "Y", "--admin-email", "X@x.test")
    assert Organization.objects.count() == 1


def test_createapikey_prints_a_working_key_on_the_last_line():
    run("createorg", "Acme", "--admin-email", "a@acme.test")
    key = run("createapikey", "--email", "a@acme.test", "--name", "CRM")[-1]
    assert key.startswith("cnxt_")
    stored = APIKey.objects.get()
    assert (stored.name, stored.scope, stored.expires_at) == ("CRM", "full", None)
    response = ApiClient(key).get("/api/v1/groups")
    assert response.status_code == 200


def test_createapikey_with_scope_and_expiry():
    run("createorg", "Acme", "--admin-email", "a@acme.test", "--timezone", "America/New_York")
    tomorrow = (timezone.now() + datetime.timedelta(days=1)).date()
    key = run(
        "createapikey",
        "--email",
        "a@acme.test",
        "--name",
        "Zapier",
        "--scope",
        "send",
        "--expires",
        tomorrow.isoformat(),
    )[-1]
    stored = APIKey.objects.get()
    assert stored.scope == "send"
    end_of_day = datetime.datetime.combine(
        tomorrow + datetime.timedelta(days=1), datetime.time(), tzinfo=zoneinfo.ZoneInfo("America/New_York")
    )
    assert stored.expires_at == end_of_day
    assert ApiClient(key).get("/api/v1/groups").status_code == 403  # send-only never reads


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--email", "nobody@acme.test", "--name", "k"], "No user"),
        (["--email", "a@acme.test", "--name", "k", "--expires", "next week"], "YYYY-MM-DD"),
        (["--email", "a@acme.test", "--name", "k", "--expires", "2001-01-01"], "past"),
    ],
)
def test_createapikey_errors(args, error):
    run("createorg", "Acme", "--admin-email", "a@acme.test")
    with pytest.raises(CommandError, match=error):
        run("createapikey", *args)
    assert not APIKey.objects.exists()


def test_createpairingcode_prints_a_one_time_code_valid_ten_minutes():
    run("createorg", "Acme", "--admin-email", "a@acme.test")
    code = run("createpairingcode", "--email", "a@acme.test")[-1]
    stored = PairingCode.objects.get(code=code)
    assert stored.organization.name == "Acme"
    assert stored.usable
    ttl = stored.expires_at - timezone.now()
    assert datetime.timedelta(minutes=9) < ttl <= datetime.timedelta(minutes=10)
    assert run("createpairingcode", "--email", "a@acme.test")[-1] != code


def test_roles_are_synced_after_migrate():
    from django.contrib.auth.models import Group as Role

    perms = {role.name: set(role.permissions.values_list("codename", flat=True)) for role in Role.objects.all()}
    assert {"view_group", "add_group", "change_group", "delete_group", "add_apikey"} <= perms[roles.ORG_ADMIN]
    assert {"view_group", "add_group"} <= perms[roles.SENDER] and "add_apikey" not in perms[roles.SENDER]
    assert "view_group" in perms[roles.VIEWER] and "add_group" not in perms[roles.VIEWER]


def test_quickstart_names_the_stack_it_runs_on(settings):
    from connext.management.commands.quickstart import Command

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = "AC1", "t", "+15005550006"
    settings.SENDGRID_API_KEY = ""
    stack = Command._stack()
    assert "SMS/MMS/voice: Twilio channel" in stack and "email: console channel" in stack
    assert stack.startswith("SQLite" if connection.vendor == "sqlite" else "PostgreSQL")


def test_dev_up_starts_an_exited_process_again_until_it_keeps_exiting(tmp_path):
    from connext.management.commands.quickstart import Children

    runs = tmp_path / "runs"
    exits_at_once = [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x')"]
    logged = []
    children = Children({"worker": exits_at_once}, dict(os.environ), log=logged.append)
    try:
        for _ in range(Children.MAX_RESTARTS):
            children.running["worker"].wait(10)
            children.restart_exited()
        children.running["worker"].wait(10)
        with pytest.raises(CommandError, match="4 times in a minute"):
            children.restart_exited()
    finally:
        children.stop()
    assert runs.read_text() == "xxxx"
    assert logged == ["worker exited with code 0; starting it again"] * 3


def test_dev_up_can_add_simulated_phones_to_the_demo_organization(db):
    from connext.management.commands.quickstart import DEMO_ORG, Children, Command

    org = Organization.objects.create(name=DEMO_ORG)
    children = Children({}, dict(os.environ), log=print)
    command = Command()
    try:
        command._simulate_devices(children, "http://127.0.0.1:1", 2)
        argv = children.procs["devices"]
        assert argv[2:4] == ["simulate_device", "--url"] and argv[argv.index("--count") + 1] == "2"
    finally:
        children.stop()
    org.refresh_from_db()
    assert org.routes == {"sms": "device"}
