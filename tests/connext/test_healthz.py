import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_database_and_broker_answer(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert anon.get("/healthz/").status_code == 200


def test_healthz_is_503_when_the_broker_is_down(anon):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:9/0"):  # nothing listens on port 9
        response = anon.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"] == {"database": "ok", "broker": "down"}
