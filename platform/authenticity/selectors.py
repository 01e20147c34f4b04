"""Reads of the authenticity app: a verification by id, the log of verifications."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User
from authenticity.models import Verification, VerificationBatch
from core.errors import NotFound


def verification_get(*, verification_id: UUID | str) -> Verification:
    """One verification by its id (an unguessable UUID: the link is the receipt)."""
    try:
        found = Verification.objects.filter(pk=verification_id).first()
    except ValidationError:  # not a UUID
        found = None
    if found is None:
        raise NotFound(f"There is no verification {verification_id}.")
    return found


def verification_list(*, user: User) -> QuerySet[Verification]:
    """The verifications a person asked for, newest first (staff see everyone's)."""
    verifications = Verification.objects.select_related("requested_by")
    return verifications if user.is_staff else verifications.filter(requested_by=user)


def batch_list(*, user: User) -> QuerySet[VerificationBatch]:
    """The batches a person sent, newest first (staff see everyone's)."""
    batches = VerificationBatch.objects.select_related("job")
    return batches if user.is_staff else batches.filter(requested_by=user)


def batch_get(*, user: User, batch_id: UUID | str) -> VerificationBatch:
    """One of the person's batches."""
    try:
        found = batch_list(user=user).filter(pk=batch_id).first()
    except ValidationError:
        found = None
    if found is None:
        raise NotFound(f"You have no verification batch {batch_id}.")
    return found
