"""API shapes for people and tokens."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiToken, User
from accounts.services import MAX_TOKEN_DAYS


class MeSerializer(serializers.ModelSerializer[User]):
    """The signed-in person."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "role", "date_joined"]
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token's public facts (never the token itself)."""

    is_usable = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_usable",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer[None]):
    """What a new token needs."""

    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, required=False, allow_null=True
    )


class CredentialsSerializer(ApiTokenCreateSerializer):
    """A username and password exchanged for a new token."""

    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(max_length=100, default="API client")


class NewTokenSerializer(ApiTokenSerializer):
    """A token just made: the only answer that carries the token itself."""

    token = serializers.CharField(read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
