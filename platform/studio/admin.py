"""Admin for the studio's records."""

from django.contrib import admin

from studio.models import Dataset, GanModel, TrainingRun, Work


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin[Dataset]):
    """Datasets by owner and state."""

    list_display = (
        "name",
        "owner",
        "resolution",
        "state",
        "image_count",
        "refused_count",
        "created_at",
    )
    list_filter = ("state", "resolution")
    search_fields = ("name", "owner__username", "manifest_hash")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin[TrainingRun]):
    """Runs by owner, with their step."""

    list_display = ("name", "owner", "preset", "step", "created_at")
    search_fields = ("name", "owner__username")


@admin.register(GanModel)
class GanModelAdmin(admin.ModelAdmin[GanModel]):
    """Trained models and their weights' hashes."""

    list_display = ("pk", "run", "owner", "weights_sha256", "created_at")
    search_fields = ("weights_sha256", "owner__username")


@admin.register(Work)
class WorkAdmin(admin.ModelAdmin[Work]):
    """Generated works."""

    list_display = (
        "pk",
        "owner",
        "model",
        "kind",
        "seed",
        "truncation",
        "is_favourite",
        "created_at",
    )
    list_filter = ("kind", "is_favourite")
    search_fields = ("sha256", "owner__username")
