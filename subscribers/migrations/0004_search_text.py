"""The keyword search reads a stored generated column, `search_text`, with its own trigram index.

`search_text` is first, last, phone (without its "+"), email and address joined by spaces, upper-cased,
computed by the database on every INSERT and UPDATE (SQLite >= 3.31 and PostgreSQL both support stored
generated columns). The keyword search is then one `search_text LIKE '%KEYWORD%'` (or the keyword's phone
digits): the trigram index finds the candidates, and the recheck of each one is a plain LIKE on a stored
value instead of upper() of five columns concatenated, then five per-column conditions.

On PostgreSQL the trigram GIN index of migration 0003, on the expression, is replaced with one on the column
(an import updates one trigram index either way). Adding the column rewrites the table under an ACCESS
EXCLUSIVE lock: seconds per 100,000 subscribers. SQLite has neither pg_trgm nor GIN: there only the column is
added. Like 0002's and 0003's, the index is not part of the model state.
"""

import django.db.models.functions.text
from django.db import migrations, models

INDEX_NAME = "subscriber_search_text_trgm"
OLD_INDEX_NAME = "subscriber_search_trgm"
OLD_EXPRESSION = "upper((first || ' ' || last || ' ' || phone || ' ' || email || ' ' || address)::text)"


def column_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON subscribers_subscriber USING gin (search_text gin_trgm_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX_NAME}")


def expression_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX_NAME} ON subscribers_subscriber USING gin ({OLD_EXPRESSION} gin_trgm_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0003_one_search_index")]

    operations = [
        migrations.AddField(
            model_name="subscriber",
            name="search_text",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper(
                    models.Func(
                        models.F("first"),
                        models.Value(" "),
                        models.F("last"),
                        models.Value(" "),
                        django.db.models.functions.text.Replace(models.F("phone"), models.Value("+")),
                        models.Value(" "),
                        models.F("email"),
                        models.Value(" "),
                        models.F("address"),
                        arg_joiner=" || ",
                        output_field=models.TextField(),
                        template="(%(expressions)s)",
                    )
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.RunPython(column_index, expression_index),
    ]
