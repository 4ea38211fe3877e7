"""The channels (providers) and which one sends what for whom.

A provider is one module or package here plus its line in `PROVIDERS` below: its name, the
delivery kinds it sends, whether its credentials are set, how to build it and where its hooks'
URLs are. `channel_for(kind, organization)` routes a delivery: the organization's own choice
(`Organization.routes`, e.g. its own phones) when that provider is set up, else the platform
default: the first configured provider, in the order below, that sends the kind. The console
channel takes every kind and needs nothing, so the embedded default sends (to its outbox) with
nothing configured. The device gateway ("device": the organization's own phones, "pool": the
shared pool) is only ever an organization's choice; an organization that names no SMS route and
has paired phones of its own sends its texts through them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from blasts.channels import console, device, sendgrid, twilio
from blasts.channels.base import Channel, Outgoing, Result
from devices.queue import self_managed
from logs.models import Kind

__all__ = ["PROVIDERS", "Channel", "Outgoing", "Result", "channel_for", "channel_named", "reset_channels"]


@dataclass(frozen=True)
class Provider:
    name: str
    kinds: frozenset[str]
    configured: Callable[[], bool]
    build: Callable[[], Channel]
    urls: str = ""  # the module of its hooks' urlpatterns (mounted at the site root), if it has hooks


PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        Provider(twilio.NAME, twilio.KINDS, twilio.configured, twilio.build, "blasts.channels.twilio.urls"),
        # WhatsApp and RCS through Twilio: its hooks are twilio's (mounted once, above).
        Provider(twilio.WHATSAPP, twilio.WHATSAPP_KINDS, twilio.whatsapp_configured, twilio.build_whatsapp),
        Provider(twilio.RCS, twilio.RCS_KINDS, twilio.rcs_configured, twilio.build_rcs),
        Provider(sendgrid.NAME, sendgrid.KINDS, sendgrid.configured, sendgrid.build, "blasts.channels.sendgrid.urls"),
        Provider(console.NAME, frozenset(Kind.values), lambda: True, console.ConsoleChannel),
        # After the console (which takes every kind): phones are never the platform default.
        Provider(device.OWN, device.KINDS, lambda: True, lambda: device.DeviceChannel(device.OWN, _fallback)),
        Provider(device.POOL, device.KINDS, lambda: True, lambda: device.DeviceChannel(device.POOL, _fallback)),
    )
}


def configured(name: str) -> bool:
    return name in PROVIDERS and PROVIDERS[name].configured()


def route(kind: str, organization=None) -> str:
    """The name of the provider that sends `kind` for `organization` (None: the platform default)."""
    chosen = (getattr(organization, "routes", None) or {}).get(kind)
    if chosen is None and kind == Kind.SMS and organization is not None and self_managed(organization):
        chosen = device.OWN  # it paired phones of its own and named no other route
    if chosen in PROVIDERS and kind in PROVIDERS[chosen].kinds and PROVIDERS[chosen].configured():
        return chosen
    for provider in PROVIDERS.values():
        if kind in provider.kinds and provider.configured():
            return provider.name
    raise LookupError(f"No channel sends {kind!r}.")


def _fallback() -> Channel:
    """The platform's own SMS channel, for texts no phone took in time."""
    return channel_for(Kind.SMS)


def channel_for(kind: str, organization=None) -> Channel:
    return channel_named(route(kind, organization))


def sender_for(kind: str, organization) -> str:
    """The organization's own from-number (texts, calls), Messaging Service SID (texts, when it
    has one) or from-address (email); "" for the channel's default."""
    if kind in (Kind.WHATSAPP, Kind.RCS):
        return ""  # the platform's WhatsApp sender, RCS Messaging Service: an SMS number is neither
    if kind in (Kind.SMS, Kind.MMS) and getattr(organization, "messaging_service_sid", ""):
        return organization.messaging_service_sid  # texts through its own Messaging Service (MG...)
    field = "sender_email" if kind == Kind.EMAIL else "sender_phone"
    return getattr(organization, field, "") or ""


_instances: dict[str, Channel] = {}


def channel_named(name: str) -> Channel:
    """One instance per provider and process (they hold connection pools)."""
    if name not in _instances:
        if name not in PROVIDERS:
            raise LookupError(f"No channel named {name!r}.")
        _instances[name] = PROVIDERS[name].build()
    return _instances[name]


def reset_channels() -> None:
    """Close and forget the instances (settings changed: tests)."""
    while _instances:
        _instances.popitem()[1].close()
