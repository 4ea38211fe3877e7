"""The URLs we give Twilio: where it reports a delivery's status, asks for a call's TwiML and
posts texts sent to our number. `PUBLIC_BASE_URL` + these paths (each also with a trailing
slash: a redirect would lose the POST body). Our delivery id rides in the signed URL."""

STATUS = "/hooks/twilio/status"
INBOUND = "/hooks/twilio/inbound"
VOICE = "/hooks/twilio/voice/"  # + delivery id


def status_callback_url(base_url: str, delivery_id: int, kind: str = "") -> str:
    """With `kind` "rcs" the URL says so (`&k=rcs`): its callbacks tell whether the send fell back to SMS."""
    return f"{base_url}{STATUS}?d={delivery_id}" + ("&k=rcs" if kind == "rcs" else "")


def voice_url(base_url: str, delivery_id: int) -> str:
    return f"{base_url}{VOICE}{delivery_id}"
