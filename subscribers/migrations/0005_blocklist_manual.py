from django.db import migrations, models


def mark_manual_entries(apps, schema_editor):
    apps.get_model("subscribers", "BlocklistEntry").objects.filter(reason="manual").update(manual=True)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0004_search_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="blocklistentry",
            name="manual",
            field=models.BooleanField(
                default=False,
                db_default=False,
                help_text="Blocked by hand too: when the recipient opts back in (START), the entry becomes a manual "
                "one instead of going away.",
            ),
        ),
        migrations.RunPython(mark_manual_entries, migrations.RunPython.noop),
    ]
