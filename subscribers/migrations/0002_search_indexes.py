"""Trigram indexes for the keyword search of GET /subscribers (and its CSV export), PostgreSQL only.

`subscribers.selectors.subscriber_search` matches a keyword with `icontains` on first, last,
email, address and phone, which Django writes as `UPPER("column"::text) LIKE UPPER('%...%')`.
A GIN trigram index on exactly `upper(column)` answers each arm of that OR (one BitmapOr)
instead of reading every row of the table. pg_trgm ships with PostgreSQL (contrib) and is a
trusted extension since PostgreSQL 13: the database owner may create it.

SQLite has neither: there the migration does nothing. The indexes are not part of the model
state (the model does not declare them), so `makemigrations` never tries to drop them.
"""

from django.db import migrations

SEARCHED_COLUMNS = ["first", "last", "email", "address", "phone"]


def _index_name(column: str) -> str:
    return f"subscriber_{column}_trgm"


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {_index_name(column)} "
            f'ON subscribers_subscriber USING gin (upper("{column}") gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {_index_name(column)}")
    # pg_trgm stays installed: other objects may use it, and it costs nothing unused.


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
