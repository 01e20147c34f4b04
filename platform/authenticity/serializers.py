"""API shapes of the verifications."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from authenticity.models import VerificationBatch


class VerificationRequestSerializer(serializers.Serializer[None]):
    """An `image` (multipart) or a `token_id`."""

    image = serializers.FileField(required=False)
    token_id = serializers.IntegerField(required=False, min_value=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Exactly one of the two."""
        if ("image" in attrs) == ("token_id" in attrs):
            raise serializers.ValidationError("Send an image or a token_id (one of the two).")
        return attrs


class VerificationReportSerializer(serializers.Serializer[None]):
    """The report: verdict, evidence by rank, match, watermark, registered work, certificate."""

    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    query = serializers.DictField()
    verdict = serializers.DictField()
    evidence = serializers.DictField()
    match = serializers.DictField()
    watermark = serializers.DictField()
    registered = serializers.DictField(allow_null=True)
    certificate = serializers.DictField(allow_null=True)
    attribution = serializers.DictField(allow_null=True)
    registry_size = serializers.IntegerField()


class BatchRequestSerializer(serializers.Serializer[None]):
    """A zip of images or a CSV of token ids."""

    file = serializers.FileField()


class BatchSerializer(serializers.ModelSerializer[VerificationBatch]):
    """A batch, its job, and its rows once checked."""

    class Meta:
        model = VerificationBatch
        fields = ["id", "source_name", "item_count", "job", "rows", "created_at"]
        read_only_fields = fields
