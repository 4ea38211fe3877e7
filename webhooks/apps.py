from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from connext import changes
        from webhooks import outbox, tasks  # noqa: F401 (registers the tasks)

        # In the transaction of each change: its event rows are written with it, or not at all.
        changes.listen(outbox.record, in_transaction=True)
