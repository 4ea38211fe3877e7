"""Celery entry points for subscribers: thin, they call the services in subscribers.imports."""

from celery import shared_task

from subscribers import imports


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    """Run import job `job_id` to its end, then POST it to its notifyUrl.

    Safe to redeliver (acks_late): a job already done or failed is left alone,
    and a job left running by a dead worker resumes after its committed rows.
    """
    job = imports.import_run(job_id=job_id)
    if job is not None:
        imports.import_notify(job=job)
