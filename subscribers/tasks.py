"""Celery entry points for subscribers: thin, they call the services in subscribers.imports."""

from celery import shared_task

from subscribers import imports


@shared_task(name="subscribers.run_import", acks_late=True)
def run_import(job_id: int) -> None:
    """Run import job `job_id` to its end, then POST it to its notifyUrl.

    Safe to redeliver (acks_late): a job already done or failed is left alone,
    and a job left running by a dead worker resumes after its committed rows.
    """
    job = imports.import_run(job_id=job_id)
    if job is not None:
        imports.import_notify(job=job)


@shared_task(name="subscribers.requeue_stalled_imports")
def requeue_stalled_imports() -> int:
    """Enqueue again every import job whose task message was lost (still queued after 5 minutes).

    Safe to run any time, twice included: run_import is idempotent, and two runs
    of one job at once are safe.
    """
    job_ids = imports.stalled_import_ids()
    for job_id in job_ids:
        run_import.delay(job_id)
    return len(job_ids)
