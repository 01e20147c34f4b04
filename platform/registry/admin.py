"""Admin for the registry: wallets (never their keystores), certificates, mints, transactions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from registry.models import Certificate, ChainTransaction, Mint, SignerNonce, Wallet


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Records the chain and the services keep consistent: look, never edit by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    """Wallets by owner and kind; a kept key's encrypted keystore is not shown."""

    list_display = ("address", "owner", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("address", "owner__username")
    fields = ("address", "owner", "kind", "created_at")
    readonly_fields = fields


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """Certificates by state, with what was signed."""

    list_display = ("title", "owner", "state", "royalty_bps", "chain_id", "created_at")
    list_filter = ("state", "chain_id")
    search_fields = ("id", "title", "content_hash", "owner__username", "wallet__address")


@admin.register(Mint)
class MintAdmin(ReadOnlyAdmin):
    """Mints with their transaction and token."""

    list_display = ("certificate", "state", "token_id", "tx_hash", "requested_at", "confirmed_at")
    list_filter = ("state",)
    search_fields = ("tx_hash", "certificate__id", "certificate__title")


@admin.register(ChainTransaction)
class ChainTransactionAdmin(ReadOnlyAdmin):
    """The platform signer's transactions, as the transaction manager recorded them."""

    list_display = ("tx_hash", "chain_id", "sender", "nonce", "state", "block_number")
    list_filter = ("state", "chain_id")
    search_fields = ("tx_hash", "sender", "key")


@admin.register(SignerNonce)
class SignerNonceAdmin(ReadOnlyAdmin):
    """The next nonce of each platform signer."""

    list_display = ("address", "chain_id", "next_nonce")
