"""PostgreSQL statement-level triggers that keep `logs_messagecount` equal to the counts of
`logs_delivery`, whoever writes it (the state machine, a fan-out's INSERT ... SELECT, the
admin, a script). Each statement aggregates its transition tables once: the fan-out of
100,000 rows costs one grouped INSERT, a status callback two small upserts. Rows are
upserted in (message, key) order so concurrent writers never deadlock on them.

Existing deliveries are counted once here. SQLite: nothing (the selectors count rows).
"""

from django.db import migrations

DELTAS_NEW = """
    SELECT message_id, status AS key, 1 AS d, '' AS label FROM new_rows
    UNION ALL SELECT message_id, 'clicks', clicks, '' FROM new_rows WHERE clicks > 0
    UNION ALL SELECT message_id, 'clicked', 1, '' FROM new_rows WHERE clicks > 0
    UNION ALL SELECT message_id, 'error:' || error_code, 1, error_message FROM new_rows WHERE status = 'failed'
"""
DELTAS_OLD = """
    UNION ALL SELECT message_id, status, -1, '' FROM old_rows
    UNION ALL SELECT message_id, 'clicks', -clicks, '' FROM old_rows WHERE clicks > 0
    UNION ALL SELECT message_id, 'clicked', -1, '' FROM old_rows WHERE clicks > 0
    UNION ALL SELECT message_id, 'error:' || error_code, -1, '' FROM old_rows WHERE status = 'failed'
"""
UPSERT = """
    INSERT INTO logs_messagecount (message_id, key, n, label)
    SELECT message_id, left(key, 48), sum(d), max(label) FROM ({deltas}) AS deltas
    GROUP BY message_id, left(key, 48) HAVING sum(d) <> 0
    ORDER BY message_id, left(key, 48)
    ON CONFLICT (message_id, key) DO UPDATE SET
        n = logs_messagecount.n + EXCLUDED.n,
        label = CASE WHEN logs_messagecount.label = '' THEN EXCLUDED.label ELSE logs_messagecount.label END;
"""

CREATE = f"""
CREATE OR REPLACE FUNCTION logs_delivery_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{UPSERT.format(deltas=DELTAS_NEW)}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION logs_delivery_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{UPSERT.format(deltas=DELTAS_NEW + DELTAS_OLD)}
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS logs_delivery_counts_insert ON logs_delivery;
CREATE TRIGGER logs_delivery_counts_insert AFTER INSERT ON logs_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION logs_delivery_counts_insert();
DROP TRIGGER IF EXISTS logs_delivery_counts_update ON logs_delivery;
CREATE TRIGGER logs_delivery_counts_update AFTER UPDATE ON logs_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION logs_delivery_counts_update();

DELETE FROM logs_messagecount;
WITH new_rows AS (SELECT * FROM logs_delivery)
{UPSERT.format(deltas=DELTAS_NEW)}
"""

DROP = """
DROP TRIGGER IF EXISTS logs_delivery_counts_insert ON logs_delivery;
DROP TRIGGER IF EXISTS logs_delivery_counts_update ON logs_delivery;
DROP FUNCTION IF EXISTS logs_delivery_counts_insert();
DROP FUNCTION IF EXISTS logs_delivery_counts_update();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("logs", "0004_message_counts")]

    operations = [migrations.RunPython(create, drop)]
