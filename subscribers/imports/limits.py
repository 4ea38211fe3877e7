"""How large an import may be, how it is cut, how much of it is reported, how long its HTTP calls wait."""

from django.conf import settings

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_CHUNK_ROWS = 5000
MAX_REPORTED_ERRORS = 1000  # bad rows beyond these are counted in `skipped`, not listed
FETCH_TIMEOUT_SECONDS = 120.0
NOTIFY_TIMEOUT_SECONDS = 10.0


def max_import_bytes() -> int:
    """The largest file (upload, URL or JSON body) an import takes: IMPORT_MAX_BYTES."""
    return getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


def chunk_rows() -> int:
    """Rows written per transaction: IMPORT_CHUNK_ROWS."""
    return max(1, int(getattr(settings, "IMPORT_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)))
