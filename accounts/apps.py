from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and credits"

    def ready(self):
        from accounts import metering
        from connext import changes

        # In the transaction of each change: a refund is written with the cancel or failure
        # that earns it, or not at all. Only those two statuses earn one: a status callback
        # moving a delivery to any other runs without a transaction for it.
        changes.listen(metering.refund_changes, in_transaction=True, writes=metering.may_refund)
