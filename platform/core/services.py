"""Writes for jobs: start one, cancel one; and the worker self-test that proves a worker works."""

from __future__ import annotations

import importlib
import logging
import os
import platform
import socket
import time
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from config.celery import app as celery_app
from core.errors import Conflict, InvalidInput
from core.models import Job, JobState
from core.progress import ProgressReporter

logger = logging.getLogger(__name__)

# `chain` carries mints: one worker per platform signing key, so its nonces stay in order.
QUEUES = ("default", "gpu", "chain")
SELFTEST_LIBRARIES = ("numpy", "pandas", "sklearn", "torch", "web3", "gan", "market", "provenance")


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop; a pending job stops at once, a running one at its next progress report."""
    if job.is_final:
        raise Conflict(f"Job {job.pk} has already ended ({job.state}); there is nothing to cancel.")
    job.cancel_requested = True
    if job.state == JobState.PENDING:
        job.state = JobState.CANCELLED
        job.message = "Cancelled before it started."
        job.finished_at = timezone.now()
    job.save(update_fields=["cancel_requested", "state", "message", "finished_at", "updated_at"])
    return job


@transaction.atomic
def job_submit(
    *,
    kind: str,
    owner: User | None,
    task_name: str,
    queue: str = "default",
    params: dict[str, Any] | None = None,
) -> Job:
    """Record a job and send its task (by name, with the job's id) once the transaction commits."""
    if queue not in QUEUES:
        raise InvalidInput(f"Unknown queue {queue!r}; choose one of: {', '.join(QUEUES)}.")
    job = Job.objects.create(
        kind=kind,
        owner=owner,
        queue=queue,
        task_name=task_name,
        params=params or {},
        message="Waiting for a worker.",
    )
    transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: Job) -> None:
    """Send a job's task to the broker and remember its Celery id."""
    result = celery_app.send_task(job.task_name, args=[str(job.pk)], queue=job.queue)
    Job.objects.filter(pk=job.pk).update(celery_task_id=result.id)


def job_requeue_stale(*, silent_for: timedelta) -> list[Job]:
    """Send again the running jobs whose worker has not reported for `silent_for`.

    A worker that dies mid-job (killed, out of memory, machine lost) leaves its job `running`;
    a worker calls this when it starts, and the job's task picks up from its last checkpoint.
    """
    cutoff = timezone.now() - silent_for
    stale = list(
        Job.objects.filter(
            state=JobState.RUNNING, updated_at__lt=cutoff, cancel_requested=False
        ).exclude(task_name="")
    )
    for job in stale:
        updated = Job.objects.filter(pk=job.pk, state=JobState.RUNNING, updated_at__lt=cutoff)
        if updated.update(
            message="Its worker stopped answering; sent again.", updated_at=timezone.now()
        ):
            logger.warning(
                "job %s (%s) was silent since %s; sending it again",
                job.pk,
                job.kind,
                job.updated_at,
            )
            _enqueue(job)
    return stale


def selftest_start(*, owner: User | None, queue: str = "default") -> Job:
    """Start the worker self-test on a queue (owner None: started from the command line)."""
    return job_submit(kind="selftest", owner=owner, task_name="core.selftest", queue=queue)


def selftest_run(*, progress: ProgressReporter, queue: str) -> dict[str, Any]:
    """Check what a worker needs: database, file storage, libraries and the compute device."""
    steps = 3 + len(SELFTEST_LIBRARIES)
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        progress.update(done / steps, message)
        progress.log(message)

    progress.update(0.0, "Starting the self-test.", force=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    step(f"Database ({connection.vendor}) answered in {_ms(started)} ms.")

    started = time.perf_counter()
    name = default_storage.save(
        f"selftest/{socket.gethostname()}-{os.getpid()}.txt", ContentFile(b"ok")
    )
    try:
        with default_storage.open(name) as file:
            if file.read() != b"ok":
                raise InvalidInput(
                    f"File storage returned other bytes than were written to {name}."
                )
    finally:
        default_storage.delete(name)
    step(f"File storage wrote, read and deleted a file in {_ms(started)} ms.")

    versions: dict[str, str] = {}
    for module_name in SELFTEST_LIBRARIES:
        started = time.perf_counter()
        module = importlib.import_module(module_name)
        version = getattr(module, "__version__", "")
        versions[module_name] = version or "imported"
        step(f"Imported {module_name} {version} in {_ms(started)} ms.".replace("  ", " "))

    device = _compute_device()
    step(f"Compute device: {device['name']} ({device['kind']}); a matrix product checked out.")
    return {
        "queue": queue,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "python": platform.python_version(),
        "database": connection.vendor,
        "versions": versions,
        "device": device,
    }


def _compute_device() -> dict[str, str]:
    """The device torch would train on, proven with a small matrix product."""
    import torch

    if torch.cuda.is_available():
        device = torch.device("cuda")
        name = torch.cuda.get_device_name(device)
    else:
        device, name = torch.device("cpu"), platform.processor() or platform.machine()
    matrix = torch.eye(64, device=device) * 2
    if not torch.equal((matrix @ matrix).diagonal().cpu(), torch.full((64,), 4.0)):
        raise InvalidInput(
            f"A matrix product on {device} came out wrong; the device is unreliable."
        )
    return {"kind": device.type, "name": name}


def _ms(started: float) -> int:
    """Milliseconds since `started` (a perf_counter reading)."""
    return round((time.perf_counter() - started) * 1000)
