"""The hooks of every provider (no API key: each provider's signature is the auth), at the site root."""

from django.urls import include, path

from blasts.channels import PROVIDERS

urlpatterns = [path("", include(provider.urls)) for provider in PROVIDERS.values() if provider.urls]
