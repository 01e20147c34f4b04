"""API shapes of the registry."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.forms import KEPT_KEY
from registry.models import Certificate, Mint, Wallet
from registry.selectors import certificate_mint


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    """An address the artist signs with (a kept key's keystore is never shown)."""

    class Meta:
        model = Wallet
        fields = ["id", "address", "kind", "created_at"]
        read_only_fields = fields


class MintSerializer(serializers.ModelSerializer[Mint]):
    """A mint: its state, transaction, token, and the job that follows it."""

    class Meta:
        model = Mint
        fields = [
            "id",
            "certificate",
            "state",
            "job",
            "tx_hash",
            "token_id",
            "block_number",
            "error",
            "requested_at",
            "confirmed_at",
        ]
        read_only_fields = fields


class CertificateSerializer(serializers.ModelSerializer[Certificate]):
    """A certificate as its owner sees it, with the typed data to sign and its mint."""

    wallet = WalletSerializer(read_only=True)
    mint = serializers.SerializerMethodField()
    public_url = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "title",
            "state",
            "work",
            "wallet",
            "chain_id",
            "contract",
            "content_hash",
            "generation_hash",
            "metadata_uri",
            "typed_data",
            "digest",
            "signature",
            "royalty_bps",
            "deadline",
            "created_at",
            "signed_at",
            "mint",
            "public_url",
        ]
        read_only_fields = fields

    @extend_schema_field(MintSerializer(allow_null=True))
    def get_mint(self, certificate: Certificate) -> dict[str, Any] | None:
        """The mint, once one was asked for."""
        mint = certificate_mint(certificate)
        return dict(MintSerializer(mint).data) if mint else None

    def get_public_url(self, certificate: Certificate) -> str:
        """The public certificate page."""
        return reverse("registry:certificate", args=[certificate.pk])


class CertificateCreateSerializer(serializers.Serializer[None]):
    """Certify a studio work (`work`) or an uploaded image (`image`, multipart), not both."""

    work = serializers.IntegerField(required=False, help_text="A studio work's id.")
    image = serializers.FileField(required=False, help_text="The exact image file to certify.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    royalty_bps = serializers.IntegerField(min_value=0, max_value=5000, default=500)
    wallet = serializers.CharField(
        default=KEPT_KEY,
        help_text=f"A linked wallet's id, or `{KEPT_KEY}` for the key Atelier keeps for you.",
    )

    def validate_wallet(self, value: str) -> str:
        if value != KEPT_KEY and not value.isdigit():
            raise serializers.ValidationError(f"A wallet id or `{KEPT_KEY}`, not {value!r}.")
        return value

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if ("work" in attrs) == ("image" in attrs):
            raise serializers.ValidationError("Give either `work` (an id) or `image` (a file).")
        return attrs


class SignatureSerializer(serializers.Serializer[None]):
    """A signature of the certificate's typed data, 0x-hex, made in the artist's wallet."""

    signature = serializers.CharField(max_length=200)


class SiweRequestSerializer(serializers.Serializer[None]):
    """The address of the wallet to link."""

    address = serializers.CharField(max_length=42)


class SiweMessageSerializer(serializers.Serializer[None]):
    """The EIP-4361 message to sign with personal_sign; send it back with the signature."""

    message = serializers.CharField()


class WalletLinkSerializer(serializers.Serializer[None]):
    """The signed SIWE message."""

    message = serializers.CharField()
    signature = serializers.CharField(max_length=200)
