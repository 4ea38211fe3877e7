"""Clicks on a delivery's links: our short links (`GET /l/{code}`) and those a provider tracked."""

from collections import defaultdict

from django.db.models import F

from connext import changes
from logs.models import Click, Delivery, Link


def link_clicked(link: Link, *, ip: str | None, user_agent: str) -> None:
    """A recipient followed one of our short links: a Click, and the delivery's `clicks` + 1."""
    count_clicks([Click(link=link, delivery_id=link.delivery_id, url=link.url, ip=ip, user_agent=user_agent[:255])])


def count_clicks(clicks: list[Click]) -> int:
    """Store the clicks not stored yet (by event id) and add them to their deliveries' `clicks`.
    Returns how many were new. A concurrent post of the same events fails on the unique event
    id and rolls back; the provider then retries, and they are found stored."""
    event_ids = {click.event_id for click in clicks if click.event_id}
    seen = set(Click.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True)) if event_ids else set()
    new = []
    for click in clicks:
        if click.event_id:
            if click.event_id in seen:
                continue  # counted when the provider first posted it
            seen.add(click.event_id)
        new.append(click)
    if not new:
        return 0
    if len(new) == 1:
        new[0].save()
    else:
        Click.objects.bulk_create(new)
    per_delivery: dict[int, int] = defaultdict(int)
    for click in new:
        per_delivery[click.delivery_id] += 1
    by_count: dict[int, list[int]] = defaultdict(list)
    for delivery_id, n in per_delivery.items():
        by_count[n].append(delivery_id)
    for n, delivery_ids in by_count.items():  # one UPDATE per distinct count, usually one
        Delivery.objects.filter(id__in=delivery_ids).update(clicks=F("clicks") + n)
    changes.announce([changes.DeliveryClicked(click.delivery_id, click.url, click.created_at) for click in new])
    return len(new)
