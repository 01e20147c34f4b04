"""Command-line progress for management commands: a bar that follows a job, or any loop."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar
from uuid import UUID

from tqdm import tqdm

from core.errors import Unavailable
from core.models import Job

T = TypeVar("T")


def progress_bar(items: Iterable[T], *, description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on standard error (plain lines when it is not a terminal)."""
    yield from tqdm(items, desc=description, total=total, file=sys.stderr, dynamic_ncols=True)


def follow_job(
    job_id: UUID,
    *,
    timeout: float,
    poll_interval: float = 0.25,
    stream: IO[str] | None = None,
) -> Job:
    """Draw a job's progress until it ends; Unavailable if it has not ended within `timeout`."""
    deadline = time.monotonic() + timeout
    seen_log = 0
    with tqdm(total=100, unit="%", file=stream or sys.stderr, dynamic_ncols=True) as bar:
        while True:
            job = Job.objects.get(pk=job_id)
            bar.set_description_str(job.message[:60] or job.state)
            bar.update(job.percent - bar.n)
            for line in job.log[seen_log:]:
                bar.write(f"  {line}", file=stream or sys.stderr)
            seen_log = len(job.log)
            if job.is_final:
                return job
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"Job {job_id} has not ended after {timeout:.0f} s (state: {job.state}). "
                    "Is a worker running on its queue? Start one with `make run` or "
                    "`celery -A config worker -Q default,gpu`."
                )
            time.sleep(poll_interval)
