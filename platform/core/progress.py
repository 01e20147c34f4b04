"""How a task reports progress: fraction, message and log lines, written to its Job row.

A task gets a `ProgressReporter` from `run_job` and calls `update`/`log` as often as it likes (a
library's `on_progress` callback can be one of them); writes are throttled, and each one also
tells the task whether someone asked to cancel, by raising `JobCancelled`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.models import FINAL_STATES, Job, JobState

logger = logging.getLogger(__name__)

MAX_LOG_LINES = 200
MAX_LINE_LENGTH = 500


class JobCancelled(Exception):
    """Someone asked the job to stop; raised from the reporter so the task unwinds cleanly."""


class ProgressReporter:
    """Writes one job's progress to the database, at most every `min_interval` seconds."""

    def __init__(
        self,
        job_id: UUID,
        *,
        min_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.min_interval = min_interval
        self._clock = clock
        self._fraction = 0.0
        self._message = ""
        self._log: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self._last_write = float("-inf")

    @property
    def fraction(self) -> float:
        """The last fraction reported."""
        return self._fraction

    def update(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        """Record how far the work is (0 to 1) and what it is doing now."""
        self._fraction = min(max(float(fraction), 0.0), 1.0)
        if message is not None:
            self._message = message[:MAX_LINE_LENGTH]
        if force or self._clock() - self._last_write >= self.min_interval:
            self.flush()

    def log(self, line: str) -> None:
        """Add a line to the job's log (kept: the latest MAX_LOG_LINES) and write it out."""
        stamp = timezone.now().strftime("%H:%M:%S")
        self._log.append(f"{stamp} {line[:MAX_LINE_LENGTH]}")
        self.flush()

    def flush(self) -> None:
        """Write the current state; raise JobCancelled if a cancel was asked for."""
        self._last_write = self._clock()
        written = Job.objects.filter(
            pk=self.job_id, state=JobState.RUNNING, cancel_requested=False
        ).update(
            progress=self._fraction,
            message=self._message,
            log=list(self._log),
            updated_at=timezone.now(),
        )
        if not written:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def load(self, job: Job) -> None:
        """Continue from what the job already holds (a retried or resumed task)."""
        self._fraction = job.progress
        self._message = job.message
        self._log.extend(job.log)


def run_job(job_id: UUID | str, work: Callable[[ProgressReporter], dict[str, Any]]) -> None:
    """Run `work` for a job: mark it running, report its progress, record how it ended.

    Domain errors and unexpected exceptions both end the job as failed with a message; an
    unexpected one is re-raised so Celery logs it and its retry policy applies.
    """
    reporter = ProgressReporter(UUID(str(job_id)))
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=reporter.job_id)
        if job.is_final:
            logger.info("job %s already ended (%s); nothing to do", job.pk, job.state)
            return
        if job.cancel_requested:
            _finish(job.pk, JobState.CANCELLED, message="Cancelled before it started.")
            return
        job.state = JobState.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["state", "started_at", "updated_at"])
    reporter.load(job)
    try:
        result = work(reporter)
    except JobCancelled:
        _finish(job.pk, JobState.CANCELLED, message="Cancelled.")
    except DomainError as error:
        _finish(job.pk, JobState.FAILED, message="Failed.", error=error.message)
    except Exception as error:
        _finish(
            job.pk,
            JobState.FAILED,
            message="Failed with an unexpected error.",
            error="".join(traceback.format_exception_only(error)).strip(),
        )
        raise
    else:
        _finish(job.pk, JobState.SUCCEEDED, message="Done.", result=result, progress=1.0)


def _finish(
    job_id: UUID,
    state: JobState,
    *,
    message: str,
    error: str = "",
    result: dict[str, Any] | None = None,
    progress: float | None = None,
) -> None:
    """Record a job's end once; a job that already ended keeps its first ending."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": state,
        "message": message,
        "error": error[:10_000],
        "finished_at": now,
        "updated_at": now,
    }
    if result is not None:
        fields["result"] = result
    if progress is not None:
        fields["progress"] = progress
    Job.objects.filter(pk=job_id).exclude(state__in=FINAL_STATES).update(**fields)
