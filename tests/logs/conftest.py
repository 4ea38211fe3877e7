import pytest


@pytest.fixture
def client(app_client):
    """Provider callbacks reach the app here as gunicorn serves it: `connext.wsgi.application`."""
    return app_client
