"""A job: one piece of long work run by a Celery task, with the progress a person watches."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class JobState(models.TextChoices):
    """Where a job is in its life; the last three are final."""

    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class Job(models.Model):
    """Long work's record: who asked, what it is, how far it got, its log and its outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64, help_text="What the job does, e.g. 'selftest'.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs", null=True
    )
    queue = models.CharField(max_length=32, default="default")
    task_name = models.CharField(
        max_length=100, blank=True, help_text="The Celery task that runs it."
    )
    params = models.JSONField(default=dict, blank=True, help_text="The task's input.")
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1.")
    message = models.CharField(max_length=500, blank=True)
    log = models.JSONField(
        default=list, blank=True, help_text="The latest log lines, oldest first."
    )
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0) & models.Q(progress__lte=1.0),
                name="job_progress_is_a_fraction",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=JobState.values), name="job_state_is_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.state})"

    @property
    def is_final(self) -> bool:
        """Whether the job has ended, well or not."""
        return self.state in FINAL_STATES

    @property
    def percent(self) -> int:
        """Progress as a whole percentage, for display."""
        return round(self.progress * 100)
