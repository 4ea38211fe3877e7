"""Custom attributes (a JSON object per subscriber), the names each organization uses, and the
WhatsApp opt-in. On PostgreSQL a GIN index with jsonb_path_ops answers the filters' containment
(`attributes @> '{"COLOR": "BLACK"}'`); it is not in the model state (SQLite has no GIN), like
the search index of 0003."""

import django.db.models.deletion
from django.db import migrations, models


INDEX = "subscriber_attributes_gin"


def gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON subscribers_subscriber USING gin (attributes jsonb_path_ops)"
        )


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ('connext', '0002_organization_routes_and_sender'),
        ('subscribers', '0006_name_index_case_insensitive'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='attributes',
            field=models.JSONField(blank=True, db_default={}, default=dict),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='whatsapp',
            field=models.BooleanField(db_default=False, default=False, help_text='Opted in to WhatsApp messages.'),
        ),
        migrations.CreateModel(
            name='AttributeKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=40)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='connext.organization')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('organization', 'name'), name='attribute_key_per_org')],
            },
        ),
        migrations.RunPython(gin_index, drop_gin_index),
    ]
