"""An import job, from the request to its end: stored, run chunk by chunk, finished, notified.

`import_create` stores the job and its payload and enqueues the Celery task after the commit;
the task calls `import_run`, then `import_notify`. Each chunk of IMPORT_CHUNK_ROWS rows is
written in one transaction with the job's counters, so `total == created + updated + skipped`
after every chunk. A job resumes after its committed rows when a worker died; two runs of one
job at once are safe.
"""

import contextlib
import datetime
import json
import logging
from urllib.parse import urlsplit

from celery import signature
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from connext import changes
from connext.models import Organization, User
from groups.models import Group
from subscribers import attributes
from subscribers.fetch import FetchError, UnsafeURL, fetch, post_json
from subscribers.imports.chunks import Chunk, chunks, read_ahead
from subscribers.imports.columns import ATTRIBUTES
from subscribers.imports.limits import (
    FETCH_TIMEOUT_SECONDS,
    MAX_REPORTED_ERRORS,
    NOTIFY_TIMEOUT_SECONDS,
    chunk_rows,
    max_import_bytes,
)
from subscribers.imports.readers import ImportFailed, detect_format
from subscribers.imports.serializers import ImportJobSerializer
from subscribers.imports.writers import OrmWriter, PostgresWriter
from subscribers.models import ImportJob

logger = logging.getLogger("subscribers.imports")  # one name for the import's log lines


class _Lost(Exception):
    """Another run of the same job committed first (a redelivered task): stop quietly."""


def import_job(organization: Organization, pk: int) -> ImportJob | None:
    """The organization's job `pk` without its payload (which may be megabytes), or None."""
    return ImportJob.objects.defer("payload").filter(organization=organization, pk=pk).first()


@transaction.atomic
def import_create(
    *,
    organization: Organization,
    created_by: User | None,
    source: str,
    source_format: str = "",
    payload: bytes | None = None,
    group_numbers: list[int] | None = None,
    update_existing: bool = True,
    notify_url: str = "",
) -> ImportJob:
    """Store a queued job (a URL job has no payload yet) and enqueue it after the commit."""
    job = ImportJob.objects.create(
        organization=organization,
        created_by=created_by,
        source=source[:2048],
        source_format=source_format,
        payload=payload,
        group_numbers=list(group_numbers or []),
        update_existing=update_existing,
        notify_url=notify_url,
    )
    # A broker down at commit: the job stays queued and the sweeper enqueues it again.
    # By name: the task module imports this one (SubscribersConfig.ready registers the task).
    transaction.on_commit(lambda: signature(RUN_IMPORT, args=[job.pk]).delay(), robust=True)
    return job


RUN_IMPORT = "subscribers.run_import"


class _Progress:
    def __init__(self, job: ImportJob):
        self.total, self.created, self.updated, self.skipped = job.total, job.created, job.updated, job.skipped
        self.errors = list(job.errors)


def _write_chunk(job: ImportJob, writer, progress: _Progress, chunk: Chunk) -> None:
    """One chunk and the job's counters, in one transaction; retried when a concurrent write took a phone/email."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                # The row lock orders two runs of one job; the first to commit a chunk wins.
                state = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("status", "total").first()
                if state != (ImportJob.Status.RUNNING, progress.total):
                    raise _Lost()
                created, updated, skipped, db_errors = (
                    writer.upsert(chunk.rows, job.update_existing, chunk.encoded) if chunk.rows else (0, 0, 0, [])
                )
                # The names the chunk's rows carry, known from now on (a filter may use them).
                attributes.remember(job.organization_id, {name for row in chunk.rows for name in row[ATTRIBUTES] or ()})
                reported = sorted(chunk.errors + db_errors)[: max(0, MAX_REPORTED_ERRORS - len(progress.errors))]
                fields = {
                    "total": progress.total + chunk.count,
                    "created": progress.created + created,
                    "updated": progress.updated + updated,
                    "skipped": progress.skipped + skipped + len(chunk.errors),
                }
                if reported:
                    fields["errors"] = progress.errors + [{"line": line, "message": m} for line, m in reported]
                ImportJob.objects.filter(pk=job.pk).update(**fields)
        except IntegrityError:
            # A concurrent request took a phone/email this chunk was writing: the chunk
            # was rolled back whole; the next attempt sees that subscriber as existing.
            if attempt == 2:
                raise
            continue
        progress.total, progress.created = fields["total"], fields["created"]
        progress.updated, progress.skipped = fields["updated"], fields["skipped"]
        progress.errors = fields.get("errors", progress.errors)
        return


def _load_payload(job: ImportJob) -> tuple[bytes, str]:
    """The job's file; a URL job fetches it first and keeps it, so a restart reads the same bytes."""
    if job.payload is not None:
        return bytes(job.payload), job.source_format or "csv"
    try:
        fetched = fetch(job.source, max_bytes=max_import_bytes(), timeout=FETCH_TIMEOUT_SECONDS)
    except (UnsafeURL, FetchError) as exc:
        raise ImportFailed(str(exc)) from None
    source_format = detect_format(urlsplit(fetched.url).path, fetched.content_type, fetched.body[:64])
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        payload=fetched.body, source_format=source_format
    )
    return fetched.body, source_format


def _process(job: ImportJob) -> None:
    org = job.organization
    payload, source_format = _load_payload(job)
    groups = dict(Group.objects.filter(organization=org).values_list("number", "id"))  # for `groups` columns
    group_ids = [groups[number] for number in job.group_numbers if number in groups]
    writer_class = PostgresWriter if connection.vendor == "postgresql" else OrmWriter
    writer = writer_class(org.pk, group_ids)
    progress = _Progress(job)
    # job.total rows were committed by an earlier run of this job (a worker that died): not again.
    file_chunks = chunks(
        payload,
        source_format,
        org.default_region,
        skip=job.total,
        size=chunk_rows(),
        groups=groups,
        encode=writer.encode,
    )
    with contextlib.closing(read_ahead(file_chunks)) as ahead:
        for chunk in ahead:
            _write_chunk(job, writer, progress, chunk)


@transaction.atomic
def _finish(job: ImportJob, status: str, failure: str = "") -> ImportJob | None:
    """Mark the job ended (once: a second run finds it ended) and drop its payload; announce it
    (connext.changes.ImportFinished) in the same transaction."""
    ended = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=status, failure=failure, finished_at=timezone.now(), payload=None
    )
    if not ended:
        return None
    job = ImportJob.objects.defer("payload").get(pk=job.pk)
    changes.announce([
        changes.ImportFinished(organization_id=job.organization_id, import_id=job.pk, status=job.status,
                               total=job.total, created=job.created, updated=job.updated, skipped=job.skipped)
    ])  # fmt: skip
    return job


# A job still queued this long after it was created lost its task message (a broker
# restart, a crash between the commit and the publish): the sweeper enqueues it again.
STALLED_AFTER = datetime.timedelta(minutes=5)


def stalled_import_ids() -> list[int]:
    """Ids of jobs queued for longer than STALLED_AFTER (across organizations: this is the sweeper's view)."""
    cutoff = timezone.now() - STALLED_AFTER
    return list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=cutoff).values_list("id", flat=True)
    )


def import_run(*, job_id: int) -> ImportJob | None:
    """Process a queued job to `done` or `failed`; returns the job when this call ended it.

    Idempotent: a job already done or failed is left alone (None). A job left
    `running` by a worker that died resumes after the rows it had committed.
    Two runs of one job at once are safe (each chunk checks the committed row
    count under a row lock; the loser stops). Never raises for a bad file: the
    job fails with `failure` set, keeping the chunks already written.
    """
    job = ImportJob.objects.select_related("organization").filter(pk=job_id).first()
    if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return None
    if job.status == ImportJob.Status.QUEUED:
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(status=ImportJob.Status.RUNNING)
        job.status = ImportJob.Status.RUNNING
    try:
        _process(job)
    except _Lost:
        return None
    except ImportFailed as exc:
        return _finish(job, ImportJob.Status.FAILED, str(exc))
    except Exception as exc:
        logger.exception("Import %s failed", job.pk)
        failure = f"Internal error ({type(exc).__name__}); the rows imported before it are kept."
        return _finish(job, ImportJob.Status.FAILED, failure)
    return _finish(job, ImportJob.Status.DONE)


def import_notify(*, job: ImportJob) -> None:
    """POST the job object to its notifyUrl. Best effort: a failure is logged, never raised."""
    if not job.notify_url:
        return
    body = json.dumps(ImportJobSerializer(job).data).encode()
    try:
        status = post_json(job.notify_url, body, timeout=NOTIFY_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("Import %s: notifyUrl %s failed: %s", job.pk, job.notify_url, exc)
        return
    if not 200 <= status < 300:
        logger.warning("Import %s: notifyUrl %s answered HTTP %s", job.pk, job.notify_url, status)
