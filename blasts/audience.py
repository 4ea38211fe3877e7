# ruff: noqa: S608 -- SQL built from fixed column names and %s placeholders; every value is a bound parameter
"""Who a blast reaches: groups minus dnc groups, narrowed by attribute filters (`where`) and a
saved segment, per channel, as SQL.

The same WHERE clause counts recipients (`POST /blasts`, estimate) and fans a
message out into deliveries (`INSERT ... SELECT`), so the count a sender is
shown is the set that gets the message.

Per channel:
- sms / mms: enabled subscribers with a phone and `text = 1` (they take texts);
- voice: enabled subscribers with a phone; with `voiceFallback` on a text blast,
  the voice channel also calls the phones that don't take texts;
- email: enabled subscribers with an email;
- whatsapp: enabled subscribers with a phone and `whatsapp = 1` (opted in to WhatsApp);
- rcs: enabled subscribers with a phone and `text = 1` (an RCS handset gets the rich message,
  another gets the SMS fallback).
An address on the organization's blocklist is never included.

The audience is every condition given at once (AND): members of any of the blast's `groups`
(when given), matching its `where`, and matching its segment (members of any of the segment's
groups, its attribute equalities, its keyword). A blast needs one of groups, where, segment.
"""

from dataclasses import dataclass, replace

from django.db import connection

from connext.errors import ApplicationError
from connext.models import Organization
from groups.models import Group
from logs.models import TEXT_KINDS, Kind
from segments.models import Segment
from segments.selectors import segment_of
from subscribers import attributes
from subscribers.selectors import keyword_ids_sql
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
    whatsapp: bool = False
    rcs: bool = False

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
        if self.whatsapp:
            out.append(Kind.WHATSAPP)
        if self.rcs:
            out.append(Kind.RCS)
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
        whatsapp=Kind.WHATSAPP in types,
        rcs=Kind.RCS in types,
    )


@dataclass(frozen=True)
class Audience:
    """Who, as ids and parsed filters. Each tuple of `group_sets` is a condition "a member of any of
    these groups" (the blast's groups, the segment's), all of which must hold; an empty tuple there
    matches nobody (every group of it deleted since)."""

    organization_id: int
    group_ids: tuple[int, ...]
    dnc_ids: tuple[int, ...] = ()
    group_sets: tuple[tuple[int, ...], ...] = ()  # more "member of any of", besides group_ids
    where: tuple[tuple[str, tuple], ...] = ()  # (attribute name, values it may equal): all hold
    keyword: str = ""
    any_group: bool = False  # no group condition from the blast itself: `group_ids` is ignored
    nobody: bool = False  # e.g. its segment was deleted

    @property
    def empty(self) -> bool:
        """Certain to match no one, without asking the database."""
        return self.nobody or (not self.any_group and not self.group_ids) or any(not s for s in self.group_sets)


def _parsed_where(where: dict | None, org_id: int, *, field: str, strict: bool) -> tuple[tuple[str, tuple], ...]:
    if not where:
        return ()
    try:
        parsed = attributes.parse_where(where, org_id, field=field, check_known=strict)
    except attributes.InvalidFilter as exc:
        raise ApplicationError(exc.message, field=exc.field) from None
    return tuple((name, tuple(values)) for name, values in parsed.items())


def audience_for(
    org: Organization,
    groups: list[int],
    dnc: list[int],
    *,
    where: dict | None = None,
    segment: int | None = None,
) -> Audience:
    """A blast request's audience: group numbers to ids (an unknown number is a 400 naming `groups`
    or `dnc`), `where` checked (an attribute the organization never used is a 400 naming it), the
    segment found (another organization's or none: a 400 naming `segment`)."""
    if not groups and not where and segment is None:
        raise ApplicationError("Give groups, a segment or where (attribute filters).", field="groups")
    found = None
    if segment is not None:
        found = segment_of(org, segment)
        if found is None:
            raise ApplicationError(f"Unknown segment {segment}.", field="segment")
    return _audience(org, groups, dnc, where, found, strict=True)


def audience_of_message(message) -> Audience:
    """A message's audience as it is at its fan-out: its groups and its segment read now (groups
    deleted since are left out, a segment deleted since matches nobody)."""
    segment = None
    if message.segment_id is not None:
        segment = Segment.objects.filter(organization_id=message.organization_id, pk=message.segment_id).first()
        if segment is None:
            return Audience(message.organization_id, (), nobody=True)
    audience = _audience(
        message.organization, message.group_numbers, message.dnc_numbers, message.where, segment, strict=False
    )
    # Only a message sent without groups has no group condition: one whose groups were all deleted
    # since (a schedule's run lists the groups it has now) reaches nobody, as it always did.
    return replace(audience, any_group=message.everyone)


def _group_ids(org: Organization, numbers: list[int], *, field: str, strict: bool) -> tuple[int, ...]:
    if strict:
        return tuple(g.pk for g in groups_for_numbers(org, numbers, field=field))
    return tuple(Group.objects.filter(organization=org, number__in=numbers).values_list("id", flat=True))


def _audience(org, groups, dnc, where, segment: Segment | None, *, strict: bool) -> Audience:
    group_sets, conditions, keyword = [], list(_parsed_where(where, org.pk, field="where", strict=strict)), ""
    if segment is not None:
        if segment.group_numbers:
            group_sets.append(_group_ids(org, segment.group_numbers, field="segment", strict=False))
        # The segment's attributes were checked when it was saved: known since (names are never forgotten).
        conditions += _parsed_where(segment.where, org.pk, field="segment", strict=False)
        keyword = segment.keyword.strip()
    return Audience(
        organization_id=org.pk,
        group_ids=_group_ids(org, groups or [], field="groups", strict=strict),
        dnc_ids=_group_ids(org, dnc or [], field="dnc", strict=strict),
        group_sets=tuple(group_sets),
        where=tuple(conditions),
        keyword=keyword,
        any_group=not groups,
    )


def _in_list(ids: tuple[int, ...]) -> str:
    return ", ".join(["%s"] * len(ids))


def channel_where(audience: Audience, channel: str, plan: Plan) -> tuple[str, str, list]:
    """(address column, WHERE clause over subscribers `s`, params) for one channel."""
    column = blocked_type = "email" if channel == Kind.EMAIL else "phone"  # the column, and the blocklist type
    clauses = ["s.organization_id = %s", "s.enabled", f"s.{column} <> ''"]
    params: list = [audience.organization_id]
    if channel in TEXT_TYPES or channel == Kind.RCS:
        clauses.append("s.text")
    elif channel == Kind.WHATSAPP:
        clauses.append("s.whatsapp")
    elif channel == Kind.VOICE and not plan.voice:
        clauses.append("NOT s.text")  # voice fallback only: the phones a text can't reach
    group_sets = audience.group_sets if audience.any_group else (audience.group_ids, *audience.group_sets)
    for number, ids in enumerate(group_sets):
        if not ids:
            clauses.append("FALSE")
            continue
        clauses.append(
            f"EXISTS (SELECT 1 FROM subscribers_subscriber_groups g{number} "
            f"WHERE g{number}.subscriber_id = s.id AND g{number}.group_id IN ({_in_list(ids)}))"
        )
        params += ids
    if audience.where:
        sql, where_params = attributes.condition_sql(
            "s", audience.where, connection.vendor
        )  # pairs: a name twice, both hold
        clauses.append(sql)
        params += where_params
    if audience.keyword:
        sql, keyword_params = keyword_ids_sql(audience.organization_id, audience.keyword)
        clauses.append(f"s.id IN ({sql})")
        params += keyword_params
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
