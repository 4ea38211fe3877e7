"""What Twilio's statuses and error codes mean in our words (`logs.reports`)."""

from logs.models import Delivery
from logs.reports import Refusal

Status = Delivery.Status

OPTED_OUT = "21610"  # the recipient replied STOP to our number: Twilio refuses to text it
NOT_MOBILE = "21614"  # "To" is not a mobile number: no text can reach it
REFUSALS = {OPTED_OUT: Refusal.OPTED_OUT, NOT_MOBILE: Refusal.NOT_MOBILE}

# MessageStatus and CallStatus -> ours. Absent: says nothing new (queued, accepted, scheduled,
# receiving, ...): our dispatcher already recorded the hand-over.
MESSAGE_STATUS = {
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
CALL_STATUS = {
    "initiated": Status.SENT,
    "ringing": Status.SENT,
    "in-progress": Status.SENT,
    "answered": Status.SENT,
    "completed": Status.DELIVERED,
    "busy": Status.FAILED,
    "no-answer": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
CALL_FAILURES = {
    "busy": "The line was busy.",
    "no-answer": "The call was not answered.",
    "failed": "The call could not be placed.",
    "canceled": "The call was canceled before it was answered.",
}
# The common ones, for a readable error when Twilio sends only the code.
ERRORS = {
    "30001": "Queue overflow",
    "30002": "Account suspended",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by the carrier",
    "30008": "Unknown error",
    "30034": "Message from an unregistered number (A2P 10DLC)",
    OPTED_OUT: "The recipient has opted out (replied STOP)",
}
