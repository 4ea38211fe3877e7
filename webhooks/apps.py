from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from connext import changes
        from webhooks import outbox, tasks  # noqa: F401 (registers the tasks)

        # In the transaction of each change: its event rows are written with it, or not at all (a
        # status callback's, in its very statement).
        changes.listen(
            outbox.record,
            in_transaction=True,
            writes=outbox.writes_for_status,
            statement=outbox.status_sql,
            written=outbox.status_written,
        )
