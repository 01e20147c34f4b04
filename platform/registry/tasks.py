"""Celery tasks of the registry: minting runs on the `chain` queue, one worker per signing key."""

from __future__ import annotations

from celery import shared_task

from core.models import Job
from core.progress import run_job
from registry.services import mint_execute


@shared_task(name="registry.mint", time_limit=1800, soft_time_limit=1700)  # type: ignore[untyped-decorator]
def mint(job_id: str) -> None:
    """Mint a signed certificate and follow the transaction until it is confirmed."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(
        job_id,
        lambda progress: mint_execute(certificate_id=params["certificate_id"], progress=progress),
    )
