"""Provider callbacks (no API key: each provider's signature is the auth), mounted at the site root."""

urlpatterns: list = []
