from tests.phones import external_send, phone_of, self_managed, send_key  # noqa: F401 (fixtures)
