"""The progress mechanism every task uses: throttled writes, log lines, cancel, and how jobs end."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from core.errors import InvalidInput
from core.models import Job, JobState
from core.progress import MAX_LOG_LINES, ProgressReporter, run_job
from core.services import job_cancel

pytestmark = pytest.mark.django_db


class FakeClock:
    """Time that moves only when told to: throttling is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def running_job(artist: User) -> Job:
    return Job.objects.create(kind="test", owner=artist, state=JobState.RUNNING)


def test_updates_are_written_at_most_once_per_interval(running_job: Job) -> None:
    clock = FakeClock()
    reporter = ProgressReporter(running_job.pk, min_interval=1.0, clock=clock)

    reporter.update(0.1, "first")
    reporter.update(0.2, "too soon")
    running_job.refresh_from_db()
    assert (running_job.progress, running_job.message) == (0.1, "first")

    clock.now = 1.5
    reporter.update(0.3, "later")
    running_job.refresh_from_db()
    assert (running_job.progress, running_job.message) == (0.3, "later")


def test_fractions_are_clamped_and_log_keeps_the_latest_lines(running_job: Job) -> None:
    reporter = ProgressReporter(running_job.pk)

    reporter.update(7.0, force=True)
    for number in range(MAX_LOG_LINES + 5):
        reporter.log(f"line {number}")

    running_job.refresh_from_db()
    assert running_job.progress == 1.0
    assert len(running_job.log) == MAX_LOG_LINES
    assert running_job.log[-1].endswith(f"line {MAX_LOG_LINES + 4}")


def test_a_successful_job_records_its_result(artist: User) -> None:
    job = Job.objects.create(kind="test", owner=artist)

    def work(progress: ProgressReporter) -> dict[str, Any]:
        progress.update(0.5, "halfway", force=True)
        return {"answer": 42}

    run_job(job.pk, work)

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert (job.progress, job.result, job.message) == (1.0, {"answer": 42}, "Done.")
    assert job.started_at
    assert job.finished_at


def test_a_domain_error_fails_the_job_with_its_message(artist: User) -> None:
    job = Job.objects.create(kind="test", owner=artist)

    def work(progress: ProgressReporter) -> dict[str, Any]:
        raise InvalidInput("The dataset has 3 images; at least 16 are needed.")

    run_job(job.pk, work)

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "The dataset has 3 images; at least 16 are needed."


def test_an_unexpected_error_fails_the_job_and_reaches_celery(artist: User) -> None:
    job = Job.objects.create(kind="test", owner=artist)

    def work(progress: ProgressReporter) -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        run_job(job.pk, work)

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "ZeroDivisionError: division by zero"


def test_cancel_stops_a_running_job_at_its_next_report(artist: User) -> None:
    job = Job.objects.create(kind="test", owner=artist)
    reached: list[float] = []

    def work(progress: ProgressReporter) -> dict[str, Any]:
        for step in range(10):
            if step == 3:
                job_cancel(job=Job.objects.get(pk=job.pk))
            progress.update(step / 10, force=True)
            reached.append(step / 10)
        return {}

    run_job(job.pk, work)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert reached == [0.0, 0.1, 0.2]
    assert job.progress == 0.2


def test_a_finished_job_is_not_run_again_nor_cancelled(artist: User) -> None:
    from core.errors import Conflict

    job = Job.objects.create(kind="test", owner=artist, state=JobState.SUCCEEDED, progress=1.0)
    calls: list[int] = []

    run_job(job.pk, lambda progress: calls.append(1) or {})

    assert calls == []
    with pytest.raises(Conflict, match="already ended"):
        job_cancel(job=job)
