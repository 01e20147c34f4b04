"""Celery tasks of the studio. Each takes a job id, loads its parameters and calls one service.

Training and generation go to the `gpu` queue; preparing a dataset to `default`.
"""

from __future__ import annotations

from celery import shared_task

from core.models import Job
from core.progress import run_job
from studio.models import GanModel
from studio.services import (
    dataset_prepare,
    interpolation_generate,
    run_train,
    works_generate,
)

DAY = 24 * 3600


@shared_task(name="studio.prepare_dataset", time_limit=3600, soft_time_limit=3500)  # type: ignore[untyped-decorator]
def prepare_dataset(job_id: str) -> None:
    """Check and prepare an uploaded dataset."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(
        job_id, lambda progress: dataset_prepare(dataset_id=params["dataset_id"], progress=progress)
    )


@shared_task(name="studio.train", time_limit=7 * DAY, soft_time_limit=7 * DAY - 600)  # type: ignore[untyped-decorator]
def train(job_id: str) -> None:
    """Train or resume a run; a re-delivered job resumes from the last checkpoint."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)
    run_job(job_id, lambda progress: run_train(run_id=params["run_id"], progress=progress))


@shared_task(name="studio.generate", time_limit=3600, soft_time_limit=3500)  # type: ignore[untyped-decorator]
def generate(job_id: str) -> None:
    """Generate works for seeds."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)

    def work(progress: object) -> dict[str, object]:
        model = GanModel.objects.select_related("run").get(pk=params["model_id"])
        works = works_generate(model=model, seeds=params["seeds"], truncation=params["truncation"])
        return {"work_ids": [w.pk for w in works]}

    run_job(job_id, work)


@shared_task(name="studio.interpolate", time_limit=3600, soft_time_limit=3500)  # type: ignore[untyped-decorator]
def interpolate(job_id: str) -> None:
    """Generate an interpolation strip."""
    params = Job.objects.values_list("params", flat=True).get(pk=job_id)

    def work(progress: object) -> dict[str, object]:
        model = GanModel.objects.select_related("run").get(pk=params["model_id"])
        strip = interpolation_generate(
            model=model,
            seed=params["seed"],
            seed_end=params["seed_end"],
            frames=params["frames"],
            truncation=params["truncation"],
        )
        return {"work_ids": [strip.pk]}

    run_job(job_id, work)
