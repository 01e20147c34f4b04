"""API shapes for jobs and the self-test."""

from __future__ import annotations

from rest_framework import serializers

from core.models import Job
from core.services import QUEUES


class JobSerializer(serializers.ModelSerializer[Job]):
    """A job as the API shows it: state, progress, message, log and outcome."""

    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    is_final = serializers.BooleanField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "owner",
            "queue",
            "state",
            "is_final",
            "progress",
            "message",
            "log",
            "result",
            "error",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
        ]
        read_only_fields = fields


class SelftestRequestSerializer(serializers.Serializer[None]):
    """Which queue's worker to test."""

    queue = serializers.ChoiceField(choices=QUEUES, default="default")
