"""One error shape for every status under /api: `{"message": ..., "errors"?: {...}}`.

Validation errors name the field in `message` ("name: This field is required.")
and list every problem in `errors`. A database, Redis or broker that does not answer is
a 503 with Retry-After; other unexpected exceptions become a JSON 500 after the
transaction is rolled back, never an HTML page.
"""

import logging

import kombu.exceptions
import redis.exceptions
from django import db
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

logger = logging.getLogger("connext.api")


class ApplicationError(exceptions.APIException):
    """A business rule refused the request; `field` is named in the message."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."

    def __init__(self, message: str, *, field: str | None = None, status_code: int | None = None, extra=None):
        super().__init__(detail=message)
        self.field = field
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """{"groups": {0: ["bad"]}} -> {"groups.0": ["bad"]}: one flat map of field -> messages."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def validation_body(detail) -> dict:
    errors = _flatten(detail)
    field, messages = next(iter(errors.items()), ("non_field_errors", ["Invalid input."]))
    message = messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
    return {"message": message, "errors": errors}


def error_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        return validation_body(exc.detail)
    if isinstance(exc, ApplicationError):
        detail = str(exc.detail)
        if not exc.field:
            return {"message": detail, **exc.extra}
        return {"message": f"{exc.field}: {detail}", "errors": {exc.field: [detail]}, **exc.extra}
    detail = exc.detail
    if isinstance(detail, (dict, list)):
        return validation_body(detail)
    return {"message": str(detail)}


# A dependency that is down or unreachable, as each client library reports it.
OUTAGES = (db.OperationalError, db.InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
           kombu.exceptions.OperationalError)  # fmt: skip
RETRY_AFTER = 5  # seconds


def _view_name(context) -> str:
    view = context.get("view")
    return type(view).__name__ if view else "API view"


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"Request body is too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes).")
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Malformed request.")

    set_rollback()
    if isinstance(exc, OUTAGES):
        # The database, Redis or the broker did not answer: nothing wrong with the request,
        # and asking again shortly is the right move.
        logger.error("Service unavailable in %s: %r", _view_name(context), exc, exc_info=exc)
        body = {"message": "Service temporarily unavailable; try again shortly."}
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER)})
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled error in %s", _view_name(context), exc_info=exc)
        return Response({"message": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(error_body(exc), status=exc.status_code, headers=headers)
