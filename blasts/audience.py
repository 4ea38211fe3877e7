# ruff: noqa: S608 -- SQL built from fixed column names and %s placeholders; every value is a bound parameter
"""Who a blast reaches: groups minus dnc groups, per channel, as SQL.

The same WHERE clause counts recipients (`POST /blasts`, estimate) and fans a
message out into deliveries (`INSERT ... SELECT`), so the count a sender is
shown is the set that gets the message.

Per channel:
- sms / mms: enabled subscribers with a phone and `text = 1` (they take texts);
- voice: enabled subscribers with a phone; with `voiceFallback` on a text blast,
  the voice channel also calls the phones that don't take texts;
- email: enabled subscribers with an email.
An address on the organization's blocklist is never included.
"""

from dataclasses import dataclass

from connext.models import Organization
from logs.models import TEXT_KINDS, Kind
from subscribers.services import groups_for_numbers

TEXT_TYPES = TEXT_KINDS
AUDIO = "audio"  # a requested type, not a kind: a call that plays the blast's recording


def is_audio(media: dict) -> bool:
    """A recording a call can play: an audio/* type, or an .mp3/.wav URL."""
    kind = (media.get("type") or "").lower()
    return kind.startswith("audio") or media["url"].lower().split("?", 1)[0].endswith((".mp3", ".wav"))


@dataclass(frozen=True)
class Plan:
    """The channels a blast goes out on, from its requested `types`."""

    text: str | None  # "sms" or "mms" (with media) or None
    voice: bool  # a call: text-to-speech, or the recording for `audio`
    voice_fallback_only: bool  # calls only to phones that don't take texts
    email: bool

    def channel_of(self, requested_type: str) -> str:
        """The channel a requested type goes out on."""
        if requested_type in TEXT_TYPES:
            return self.text
        return Kind.VOICE if requested_type in (Kind.VOICE, AUDIO) else requested_type

    @property
    def channels(self) -> list[str]:
        out = [self.text] if self.text else []
        if self.voice or self.voice_fallback_only:
            out.append(Kind.VOICE)
        if self.email:
            out.append(Kind.EMAIL)
        return out


def plan_for(types: list[str], *, has_media: bool, voice_fallback: bool) -> Plan:
    text = None
    if Kind.MMS in types or (Kind.SMS in types and has_media):
        text = Kind.MMS
    elif Kind.SMS in types:
        text = Kind.SMS
    voice = Kind.VOICE in types or AUDIO in types
    return Plan(
        text=text,
        voice=voice,
        voice_fallback_only=bool(text) and voice_fallback and not voice,
        email=Kind.EMAIL in types,
    )


@dataclass(frozen=True)
class Audience:
    organization_id: int
    group_ids: tuple[int, ...]
    dnc_ids: tuple[int, ...]


def audience_for(org: Organization, groups: list[int], dnc: list[int]) -> Audience:
    """Group numbers to ids; an unknown number is a 400 naming `groups` or `dnc`."""
    return Audience(
        organization_id=org.pk,
        group_ids=tuple(g.pk for g in groups_for_numbers(org, groups, field="groups")),
        dnc_ids=tuple(g.pk for g in groups_for_numbers(org, dnc, field="dnc")),
    )


def _in_list(ids: tuple[int, ...]) -> str:
    return ", ".join(["%s"] * len(ids))


def channel_where(audience: Audience, channel: str, plan: Plan) -> tuple[str, str, list]:
    """(address column, WHERE clause over subscribers `s`, params) for one channel."""
    column = blocked_type = "email" if channel == Kind.EMAIL else "phone"  # the column, and the blocklist type
    clauses = ["s.organization_id = %s", "s.enabled", f"s.{column} <> ''"]
    params: list = [audience.organization_id]
    if channel in TEXT_TYPES:
        clauses.append("s.text")
    elif channel == Kind.VOICE and not plan.voice:
        clauses.append("NOT s.text")  # voice fallback only: the phones a text can't reach
    clauses.append(
        "EXISTS (SELECT 1 FROM subscribers_subscriber_groups g "
        f"WHERE g.subscriber_id = s.id AND g.group_id IN ({_in_list(audience.group_ids)}))"
    )
    params += audience.group_ids
    if audience.dnc_ids:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM subscribers_subscriber_groups d "
            f"WHERE d.subscriber_id = s.id AND d.group_id IN ({_in_list(audience.dnc_ids)}))"
        )
        params += audience.dnc_ids
    clauses.append(
        "NOT EXISTS (SELECT 1 FROM subscribers_blocklistentry b "
        f"WHERE b.organization_id = %s AND b.recipient = s.{column} AND b.type = %s)"
    )
    params += [audience.organization_id, blocked_type]
    return column, " AND ".join(clauses), params
