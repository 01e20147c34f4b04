"""Reads for jobs and health."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from core.models import Job


def job_list(*, user: User) -> QuerySet[Job]:
    """The jobs a person may see: their own; staff see everyone's."""
    jobs = Job.objects.select_related("owner")
    return jobs if user.is_staff else jobs.filter(owner=user)


def job_get(*, user: User, job_id: UUID | str) -> Job:
    """One job the person may see, or NotFound (the same answer whether it exists or not)."""
    try:
        return job_list(user=user).get(pk=job_id)
    except (Job.DoesNotExist, ValidationError):
        raise NotFound(f"No job {job_id} of yours exists.") from None
