"""One text sent through the gateway (`/api/sms/send/`, `/api/external/send/`).

Routing, as the gateway's two kinds of account work: a self-managed organization (SMS route
"device") names one of its phones (`device_id`, required); any other organization omits it and
the shared pool's phones send for it. With no pool configured the text goes straight to the
organization's normal channel, through the dispatcher.
"""

from celery import signature
from django.db import transaction
from django.utils import timezone

from connext.errors import ApplicationError
from connext.models import Organization, User
from devices import queue
from devices.models import Device
from devices.services import gateway_phone
from logs import state
from logs.models import Delivery, Kind, Message
from subscribers.addresses import InvalidAddress
from subscribers.models import BlocklistEntry


def sms_send(*, organization: Organization, user: User | None, to: str, text: str, device_id: int | None) -> dict:
    """Queue one text; returns the wire answer (`202 {id, status, ...}`). One transaction."""
    own = queue.self_managed(organization)
    if own and device_id is None:
        raise ApplicationError("Required: this account sends through its own phones; name one.", field="device_id")
    if not own and device_id is not None:
        raise ApplicationError(
            "Must be omitted: this account is served by the platform's device pool.", field="device_id"
        )
    device = None
    if device_id is not None:
        device = Device.objects.filter(pk=device_id, organization=organization).first()
        if device is None:
            raise ApplicationError("No such device in your organization.", field="device_id")
        if not device.active:
            raise ApplicationError("This device is switched off (active is 0).", field="device_id")
    try:
        phone = gateway_phone(to, organization.default_region)
    except InvalidAddress as exc:
        raise ApplicationError(str(exc), field="to") from None
    if BlocklistEntry.objects.filter(organization=organization, recipient=phone).exists():
        raise ApplicationError("This number is on your blocklist (it opted out or was blocked).", field="to")
    fleet = queue.fleet_for(organization, pool=not own)
    with transaction.atomic():
        message = Message.objects.create(
            organization=organization, user=user, types=[Kind.SMS], message=text, recipients=1,
            fanned_out_at=timezone.now(),
        )  # fmt: skip
        delivery = Delivery.objects.create(
            message=message, channel=Kind.SMS, recipient=phone, provider=state.HELD if fleet else ""
        )
        if fleet is None:  # no phones to wait for: the dispatcher sends it now
            transaction.on_commit(lambda: signature(queue.DISPATCH_TASK, args=(message.pk,)).apply_async(), robust=True)
        else:
            queue.enqueue([(delivery.pk, phone, text)], fleet=fleet, pinned=device)
    return {
        "id": str(delivery.pk), "status": delivery.status, "to": phone,
        "device_id": str(device.pk) if device else None, "log_id": message.pk,
    }  # fmt: skip
