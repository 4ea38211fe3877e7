"""`simulate_device`: simulated phones pair, poll, send and report against a live server."""

import pytest
from django.core.management import call_command

from logs.models import Delivery
from tests.conftest import SQLITE
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


# On SQLite the live server's threads share one in-memory connection: concurrent phones break it.
@pytest.mark.skipif(SQLITE, reason="concurrent phones need a database that takes concurrent connections")
def test_simulated_phones_drain_the_pool_queue(live_server, settings, external_send, capsys):
    pool = OrganizationFactory(name="Pool")
    settings.DEVICE_POOL_ORGANIZATION = "Pool"
    UserFactory(organization=pool, email="pool@pool.test")
    for i in range(6):
        assert external_send(f"+1202555{i:04d}", "Hi").status_code == 202
    call_command("simulate_device", url=live_server.url, email="pool@pool.test", count=2, poll=0.2, heartbeat=1,
                 latency=0, delivery_delay=0, duration=3)  # fmt: skip
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    out = capsys.readouterr().out
    assert out.count("device ") == 2 and "delivered" in out


def test_a_wrong_code_is_a_clear_error(live_server):
    with pytest.raises(Exception, match="cannot pair"):
        call_command("simulate_device", url=live_server.url, code="NOSUCHCD", duration=1)
