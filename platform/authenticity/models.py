"""What the authenticity checks keep: fingerprints of registered works, and every verification."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from registry.models import Certificate
from studio.models import Work

from core.models import Job


class Fingerprint(models.Model):
    """What identifies one registered image: its sha256 and its matching print.

    A registered image is a work generated on the platform or a certificate's image (certified or
    minted); `print` is provenance.matching's serialised print (global hash and local features),
    so every process can rebuild its in-memory index from these rows.
    """

    work = models.OneToOneField(
        Work, on_delete=models.CASCADE, null=True, blank=True, related_name="fingerprint"
    )
    certificate = models.OneToOneField(
        Certificate, on_delete=models.CASCADE, null=True, blank=True, related_name="fingerprint"
    )
    sha256 = models.CharField(max_length=64, db_index=True)
    print = models.BinaryField(help_text="provenance.matching print: hash and local features.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(work__isnull=False, certificate__isnull=True)
                    | models.Q(work__isnull=True, certificate__isnull=False)
                ),
                name="fingerprint_of_one_thing",
            ),
        ]

    def __str__(self) -> str:
        what = f"work {self.work_id}" if self.work_id else f"certificate {self.certificate_id}"
        return f"{what} ({self.sha256[:12]}…)"


class Verdict(models.TextChoices):
    """The verification's conclusion, worded by its strongest evidence."""

    REGISTERED = "registered", "Registered work"
    PROBABLE = "probable", "Probably a registered work"
    UNCERTAIN = "uncertain", "Uncertain"
    NO_MATCH = "no_match", "No match"


class Verification(models.Model):
    """One check of an image or a token: who asked, when, what was asked, what was found."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="verifications",
    )
    client = models.CharField(max_length=64, help_text="Keyed hash of the client's address.")
    query_sha256 = models.CharField(max_length=64, blank=True, help_text="The image's sha256.")
    query_name = models.CharField(max_length=255, blank=True, help_text="The file's name.")
    query_token_id = models.CharField(max_length=78, blank=True, help_text="uint256 as text.")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    work = models.ForeignKey(
        Work, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    certificate = models.ForeignKey(
        Certificate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    report = models.JSONField(help_text="The whole report, as the API answered it.")
    duration_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        asked = self.query_name or self.query_token_id or self.query_sha256[:12]
        return f"{asked}: {self.get_verdict_display()}"


class AttributorState(models.TextChoices):
    """Where a training of the attribution model is."""

    TRAINING = "training", "Training"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Attributor(models.Model):
    """A fitted attribution model: portfolio images against each generator's works.

    The model is JSON (provenance.attribution; no pickle) under MEDIA_ROOT/authenticity/; its
    held-out accuracy, calibration error and portfolio false-positive rate are in `metrics` and
    are printed wherever its answer is.
    """

    state = models.CharField(
        max_length=16, choices=AttributorState.choices, default=AttributorState.TRAINING
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    classes = models.JSONField(default=dict, blank=True, help_text="Label -> what it names.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out scores and counts.")
    file = models.CharField(max_length=255, blank=True, help_text="Relative to MEDIA_ROOT.")
    file_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"attribution model {self.pk} ({self.get_state_display()})"


class VerificationBatch(models.Model):
    """Many checks at once: a zip of images or a CSV of token ids; one CSV and one PDF out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verification_batches"
    )
    source_name = models.CharField(max_length=255)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    item_count = models.PositiveIntegerField()
    rows = models.JSONField(
        default=list, blank=True, help_text="Per item: its name, and its verification or error."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.item_count} items)"
