"""Certificates an artist signs, the mints made from them, and the platform's chain transactions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from studio.models import Work

from core.models import Job


class WalletKind(models.TextChoices):
    LINKED = "linked", "Own wallet (linked by Sign-In with Ethereum)"
    CUSTODIAL = "custodial", "Key kept by the platform (encrypted)"


class Wallet(models.Model):
    """An Ethereum address an artist signs with: their own, or one the platform keeps for them."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallets"
    )
    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 checksummed.")
    kind = models.CharField(max_length=16, choices=WalletKind.choices)
    # Keystore v3 JSON (scrypt), custodial wallets only; its password derives from
    # WALLET_KEY_SECRET, so the database alone never yields the key.
    keystore = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(kind="custodial"),
                name="registry_one_custodial_wallet_per_person",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="linked", keystore__isnull=True)
                | models.Q(kind="custodial", keystore__isnull=False),
                name="registry_keystore_only_for_custodial",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.kind})"


class CertificateState(models.TextChoices):
    DRAFT = "draft", "Waiting for the artist's signature"
    SIGNED = "signed", "Signed"
    MINTING = "minting", "Minting"
    MINTED = "minted", "Minted"
    FAILED = "failed", "Mint failed"


class Certificate(models.Model):
    """A work's EIP-712 certificate: what was signed, by whom, and the chain it is for."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificates"
    )
    work = models.ForeignKey(
        Work, on_delete=models.PROTECT, null=True, blank=True, related_name="certificates"
    )
    image = models.FileField(upload_to="registry/images/", help_text="The certified bytes.")
    title = models.CharField(max_length=200)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="certificates")
    chain_id = models.BigIntegerField()
    contract = models.CharField(max_length=42)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the image bytes, hex.")
    generation_hash = models.CharField(max_length=64, help_text="EIP-712 hashStruct(Generation).")
    metadata = models.JSONField(help_text="The ERC-721 metadata whose CID is the token URI.")
    metadata_uri = models.CharField(max_length=100)
    typed_data = models.JSONField(help_text="Exactly what eth_signTypedData_v4 is given.")
    digest = models.CharField(max_length=66)
    signature = models.CharField(max_length=132, blank=True)
    nonce = models.CharField(max_length=78, help_text="uint256 as decimal text.")
    deadline = models.BigIntegerField(help_text="Unix seconds; no mint after it.")
    royalty_bps = models.PositiveIntegerField()
    state = models.CharField(
        max_length=16, choices=CertificateState.choices, default=CertificateState.DRAFT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    signed_at = models.DateTimeField(null=True, blank=True, db_index=True)  # fingerprints_sync

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The contract holds one token per content hash; so does the registry, per contract.
            models.UniqueConstraint(
                fields=["chain_id", "contract", "content_hash"],
                name="registry_one_certificate_per_content",
            ),
            models.CheckConstraint(
                condition=models.Q(royalty_bps__lte=5000), name="registry_royalty_at_most_half"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.content_hash[:12]}…)"


class MintState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent, waiting to be mined"
    MINED = "mined", "Mined, waiting for confirmations"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"


class Mint(models.Model):
    """The one mint of a certificate: a request, then a transaction, then a token."""

    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="mint")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=16, choices=MintState.choices, default=MintState.QUEUED)
    tx_hash = models.CharField(max_length=66, blank=True)
    token_id = models.PositiveBigIntegerField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"mint of {self.certificate_id}: {self.state}"


class SignerNonce(models.Model):
    """The next nonce of a platform signer on a chain; reconciled with the node on every send."""

    chain_id = models.BigIntegerField()
    address = models.CharField(max_length=42)
    next_nonce = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "address"], name="registry_one_nonce_row")
        ]

    def __str__(self) -> str:
        return f"{self.address} on {self.chain_id}: next {self.next_nonce}"


class ChainTransaction(models.Model):
    """A signed transaction, saved before it is broadcast (provenance.transactions.TxRecord)."""

    tx_hash = models.CharField(max_length=66, unique=True)
    chain_id = models.BigIntegerField()
    sender = models.CharField(max_length=42)
    nonce = models.PositiveBigIntegerField()
    raw_tx = models.TextField()
    to = models.CharField(max_length=42, blank=True)
    data = models.TextField(blank=True)
    value = models.CharField(max_length=78, default="0")
    gas = models.PositiveBigIntegerField()
    max_fee_per_gas = models.CharField(max_length=78)
    max_priority_fee_per_gas = models.CharField(max_length=78)
    state = models.CharField(max_length=16)
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    replaces = models.CharField(max_length=66, blank=True)
    replaced_by = models.CharField(max_length=66, blank=True)
    created_at = models.FloatField()
    sent_at = models.FloatField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    contract_address = models.CharField(max_length=42, blank=True)
    revert_data = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["chain_id", "sender", "nonce", "created_at"]
        indexes = [models.Index(fields=["chain_id", "sender", "state"])]

    def __str__(self) -> str:
        return f"{self.tx_hash} (nonce {self.nonce}, {self.state})"
