"""A real Celery worker runs jobs through the filesystem broker and through Redis."""

from __future__ import annotations

import subprocess

import pytest
from django.db import connection

from accounts.models import User
from config.celery import app as celery_app
from core.models import Job, JobState
from core.services import selftest_start
from core.tasks import selftest
from tests.helpers import wait_until

pytestmark = pytest.mark.worker


def _wait_for_end(job: Job, timeout: float = 90) -> Job:
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, timeout=timeout, what=f"job {job.pk}")
    return Job.objects.get(pk=job.pk)


def test_selftest_runs_on_a_worker_through_the_filesystem_broker(
    filesystem_worker: subprocess.Popen[bytes], staff: User
) -> None:
    job = selftest_start(owner=staff, queue="default")

    job = _wait_for_end(job)

    assert job.state == JobState.SUCCEEDED, job.error
    assert job.progress == 1.0
    assert job.result["queue"] == "default"
    assert job.result["database"] == connection.vendor  # the worker used the test database
    assert job.result["versions"]["torch"]
    assert any("Database" in line for line in job.log)
    assert job.celery_task_id


def test_gpu_queue_is_consumed_and_reports_the_compute_device(
    filesystem_worker: subprocess.Popen[bytes], staff: User
) -> None:
    job = _wait_for_end(selftest_start(owner=staff, queue="gpu"))

    assert job.state == JobState.SUCCEEDED, job.error
    assert job.result["queue"] == "gpu"
    assert job.result["device"]["kind"] in {"cpu", "cuda"}


def test_selftest_runs_on_a_worker_through_redis(redis_worker: str, staff: User) -> None:
    job = Job.objects.create(kind="selftest", owner=staff, queue="default")
    with celery_app.connection_for_write(redis_worker) as connection:
        selftest.apply_async(args=[str(job.pk)], queue="default", connection=connection)

    job = _wait_for_end(job)

    assert job.state == JobState.SUCCEEDED, job.error
    assert job.result["worker"]


def test_a_job_cancelled_before_a_worker_takes_it_never_runs(
    filesystem_worker: subprocess.Popen[bytes], staff: User
) -> None:
    from core.services import job_cancel

    job = Job.objects.create(kind="selftest", owner=staff, queue="default")
    job_cancel(job=job)
    selftest.apply_async(args=[str(job.pk)], queue="default")
    follow_up = _wait_for_end(
        selftest_start(owner=staff, queue="default")
    )  # the queue has moved on

    assert follow_up.state == JobState.SUCCEEDED
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.started_at is None
