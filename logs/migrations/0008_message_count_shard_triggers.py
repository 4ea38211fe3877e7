"""The running-totals triggers of 0005, now adding to the writer's shard (backend pid % 8):
concurrent writers of one message (status callbacks at hundreds a second) no longer wait on
one counter row's lock until each commit. Readers sum the shards."""

from django.db import migrations

SHARDS = 8

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
UPSERT = f"""
    INSERT INTO logs_messagecount (message_id, key, shard, n, label)
    SELECT message_id, left(key, 48), pg_backend_pid() %% {SHARDS}, sum(d), max(label) FROM ({{deltas}}) AS deltas
    GROUP BY message_id, left(key, 48) HAVING sum(d) <> 0
    ORDER BY message_id, left(key, 48)
    ON CONFLICT (message_id, key, shard) DO UPDATE SET
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
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


class Migration(migrations.Migration):
    dependencies = [("logs", "0007_message_count_shards")]

    # Backwards: 0007's reversal restores the one-row-per-key constraint; 0005's functions
    # would need re-running, which reversing 0005 itself does (it drops them).
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
