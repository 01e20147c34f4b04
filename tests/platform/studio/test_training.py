"""The artist's journey on a real Celery worker: upload, prepare, train on the `gpu` queue (the
CPU here), get a model and works; cancel and resume; survive a worker killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from studio.models import Dataset, GanModel, TrainingRun, Work
from studio.services import run_folder

from accounts.models import User
from core.models import Job, JobState
from gan.checkpoint import has_checkpoint, read_checkpoint_meta
from tests.helpers import wait_until
from tests.platform.conftest import running_worker

pytestmark = pytest.mark.worker


def _job(job_id: Any, timeout: float = 240) -> Job:
    wait_until(lambda: Job.objects.get(pk=job_id).is_final, timeout=timeout, what=f"job {job_id}")
    return Job.objects.get(pk=job_id)


def _ready_dataset(api: APIClient, upload: SimpleUploadedFile) -> Dataset:
    response = api.post(
        reverse("api:studio-datasets"),
        {"name": "Fuji", "resolution": 64, "files": [upload]},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert dataset.job is not None
    assert _job(dataset.job.pk).state == JobState.SUCCEEDED
    dataset.refresh_from_db()
    return dataset


def _start_run(api: APIClient, dataset: Dataset, **fields: Any) -> TrainingRun:
    response = api.post(
        reverse("api:studio-runs"),
        {"dataset": dataset.pk, "preset": "sketch", **fields},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return TrainingRun.objects.get(pk=response.json()["id"])


def test_upload_train_and_generate_on_a_real_worker(
    filesystem_worker: subprocess.Popen[bytes],
    api: APIClient,
    client: Client,
    artist: User,
    portfolio_zip: Callable[..., SimpleUploadedFile],
) -> None:
    api.force_authenticate(artist)
    dataset = _ready_dataset(api, portfolio_zip(12))
    assert dataset.image_count == 12

    run = _start_run(api, dataset, steps=20, works_on_finish=3)
    assert run.job is not None
    assert run.job.queue == "gpu"
    job = _job(run.job.pk)

    assert job.state == JobState.SUCCEEDED, job.error
    model = GanModel.objects.get(run=run)
    assert model.card["dataset_manifest_hash"] == dataset.manifest_hash
    assert model.card["step"] == 20
    works = list(Work.objects.filter(model=model).order_by("seed"))
    assert [w.seed for w in works] == [0, 1, 2]
    assert any("Sample grid" in line for line in job.log)
    run.refresh_from_db()
    assert run.samples
    assert run.history

    client.force_login(artist)
    image = client.get(reverse("studio:work-image", args=[works[0].pk]))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    sample = client.get(reverse("studio:run-sample", args=[run.pk, run.samples[0]]))
    assert sample.status_code == 200
    page = client.get(reverse("studio:run", args=[run.pk])).content.decode()
    assert "Open the model" in page
    assert "Losses over time" in page

    again = api.post(
        reverse("api:studio-generate", args=[model.pk]),
        {"seeds": "1-2", "truncation": 0.8},
        format="json",
    )
    assert again.status_code == 202
    result = _job(again.json()["id"])
    assert result.state == JobState.SUCCEEDED, result.error
    assert result.result["work_ids"] == [works[1].pk, works[2].pk]  # same seed, same work

    strip = api.post(
        reverse("api:studio-interpolate", args=[model.pk]),
        {"seed": 0, "seed_end": 1, "frames": 4, "truncation": 0.8},
        format="json",
    )
    strip_job = _job(strip.json()["id"])
    assert strip_job.state == JobState.SUCCEEDED, strip_job.error
    strip_work = Work.objects.get(pk=strip_job.result["work_ids"][0])
    assert (strip_work.kind, strip_work.seed_end, strip_work.frames) == ("interpolation", 1, 4)


def test_a_cancelled_run_keeps_its_checkpoint_and_resumes_to_the_end(
    filesystem_worker: subprocess.Popen[bytes],
    api: APIClient,
    artist: User,
    portfolio_zip: Callable[..., SimpleUploadedFile],
) -> None:
    api.force_authenticate(artist)
    run = _start_run(api, _ready_dataset(api, portfolio_zip(10)), steps=400)
    assert run.job is not None
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).step >= 20, timeout=180, what="20 steps")

    assert api.post(reverse("api:studio-run-cancel", args=[run.pk])).status_code == 200
    cancelled = _job(run.job.pk)
    assert cancelled.state == JobState.CANCELLED
    stopped_at = read_checkpoint_meta(run_folder(run))["step"]
    assert 20 <= stopped_at < 400

    # Resume, but make the remaining work short: the run's config decides its length.
    TrainingRun.objects.filter(pk=run.pk).update(config={**run.config, "steps": stopped_at + 10})
    resumed = api.post(reverse("api:studio-run-resume", args=[run.pk]))
    assert resumed.status_code == 202
    job = _job(TrainingRun.objects.get(pk=run.pk).job.pk)  # type: ignore[union-attr]

    assert job.state == JobState.SUCCEEDED, job.error
    assert any("Resuming on cpu" in line for line in job.log)
    assert GanModel.objects.get(run=run).card["step"] == stopped_at + 10


@pytest.fixture
def killable_worker(
    transactional_db: None, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start workers on demand (they requeue jobs silent for 2 s); all are stopped at the end."""
    with ExitStack() as stack:

        def start() -> subprocess.Popen[bytes]:
            return stack.enter_context(
                running_worker(settings.CELERY_BROKER_URL, tmp_path, JOB_STALE_AFTER_SECONDS="2")
            )

        yield start


def test_a_worker_killed_mid_run_resumes_from_its_last_checkpoint(
    killable_worker: Callable[[], subprocess.Popen[bytes]],
    api: APIClient,
    artist: User,
    portfolio_zip: Callable[..., SimpleUploadedFile],
) -> None:
    first = killable_worker()
    api.force_authenticate(artist)
    run = _start_run(api, _ready_dataset(api, portfolio_zip(10)), steps=60)
    assert run.job is not None
    wait_until(lambda: has_checkpoint(run_folder(run)), timeout=180, what="a checkpoint")

    os.kill(first.pid, signal.SIGKILL)  # no warm shutdown: the job is left "running"
    first.wait()
    killed_at = read_checkpoint_meta(run_folder(run))["step"]
    assert Job.objects.get(pk=run.job.pk).state == JobState.RUNNING
    job_id = run.job.pk
    wait_until(
        lambda: Job.objects.get(pk=job_id).updated_at < timezone.now() - timedelta(seconds=2),
        timeout=10,
        what="the job to go silent",
    )
    killable_worker()  # a restarted worker finds the silent job and sends it again

    job = _job(run.job.pk)
    assert job.state == JobState.SUCCEEDED, job.error
    assert any(
        "Resuming on cpu: fastgan at 64 px, 10 images, 60 steps." in line for line in job.log
    )
    assert GanModel.objects.get(run=run).card["step"] == 60
    assert killed_at >= 3
