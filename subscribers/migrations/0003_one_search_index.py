"""One trigram index for the keyword search instead of five, PostgreSQL only.

Migration 0002 indexed `upper(column)` for each of first, last, email, address and phone: five
GIN indexes that every inserted subscriber updates, about two thirds of the time an import of new
subscribers spends in PostgreSQL. This one indexes a single expression, the five columns joined by
spaces, upper-cased:

    upper((first || ' ' || last || ' ' || phone || ' ' || email || ' ' || address)::text)

`subscribers.selectors.SearchText` renders exactly that expression (the planner matches an index
expression by its parse tree, so the query must spell it the same way). A keyword found in any one
column is found in the joined text, so `UPPER(<joined>::text) LIKE UPPER('%keyword%')` is a
necessary condition of every arm of the keyword search: the selector narrows with it (the index),
then keeps the exact per-column conditions, so what matches is unchanged.

SQLite has neither pg_trgm nor GIN: there the migration does nothing. Like 0002's, the index is not
part of the model state, so `makemigrations` never tries to drop it.
"""

from django.db import migrations

OLD_COLUMNS = ["first", "last", "email", "address", "phone"]
INDEX_NAME = "subscriber_search_trgm"
SEARCH_EXPRESSION = "upper((first || ' ' || last || ' ' || phone || ' ' || email || ' ' || address)::text)"


def _old_index_name(column: str) -> str:
    return f"subscriber_{column}_trgm"


def one_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON subscribers_subscriber USING gin ({SEARCH_EXPRESSION} gin_trgm_ops)"
    )
    for column in OLD_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {_old_index_name(column)}")


def five_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in OLD_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {_old_index_name(column)} "
            f'ON subscribers_subscriber USING gin (upper("{column}") gin_trgm_ops)'
        )
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0002_search_indexes")]

    operations = [migrations.RunPython(one_index, five_indexes)]
