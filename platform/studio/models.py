"""Datasets, training runs, trained models and works: the lineage of every generated image."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Job


class DatasetState(models.TextChoices):
    """Where a dataset is: its images are checked and prepared by a job."""

    PREPARING = "preparing", "Preparing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Dataset(models.Model):
    """An artist's portfolio, validated, deduplicated and prepared at one resolution."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=120)
    resolution = models.PositiveSmallIntegerField()
    state = models.CharField(
        max_length=16, choices=DatasetState.choices, default=DatasetState.PREPARING
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    manifest_hash = models.CharField(max_length=64, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(
        default=dict, blank=True, help_text="Per-file: taken, or refused and why."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolution__in=[64, 128, 256, 512]),
                name="dataset_resolution_known",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.resolution} px)"


class TrainingRun(models.Model):
    """One training of a GAN on a dataset: its config, its job, its samples and metrics."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="runs")
    name = models.CharField(max_length=120)
    preset = models.CharField(max_length=32)
    config = models.JSONField(help_text="gan.config.TrainConfig as JSON.")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    step = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True, help_text="Losses and metrics over time.")
    samples = models.JSONField(default=list, blank=True, help_text="Steps with a sample grid.")
    metrics = models.JSONField(default=list, blank=True, help_text="KID and FID over time.")
    works_on_finish = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def total_steps(self) -> int:
        """Steps the run is configured for."""
        return int(self.config["steps"])


class GanModel(models.Model):
    """A trained generator: its weights' hash and its model card (the lineage of its works)."""

    run = models.OneToOneField(TrainingRun, on_delete=models.PROTECT, related_name="model")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gan_models"
    )
    weights_sha256 = models.CharField(max_length=64, unique=True)
    card = models.JSONField(help_text="gan.checkpoint.ModelCard as JSON.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.run.name} @ step {self.card.get('step')}"


class WorkKind(models.TextChoices):
    """A single image from a seed, or a strip interpolating between two seeds."""

    IMAGE = "image", "Image"
    INTERPOLATION = "interpolation", "Interpolation"


class Work(models.Model):
    """A generated image: which model, which seed, which truncation, and its bytes' hash."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="works"
    )
    model = models.ForeignKey(GanModel, on_delete=models.PROTECT, related_name="works")
    kind = models.CharField(max_length=16, choices=WorkKind.choices, default=WorkKind.IMAGE)
    seed = models.BigIntegerField()
    seed_end = models.BigIntegerField(null=True, blank=True, help_text="Interpolations end here.")
    frames = models.PositiveSmallIntegerField(default=1, help_text="Images in a strip.")
    truncation = models.FloatField(default=1.0)
    image = models.FileField(upload_to="studio/works/")
    sha256 = models.CharField(max_length=64)
    mark = models.CharField(
        max_length=12,
        blank=True,
        db_index=True,
        help_text="The invisible watermark's 48-bit payload (hex); empty when too small to carry.",
    )
    is_favourite = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same model, seed(s) and truncation always give the same bytes: store once.
            models.UniqueConstraint(
                fields=["model", "seed", "truncation"],
                condition=models.Q(kind="image"),
                name="work_image_unique",
            ),
            models.UniqueConstraint(
                fields=["model", "seed", "seed_end", "frames", "truncation"],
                condition=models.Q(kind="interpolation"),
                name="work_interpolation_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(truncation__gt=0) & models.Q(truncation__lte=1),
                name="work_truncation_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"seed {self.seed} of {self.model_id}"
