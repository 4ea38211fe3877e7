"""Reading the rollups, counting deliveries the same way (the recount: SQLite's path, and the
tests' check that the rollups are right), and folding the shards of past hours.

Every figure is per delivery: `n` all of them, `billed` those charged (not canceled, not
failed before a provider took them), `segments` and `cost` of the billed ones at their
message's Charge (no Charge: cost 0, one segment). A delivery counts in the hour its message
was created (UTC): a blast stays in one bucket while its statuses move.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.db import connection, transaction

SHARDS = 8
UNITS = Decimal(10000)  # cost_units per currency unit
PLACES = Decimal("0.0001")

# Is one delivery row (`d`) billed: the same rule as accounts.metering.refunded, in SQL.
BILLABLE = "CASE WHEN d.status = 'canceled' OR (d.status = 'failed' AND d.provider_id = '') THEN 0 ELSE 1 END"


def postgres() -> bool:
    return connection.vendor == "postgresql"


def report(
    org_ids: list[int], start: dt.datetime, end: dt.datetime, key: str, zone: str, *, by_status: bool = True
) -> list[tuple]:
    """(key value, status, n, billed, segments, cost) for deliveries of these organizations'
    messages created in [start, end), `key` being day (the local date in `zone`), channel,
    status or organization; without `by_status`, status is None (one row per key). From the
    rollups on PostgreSQL; counted from deliveries elsewhere."""
    if not org_ids:
        return []
    if not postgres():
        return _report_from(recount_hourly(org_ids, start, end), key, zone, by_status)
    column = {"day": "(hour AT TIME ZONE %s)::date", "channel": "channel", "status": "status",
              "organization": "organization_id"}[key]  # fmt: skip
    params = [zone] if key == "day" else []
    status = "status" if by_status else "NULL"
    sql = (
        f"SELECT {column} AS k, {status}, sum(n), sum(billed), sum(segments), sum(cost_units) "  # noqa: S608 (ours)
        f"FROM analytics_hourlyusage WHERE organization_id IN ({', '.join(['%s'] * len(org_ids))}) "
        "AND hour >= %s AND hour < %s GROUP BY 1, 2 ORDER BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *org_ids, start, end])
        return [(k, st, int(n), int(b), int(g), _money(c)) for k, st, n, b, g, c in cursor.fetchall()]


def _money(units) -> Decimal:
    """Ten-thousandths (the rollups' cost_units) as an amount."""
    return (Decimal(int(units)) / UNITS).quantize(PLACES)


def _report_from(hourly: list, key: str, zone: str, by_status: bool = True) -> list[tuple]:
    tz = zoneinfo.ZoneInfo(zone)
    totals: dict[tuple, list] = {}
    for org, hour, channel, status, n, billed, segments, cost in hourly:
        if key == "day":
            k = hour.astimezone(tz).date()
        else:
            k = {"channel": channel, "status": status, "organization": org}[key]
        row = totals.setdefault((k, status if by_status else None), [0, 0, 0, Decimal(0)])
        row[0] += n
        row[1] += billed
        row[2] += segments
        row[3] += cost
    return [
        (k, status, *values)
        for (k, status), values in sorted(totals.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]


def recount_hourly(org_ids: list[int], start: dt.datetime | None = None, end: dt.datetime | None = None) -> list:
    """(organization, hour, channel, status, n, billed, segments, cost) counted from the
    deliveries themselves, hour by hour: what the rollups must say."""
    where, params = [f"m.organization_id IN ({', '.join(['%s'] * len(org_ids))})"], list(org_ids)
    if start is not None:
        where.append("m.created_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(start))
    if end is not None:
        where.append("m.created_at < %s")
        params.append(connection.ops.adapt_datetimefield_value(end))
    hour = (
        "date_trunc('hour', m.created_at, 'UTC')" if postgres() else "strftime('%%Y-%%m-%%d %%H:00:00', m.created_at)"
    )
    sql = (
        f"SELECT m.organization_id, {hour} AS hour, d.channel, d.status, count(*), sum({BILLABLE}), "  # noqa: S608
        f"sum({BILLABLE} * COALESCE(c.segments, 1)), sum({BILLABLE} * COALESCE(c.unit_price, 0)) "
        "FROM logs_delivery d JOIN logs_message m ON m.id = d.message_id "
        "LEFT JOIN accounts_charge c ON c.message_id = d.message_id AND c.channel = d.channel "
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = []
    for org, hour, channel, status, n, billed, segments, cost in rows:
        if isinstance(hour, str):
            hour = dt.datetime.fromisoformat(hour).replace(tzinfo=dt.UTC)
        out.append((org, hour, channel, status, n, int(billed), int(segments), Decimal(str(cost)).quantize(PLACES)))
    return out


def rollup_hourly(org_ids: list[int], start: dt.datetime | None = None, end: dt.datetime | None = None) -> list:
    """The same rows as `recount_hourly`, read from the rollups (PostgreSQL), shards summed."""
    where, params = [f"organization_id IN ({', '.join(['%s'] * len(org_ids))})"], list(org_ids)
    if start is not None:
        where.append("hour >= %s")
        params.append(start)
    if end is not None:
        where.append("hour < %s")
        params.append(end)
    sql = (
        "SELECT organization_id, hour, channel, status, sum(n), sum(billed), sum(segments), sum(cost_units) "  # noqa: S608
        f"FROM analytics_hourlyusage WHERE {' AND '.join(where)} GROUP BY 1, 2, 3, 4 "
        "HAVING sum(n) <> 0 OR sum(billed) <> 0 ORDER BY 1, 2, 3, 4"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(o, h.astimezone(dt.UTC), c, s, int(n), int(b), int(g), _money(k))
                for o, h, c, s, n, b, g, k in cursor.fetchall()]  # fmt: skip


def compact(before: dt.datetime) -> int:
    """Fold the shards of the hours before `before` into shard 0 (fewer rows for the readers);
    rows that add up to nothing go. Safe to run beside writers: a late change of an old hour
    lands in a shard again and is folded next time. Returns the rows folded."""
    if not postgres():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM analytics_hourlyusage WHERE hour < %s AND shard <> 0 "
            "RETURNING organization_id, hour, channel, status, n, billed, segments, cost_units) "
            "INSERT INTO analytics_hourlyusage "
            "(organization_id, hour, channel, status, shard, n, billed, segments, cost_units) "
            "SELECT organization_id, hour, channel, status, 0, sum(n), sum(billed), sum(segments), sum(cost_units) "
            "FROM gone GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
            "ON CONFLICT (organization_id, hour, channel, status, shard) DO UPDATE SET "
            "n = analytics_hourlyusage.n + EXCLUDED.n, billed = analytics_hourlyusage.billed + EXCLUDED.billed, "
            "segments = analytics_hourlyusage.segments + EXCLUDED.segments, "
            "cost_units = analytics_hourlyusage.cost_units + EXCLUDED.cost_units",
            [before],
        )
        folded = max(cursor.rowcount, 0)
        cursor.execute(
            "DELETE FROM analytics_hourlyusage WHERE hour < %s AND shard = 0 AND n = 0 AND billed = 0 "
            "AND segments = 0 AND cost_units = 0",
            [before],
        )
    return folded
