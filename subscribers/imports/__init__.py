"""Subscriber imports: a CSV file or a JSON array, read row by row and upserted in chunks.

One job per module, in the order a file goes through them:

- `columns`: which field a column (or JSON key) fills, and the row tuple's layout;
- `readers`: a CSV or JSON file, one record at a time (`detect_format`, `ImportFailed`);
- `rows`: a record checked and normalized into a row (addresses.normalize_phone/_email),
  bad rows and duplicates within the file reported with their line;
- `chunks`: rows cut into chunks of IMPORT_CHUNK_ROWS, read ahead by a thread;
- `writers`: a chunk upserted set-based (PostgreSQL COPY + INSERT ... ON CONFLICT, or the ORM);
- `pipeline`: the job: created, run to done or failed, resumed, notified;
- `limits`, `serializers`: the sizes and timeouts; the job object on the wire.

Callers (import_views.py, tasks.py) use the names below.
"""

from subscribers.imports.limits import max_import_bytes
from subscribers.imports.pipeline import (
    import_create,
    import_job,
    import_notify,
    import_run,
    stalled_import_ids,
)
from subscribers.imports.readers import detect_format
from subscribers.imports.serializers import ImportJobSerializer

__all__ = [
    "ImportJobSerializer",
    "detect_format",
    "import_create",
    "import_job",
    "import_notify",
    "import_run",
    "max_import_bytes",
    "stalled_import_ids",
]
