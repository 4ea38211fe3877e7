"""Writing a chunk of rows: new subscribers created, existing ones updated, memberships added.

Set-based (one lookup, one insert, one update, one membership insert per chunk): a row matching
an existing subscriber by phone or email updates it (non-empty values only) when
`update_existing`, else counts as skipped and leaves it untouched (groups included); a row whose
phone is one subscriber's and email another's is reported, not merged.

PostgresWriter on PostgreSQL (COPY into a staging table, INSERT ... ON CONFLICT), OrmWriter
elsewhere (SQLite); both give the same outcome. `upsert` runs inside the caller's transaction.
"""

import json

from django.db import connection
from django.utils import timezone

from subscribers import attributes as custom
from subscribers.imports.columns import ATTRIBUTES, EMAIL, ENABLED, FIELDS, GROUPS, LINE, PHONE, TEXT, WHATSAPP
from subscribers.models import Subscriber

_COPY_FLAG = {None: "\\N", True: "t", False: "f"}


def _copy_line(row: tuple) -> str:
    """The row in PostgreSQL's COPY text format (the staging table's columns)."""
    texts = "\t".join(row[1:9])
    if texts.count("\t") != 7 or "\\" in texts or "\n" in texts or "\r" in texts:
        texts = "\t".join(
            v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for v in row[1:9]
        )
    groups = ",".join(map(str, row[GROUPS]))
    attributes = _json(row[ATTRIBUTES])
    # JSON escapes every control character: only its backslashes need COPY's escape.
    attributes = "\\N" if attributes is None else attributes.replace("\\", "\\\\")
    flags = f"{_COPY_FLAG[row[ENABLED]]}\t{_COPY_FLAG[row[TEXT]]}\t{_COPY_FLAG[row[WHATSAPP]]}"
    return f"{row[0]}\t{texts}\t{flags}\t{{{groups}}}\t{attributes}\n"


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def copy_text(rows: list[tuple]) -> bytes:
    """The rows as PostgresWriter.upsert takes them pre-encoded: COPY text lines."""
    return "".join(map(_copy_line, rows)).encode()


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


Matches = dict[int, tuple[int | None, int | None]]  # line -> (id of the subscriber with its phone, ... its email)
Outcome = tuple[int, int, int, list[tuple[int, str]]]  # created, updated, skipped, [(line, error)]


def _classify(
    rows: list[tuple], matches: Matches, update_existing: bool, current: dict[int, dict] | None = None
) -> tuple[list, int, list]:
    """For rows matching existing subscribers: ([(row, subscriber id) to update], skipped, errors).
    `current`: the matched subscribers' attributes, which a row's are merged into (the limits hold)."""
    updates, skipped, errors = [], 0, []
    claimed: dict[int, int] = {}  # subscriber id -> the line updating it
    for row in rows:
        by_phone, by_email = matches.get(row[LINE], (None, None))
        target = by_phone or by_email
        if target is None:  # it conflicted, then the subscriber went away (deleted meanwhile)
            errors.append((row[LINE], "phone: Changed by another request during the import; import it again."))
        elif by_phone and by_email and by_phone != by_email:
            errors.append(
                (row[LINE], f"email: {row[EMAIL]} belongs to another subscriber than phone {row[PHONE]} (not merged).")
            )
        elif not update_existing:
            skipped += 1
        elif target in claimed:
            errors.append((row[LINE], f"phone: Matches the same subscriber as line {claimed[target]}."))
        elif (problem := _merge_problem(row, (current or {}).get(target))) is not None:
            errors.append((row[LINE], problem))
        else:
            claimed[target] = row[LINE]
            updates.append((row, target))
    return updates, skipped + len(errors), errors


def _merge_problem(row: tuple, current: dict | None) -> str | None:
    """Why the row's attributes can't be merged into the subscriber's `current` ones, or None."""
    if not row[ATTRIBUTES]:
        return None
    try:
        custom.merged(current or {}, row[ATTRIBUTES])
    except custom.InvalidAttributes as exc:
        return f"attributes: {exc}"
    return None


class PostgresWriter:
    """One chunk in a few set-based statements: COPY into a temporary table, INSERT ... ON CONFLICT
    DO NOTHING (the unique indexes decide what is new, no lookup), then a lookup and an UPDATE for
    the rows that conflicted only.

    Identifiers come from the models' meta; every value is a parameter.
    """

    encode = staticmethod(copy_text)  # run by the reading thread: Chunk.encoded
    STAGE = "connext_import_stage"
    STAGE_COLUMNS = (
        "line integer, first text, last text, phone text, email text, address text, city text, state text, "
        "zip text, enabled boolean, text boolean, whatsapp boolean, groups bigint[], attributes jsonb"
    )

    def __init__(self, organization_id: int, group_ids: list[int]):
        self.params = {"org": organization_id, "groups": group_ids}
        meta, through = Subscriber._meta, Subscriber.groups.through._meta
        table, org, stage = _q(meta.db_table), _q(meta.get_field("organization").column), self.STAGE
        columns = [_q(meta.get_field(name).column) for name in FIELDS]
        attributes = _q(meta.get_field("attributes").column)
        phone, email = columns[FIELDS.index("phone")], columns[FIELDS.index("email")]
        # Memberships of the written rows: the job's groups and each row's own (stage.groups).
        member_columns = f"{_q(through.get_field('subscriber').column)}, {_q(through.get_field('group').column)}"
        members = (
            f", members AS (INSERT INTO {_q(through.db_table)} ({member_columns}) "  # noqa: S608
            "SELECT DISTINCT r.id, g.id FROM ({rows}) AS r "
            "CROSS JOIN LATERAL unnest(r.groups || %(groups)s::bigint[]) AS g(id) ON CONFLICT DO NOTHING)"
        )
        # An inserted row is its stage row's, found again by phone (else email): unique in the file.
        inserted_rows = (
            f"SELECT w.id, st.groups FROM written w JOIN {stage} st ON st.phone = w.{phone} WHERE w.{phone} <> '' "  # noqa: S608
            f"UNION ALL SELECT w.id, st.groups FROM written w JOIN {stage} st ON st.email = w.{email} "
            f"WHERE w.{phone} = ''"
        )
        insert = (
            f"WITH written AS (INSERT INTO {table} ({org}, {', '.join(columns)}, {attributes}, created_at, "  # noqa: S608
            f"updated_at) SELECT %(org)s, {', '.join(FIELDS[:8])}, COALESCE(enabled, TRUE), COALESCE(text, FALSE), "
            "COALESCE(whatsapp, FALSE), "
            f"COALESCE(attributes, '{{}}'::jsonb), %(now)s, %(now)s FROM {stage} ORDER BY line "
            f"ON CONFLICT DO NOTHING RETURNING id, {phone}, {email})"
        )
        self.insert_sql = f"{insert} SELECT {phone}, {email} FROM written"  # noqa: S608
        self.insert_members_sql = f"{insert}{members.format(rows=inserted_rows)} SELECT {phone}, {email} FROM written"  # noqa: S608
        self.lookup_sql = (
            f"SELECT id, {phone}, {email}, {attributes} FROM {table} WHERE {org} = %(org)s AND ("  # noqa: S608
            f"({phone} = ANY(%(phones)s::text[]) AND {phone} <> '') OR "
            f"({email} = ANY(%(emails)s::text[]) AND {email} <> ''))"
        )
        given = [f"NULLIF(st.{name}, '')" for name in FIELDS[:8]] + ["st.enabled", "st.text", "st.whatsapp"]
        assignments = ", ".join(f"{c} = COALESCE({v}, s.{c})" for v, c in zip(given, columns, strict=True))
        # The row's attributes merged into the subscriber's (its names replace theirs).
        assignments += f", {attributes} = s.{attributes} || COALESCE(st.attributes, '{{}}'::jsonb)"
        update = (
            "WITH m AS (SELECT * FROM unnest(%(lines)s::integer[], %(ids)s::bigint[]) AS m(line, id)), "  # noqa: S608
            f"written AS (UPDATE {table} s SET {assignments}, updated_at = %(now)s "
            f"FROM m JOIN {stage} st ON st.line = m.line WHERE s.id = m.id AND s.{org} = %(org)s "
            "RETURNING s.id, st.groups)"
        )
        self.update_sql = f"{update} SELECT count(*) FROM written"  # noqa: S608
        self.update_members_sql = (
            f"{update}{members.format(rows='SELECT id, groups FROM written')} SELECT count(*) FROM written"  # noqa: S608
        )

    def upsert(self, rows: list[tuple], update_existing: bool, encoded: bytes | None = None) -> Outcome:
        params = {**self.params, "now": timezone.now()}
        with_members = bool(self.params["groups"]) or any(row[GROUPS] for row in rows)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGE} ({self.STAGE_COLUMNS}) ON COMMIT DELETE ROWS"
            )
            # Already empty, unless this chunk runs inside an outer transaction (a test, a caller's atomic block).
            cursor.execute(f"DELETE FROM {self.STAGE}")  # noqa: S608
            with cursor.copy(f"COPY {self.STAGE} FROM STDIN") as copy:
                if encoded is not None:
                    copy.write(encoded)  # copy_text(rows), made by the reading thread
                else:
                    for row in rows:
                        copy.write_row((*row[:GROUPS], list(row[GROUPS]), _json(row[ATTRIBUTES])))
            cursor.execute(self.insert_members_sql if with_members else self.insert_sql, params)
            written = cursor.fetchall()
            if len(written) == len(rows):
                return len(written), 0, 0, []
            # Phones and emails are unique within the file, so either one identifies the written row.
            phones = {phone for phone, _ in written if phone}
            emails = {email for _, email in written if email}
            rest = [row for row in rows if row[PHONE] not in phones and row[EMAIL] not in emails]
            params["phones"] = [row[PHONE] for row in rest if row[PHONE]]
            params["emails"] = [row[EMAIL] for row in rest if row[EMAIL]]
            cursor.execute(self.lookup_sql, params)
            by_phone, by_email, current = {}, {}, {}
            for pk, phone, email, attributes in cursor.fetchall():
                by_phone[phone], by_email[email] = pk, pk
                current[pk] = json.loads(attributes) if isinstance(attributes, str) else attributes
            by_phone.pop("", None)
            by_email.pop("", None)
            matches = {row[LINE]: (by_phone.get(row[PHONE]), by_email.get(row[EMAIL])) for row in rest}
            updates, skipped, errors = _classify(rest, matches, update_existing, current)
            updated = 0
            if updates:
                params["lines"] = [row[LINE] for row, _ in updates]
                params["ids"] = [target for _, target in updates]
                cursor.execute(self.update_members_sql if with_members else self.update_sql, params)
                updated = cursor.fetchone()[0]
        return len(written), updated, skipped, errors


class OrmWriter:
    """The same outcome with the ORM's bulk operations (SQLite and other databases): one lookup of
    the chunk's phones and emails, bulk_create, bulk_update, and the group memberships."""

    encode = None  # takes the rows as they are
    LOOKUP_BATCH = 400

    def __init__(self, organization_id: int, group_ids: list[int]):
        self.organization_id = organization_id
        self.group_ids = group_ids

    def _lookup(self, field: str, values: list[str], found: dict[int, Subscriber]) -> dict[str, int]:
        by_value = {}
        scope = Subscriber.objects.filter(organization_id=self.organization_id)
        for start in range(0, len(values), self.LOOKUP_BATCH):
            for subscriber in scope.filter(**{f"{field}__in": values[start : start + self.LOOKUP_BATCH]}):
                by_value[getattr(subscriber, field)] = subscriber.pk
                found[subscriber.pk] = subscriber
        return by_value

    def upsert(self, rows: list[tuple], update_existing: bool, encoded: bytes | None = None) -> Outcome:
        found: dict[int, Subscriber] = {}
        by_phone = self._lookup("phone", [row[PHONE] for row in rows if row[PHONE]], found)
        by_email = self._lookup("email", [row[EMAIL] for row in rows if row[EMAIL]], found)
        new, existing, matches = [], [], {}
        for row in rows:
            match = (by_phone.get(row[PHONE]), by_email.get(row[EMAIL]))
            if match == (None, None):
                new.append(row)
            else:
                existing.append(row)
                matches[row[LINE]] = match
        current = {pk: subscriber.attributes for pk, subscriber in found.items()}
        updates, skipped, errors = _classify(existing, matches, update_existing, current)
        now = timezone.now()
        created = [
            Subscriber(
                organization_id=self.organization_id,
                **{name: row[i] for i, name in enumerate(FIELDS[:8], 1)},
                enabled=True if row[ENABLED] is None else row[ENABLED],
                text=bool(row[TEXT]),
                whatsapp=bool(row[WHATSAPP]),
                attributes=row[ATTRIBUTES] or {},
                created_at=now,
                updated_at=now,
            )
            for row in new
        ]
        Subscriber.objects.bulk_create(created, batch_size=500)
        changed = []
        for row, target in updates:
            subscriber = found[target]
            for i, name in enumerate(FIELDS, 1):
                if row[i] is not None and row[i] != "":
                    setattr(subscriber, name, row[i])
            if row[ATTRIBUTES]:
                subscriber.attributes = custom.merged(subscriber.attributes, row[ATTRIBUTES])
            subscriber.updated_at = now
            changed.append(subscriber)
        if changed:
            Subscriber.objects.bulk_update(changed, [*FIELDS, "attributes", "updated_at"], batch_size=500)
        written = [
            *zip(created, new, strict=True),
            *((subscriber, row) for subscriber, (row, _) in zip(changed, updates, strict=True)),
        ]
        through = Subscriber.groups.through
        memberships = [
            through(subscriber_id=subscriber.pk, group_id=group_id)
            for subscriber, row in written
            for group_id in {*self.group_ids, *row[GROUPS]}
        ]
        if memberships:
            through.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=1000)
        return len(created), len(changed), skipped, errors
