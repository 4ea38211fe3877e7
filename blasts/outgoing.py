"""A message's deliveries rendered into the channels' `Outgoing` items: merge fields per
recipient, short links (stored once per delivery and URL, reused by a retry), the email's
unsubscribe link, and for WhatsApp / RCS the Content template's variables.

WhatsApp: a recipient who wrote to us within the last 24 hours (an open session) gets the
message as free text; anyone else gets the approved template (contentSid) with its variables.
RCS: the template (a rich card, a carousel) when the blast has one, else the text.
"""

import json
from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, transaction

from blasts import rendering
from blasts.audience import is_audio
from blasts.channels import Outgoing
from blasts.links import new_code, replace_urls
from blasts.unsubscribe import unsubscribe_url
from logs.inbound import open_sessions
from logs.models import Kind, Link, Message
from subscribers.models import Subscriber


class Renderer:
    """Turns a message's deliveries into the channels' `Outgoing` items."""

    def __init__(self, message: Message):
        self.message = message
        self.body = rendering.compile_template(message.message)
        self.subject = rendering.compile_template(message.subject)
        self.media_urls = tuple(m["url"] for m in message.media)
        self.audio_urls = tuple(m["url"] for m in message.media if is_audio(m))
        self.base = settings.PUBLIC_BASE_URL
        self.variables = {
            key: rendering.compile_template(value) for key, value in (message.content_variables or {}).items()
        }
        self.uses_attributes = (
            self.body.uses_attributes
            or self.subject.uses_attributes
            or any(t.uses_attributes for t in self.variables.values())
        )

    def values_for(self, rows: list[dict]) -> dict[int | None, dict]:
        ids = {row["subscriber_id"] for row in rows if row["subscriber_id"]}
        # Custom attributes are read only when a merge field names one.
        custom = ["attributes"] if self.uses_attributes else []
        values = {
            s["id"]: rendering.merge_values(s) if custom else s
            for s in Subscriber.objects.filter(id__in=ids).values(
                "id", "first", "last", "phone", "email", "address", "city", "state", "zip", *custom
            )
        }
        if self.message.test and self.message.user_id:
            user = self.message.user
            values[None] = {"first": user.first_name, "last": user.last_name, "phone": user.phone, "email": user.email}
        return values

    def links_for(self, rows: list[dict]) -> dict[int, dict[str, str]]:
        """Existing short links of these deliveries (a retry reuses them)."""
        if not self.message.shorten_links:
            return {}
        out: dict[int, dict[str, str]] = defaultdict(dict)
        for link in Link.objects.filter(delivery_id__in=[r["id"] for r in rows]).values("delivery_id", "url", "code"):
            out[link["delivery_id"]][link["url"]] = link["code"]
        return out

    def render(self, rows: list[dict], *, sender: str = "") -> list[Outgoing]:
        """One item per row (id, channel, recipient, subscriber_id), from `sender` ("" = the
        channel's default)."""
        values = self.values_for(rows)
        existing = self.links_for(rows)
        # WhatsApp: who may get free text now (an open session); the others get the template.
        in_session = open_sessions(Kind.WHATSAPP, [r["recipient"] for r in rows if r["channel"] == Kind.WHATSAPP])
        for _ in range(5):
            new_links: list[Link] = []
            items = []
            for row in rows:
                fields = values.get(row["subscriber_id"]) or {}
                body = self.body.render(fields)
                kind = row["channel"]
                if self.message.shorten_links and kind != Kind.VOICE:
                    known = dict(existing.get(row["id"], {}))
                    body = replace_urls(body, self._shortener(row["id"], known, new_links))
                items.append(self._outgoing(row, kind, body, fields, sender, in_session))
            try:
                if new_links:
                    with transaction.atomic():
                        Link.objects.bulk_create(new_links)
                return items
            except IntegrityError:  # a short code drawn twice (1 in 10^14): render with new codes
                continue
        raise RuntimeError("Could not store short links.")

    def _shortener(self, delivery_id: int, known: dict[str, str], new_links: list[Link]):
        def shorten(url: str) -> str:
            code = known.get(url)
            if code is None:
                link = Link(code=new_code(), delivery_id=delivery_id, url=url)
                new_links.append(link)
                known[url] = code = link.code
            return f"{self.base}/l/{code}"

        return shorten

    def _outgoing(self, row: dict, kind: str, body: str, fields: dict, sender: str, in_session=()) -> Outgoing:
        to = row["recipient"]
        if kind in (Kind.WHATSAPP, Kind.RCS):
            content_sid = self.message.content_sid
            if kind == Kind.WHATSAPP and to in in_session and body.strip():
                content_sid = ""  # inside the 24-hour window: free text
            if not content_sid:
                return Outgoing(row["id"], kind, to, body, sender=sender)
            variables = {key: template.render(fields) for key, template in self.variables.items()}
            rendered = json.dumps(variables, ensure_ascii=False) if variables else ""
            return Outgoing(
                row["id"], kind, to, body, sender=sender, content_sid=content_sid, content_variables=rendered
            )
        if kind == Kind.EMAIL:
            # Every channel takes the subject from here: one header line, whatever the merge fields hold.
            subject = rendering.one_line(self.subject.render(fields))
            unsubscribe = unsubscribe_url(self.message.organization_id, to)
            return Outgoing(row["id"], kind, to, body, subject=subject, unsubscribe_url=unsubscribe, sender=sender,
                            sender_name=self.message.organization.sender_name)  # fmt: skip
        media = self.audio_urls if kind == Kind.VOICE else self.media_urls if kind == Kind.MMS else ()
        return Outgoing(row["id"], kind, to, body, media_urls=media, sender=sender)
