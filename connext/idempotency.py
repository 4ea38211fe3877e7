"""`Idempotency-Key` on POST/PATCH: a repeat within 24 h replays the first response.

Same key + same request -> the stored response with `Idempotent-Replayed: true`;
same key + another body -> 422; same key while the first is still running -> 409.
Keys belong to the API key that sent them. A 5xx is not stored, so a retry after
a crash runs again.
"""

import contextlib
import datetime
import hashlib
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.utils import timezone
from rest_framework import exceptions

from connext.errors import ApplicationError
from connext.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# A "running" record older than this belongs to a process that died mid-request.
ABANDONED_AFTER = datetime.timedelta(minutes=5)


class Replay(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


def _request_hash(request) -> str:
    path = request.path.rstrip("/") or "/"  # with or without the trailing slash: one endpoint (API.md)
    digest = hashlib.sha256(f"{request.method} {path}\n".encode())
    try:
        body = request._request.body
        if request._request.content_type == "application/json":
            # The same JSON is the same request, whatever its key order or spacing (not JSON
            # after all: its bytes, as sent).
            with contextlib.suppress(ValueError, RecursionError):
                body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        digest.update(body)
    except (RawPostDataException, RequestDataTooBig):
        # An upload too big to hold as one bytes object: hash its parsed form
        # fields and each file's content, chunk by chunk.
        for name, value in sorted(request.data.items()):
            digest.update(f"{name}={value if isinstance(value, str) else ''}\n".encode())
        for name, upload in sorted(request.FILES.items()):
            digest.update(f"{name}:{upload.name}:{upload.size}\n".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def begin(request) -> IdempotencyRecord | None:
    """Claim the request's key, or raise Replay / 409 / 422. None when no key was sent."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in ("POST", "PATCH"):
        return None
    if not key.strip() or len(key) > 255:
        raise exceptions.ValidationError({HEADER: ["Must be 1-255 characters."]})
    request_hash = _request_hash(request)
    now = timezone.now()
    records = IdempotencyRecord.objects.filter(owner=request.auth.key_hash, key=key)
    records.filter(created_at__lt=now - datetime.timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)).delete()
    records.filter(completed=False, created_at__lt=now - ABANDONED_AFTER).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(owner=request.auth.key_hash, key=key, request_hash=request_hash)
    except IntegrityError:
        pass
    existing = records.first()
    if existing is None:  # finished with a 5xx and removed between our insert and read
        raise ApplicationError("A request with this Idempotency-Key just failed; retry.", status_code=409)
    if existing.request_hash != request_hash:
        raise ApplicationError("Already used with a different request.", field=HEADER, status_code=422)
    if not existing.completed:
        raise ApplicationError("A request with this Idempotency-Key is still being processed.", status_code=409)
    response = HttpResponse(
        bytes(existing.body or b""), status=existing.status_code, content_type=existing.content_type or None
    )
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


def finish(record: IdempotencyRecord, response) -> None:
    """Store the response for replays (or free the key after a server error)."""
    if response.status_code >= 500:
        record.delete()
        return
    if hasattr(response, "render"):
        response.render()
    record.completed = True
    record.status_code = response.status_code
    record.body = response.content
    record.content_type = response.get("Content-Type", "")
    record.save(update_fields=["completed", "status_code", "body", "content_type"])


def purge_expired() -> int:
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
