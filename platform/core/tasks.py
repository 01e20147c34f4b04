"""Celery tasks of the core app. Each takes ids, loads rows, and calls one service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from core.models import Job
from core.progress import run_job
from core.services import job_requeue_stale, selftest_run


@shared_task(name="core.selftest", time_limit=300, soft_time_limit=270)  # type: ignore[untyped-decorator]
def selftest(job_id: str) -> None:
    """Run the worker self-test for a job, on whichever queue it was sent to."""
    queue = Job.objects.values_list("queue", flat=True).get(pk=job_id)
    run_job(job_id, lambda progress: selftest_run(progress=progress, queue=queue))


@worker_ready.connect  # type: ignore[untyped-decorator]
def requeue_stale_jobs(**_: Any) -> None:
    """When a worker starts, jobs whose worker died mid-way are sent again (they resume)."""
    job_requeue_stale(silent_for=timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS))
