"""API shapes of the studio."""

from __future__ import annotations

from rest_framework import serializers

from gan.generate import parse_seeds
from studio.models import Dataset, GanModel, TrainingRun, Work
from studio.services import MAX_FRAMES, PRESETS, RESOLUTIONS


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    """A dataset with its per-file report."""

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "resolution",
            "state",
            "job",
            "manifest_hash",
            "image_count",
            "refused_count",
            "report",
            "created_at",
        ]
        read_only_fields = fields


class DatasetCreateSerializer(serializers.Serializer[None]):
    """A multipart upload: name, resolution and one or more `files` (images or zips)."""

    name = serializers.CharField(max_length=120)
    resolution = serializers.ChoiceField(choices=RESOLUTIONS, default=64)
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class RunSerializer(serializers.ModelSerializer[TrainingRun]):
    """A training run and where it stands."""

    trained_model = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "name",
            "dataset",
            "preset",
            "config",
            "job",
            "step",
            "history",
            "samples",
            "metrics",
            "works_on_finish",
            "trained_model",
            "created_at",
        ]
        read_only_fields = fields

    def get_trained_model(self, run: TrainingRun) -> int | None:
        """The id of the model the run produced, once it has finished."""
        model = getattr(run, "model", None)
        return None if model is None else int(model.pk)


class RunCreateSerializer(serializers.Serializer[None]):
    """What a new run needs."""

    dataset = serializers.IntegerField()
    preset = serializers.ChoiceField(choices=list(PRESETS), default="sketch")
    arch = serializers.ChoiceField(choices=["fastgan", "dcgan"], required=False)
    steps = serializers.IntegerField(min_value=10, max_value=1_000_000, required=False)
    works_on_finish = serializers.IntegerField(min_value=0, max_value=64, default=0)


class GanModelSerializer(serializers.ModelSerializer[GanModel]):
    """A trained model and its card."""

    class Meta:
        model = GanModel
        fields = ["id", "run", "weights_sha256", "card", "created_at"]
        read_only_fields = fields


class GenerateSerializer(serializers.Serializer[None]):
    """Seeds as text (0-15, 3,7,42) and a truncation."""

    seeds = serializers.CharField(max_length=200)
    truncation = serializers.FloatField(min_value=0.05, max_value=1.0, default=1.0)

    def validate_seeds(self, value: str) -> list[int]:
        try:
            return parse_seeds(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error


class InterpolateSerializer(serializers.Serializer[None]):
    """Two seeds, a frame count and a truncation."""

    seed = serializers.IntegerField(min_value=0)
    seed_end = serializers.IntegerField(min_value=0)
    frames = serializers.IntegerField(min_value=2, max_value=MAX_FRAMES, default=8)
    truncation = serializers.FloatField(min_value=0.05, max_value=1.0, default=1.0)


class WorkSerializer(serializers.ModelSerializer[Work]):
    """A work with where to fetch its image."""

    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Work
        fields = [
            "id",
            "model",
            "kind",
            "seed",
            "seed_end",
            "frames",
            "truncation",
            "sha256",
            "is_favourite",
            "image_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_image_url(self, work: Work) -> str:
        return f"/studio/works/{work.pk}/image.png"


class FavouriteSerializer(serializers.Serializer[None]):
    """Favourite or not."""

    is_favourite = serializers.BooleanField()
