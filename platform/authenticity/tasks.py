"""Celery tasks of the authenticity checks: training the attribution model, indexing works."""

from __future__ import annotations

from celery import shared_task

from authenticity.attribution import attributor_train
from authenticity.batch import batch_run
from authenticity.fingerprints import fingerprints_sync
from authenticity.rerender import rerender_run
from core.models import Job
from core.progress import run_job


@shared_task(name="authenticity.train_attributor", time_limit=3600, soft_time_limit=3500)  # type: ignore[untyped-decorator]
def train_attributor(job_id: str) -> None:
    """Fit the attribution model on the portfolios and every generator's works."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(
        job_id,
        lambda progress: attributor_train(attributor_id=params["attributor_id"], progress=progress),
    )


@shared_task(name="authenticity.index")  # type: ignore[untyped-decorator]
def index() -> int:
    """Fingerprint every registered image that has none yet (also done before each check)."""
    total = 0
    while done := fingerprints_sync():
        total += done
    return total


@shared_task(name="authenticity.rerender", time_limit=1800, soft_time_limit=1700)  # type: ignore[untyped-decorator]
def rerender(job_id: str) -> None:
    """Make a verified work again from its model and seed, and add the proof to the report."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(
        job_id,
        lambda progress: rerender_run(
            verification_id=params["verification_id"],
            work_id=params["work_id"],
            progress=progress,
        ),
    )


@shared_task(name="authenticity.verify_batch", time_limit=7200, soft_time_limit=7100)  # type: ignore[untyped-decorator]
def verify_batch(job_id: str) -> None:
    """Verify every item of a batch, recording each answer or each item's error."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(job_id, lambda progress: batch_run(batch_id=params["batch_id"], progress=progress))
