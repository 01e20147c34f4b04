"""`manage.py selftest`: run the worker self-test through the broker and follow its progress."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.cli import follow_job
from core.errors import DomainError
from core.models import JobState
from core.services import QUEUES, selftest_start


class Command(BaseCommand):
    """Proves a worker consumes a queue: database, storage, libraries and device, with a bar."""

    help = "Run the worker self-test on a queue and show its progress until it ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", choices=QUEUES, default="default")
        parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait.")

    def handle(self, *args: Any, queue: str, timeout: float, **options: Any) -> None:
        job = selftest_start(owner=None, queue=queue)
        self.stdout.write(f"Self-test job {job.pk} queued on {queue!r}.")
        try:
            job = follow_job(job.pk, timeout=timeout)
        except DomainError as error:
            raise CommandError(error.message) from error
        if job.state != JobState.SUCCEEDED:
            raise CommandError(f"Self-test {job.state}: {job.error or job.message}")
        self.stdout.write(json.dumps(job.result, indent=2))
        self.stdout.write(self.style.SUCCESS("Worker self-test passed."))
