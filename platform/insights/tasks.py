"""Celery tasks of the insights app; fitting a price model runs on the `default` queue."""

from __future__ import annotations

from celery import shared_task

from core.models import Job
from core.progress import run_job
from insights.services import model_fit


@shared_task(name="insights.fit_model", time_limit=3600, soft_time_limit=3500)  # type: ignore[untyped-decorator]
def fit_model(job_id: str) -> None:
    """Backtest and fit a price model, then forecast its held-out lots."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(job_id, lambda progress: model_fit(model_id=params["model_id"], progress=progress))
