import pytest

from tests.signing import twilio_hooks


@pytest.fixture
def client(app_client):
    """Provider callbacks reach the app here as gunicorn serves it: `connext.wsgi.application`."""
    return app_client


@pytest.fixture
def twilio(client):
    """Twilio calling our hooks through `client`: `twilio.post(path, params)` is signed as Twilio
    signs, and the app's settings (auth token, PUBLIC_BASE_URL) accept it for the test."""
    with twilio_hooks(client) as hooks:
        yield hooks
