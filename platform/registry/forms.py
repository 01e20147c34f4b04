"""Forms of the registry's pages."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms

from registry.models import Wallet, WalletKind

KEPT_KEY = "kept"


def wallet_choices(wallets: Iterable[Wallet]) -> list[tuple[str, str]]:
    """The kept key (made on first use) and each linked wallet, as choices."""
    kept = next((wallet for wallet in wallets if wallet.kind == WalletKind.CUSTODIAL), None)
    label = f"My kept key ({kept.address})" if kept else "A key Atelier keeps for me (made now)"
    linked = [
        (str(wallet.pk), f"My wallet {wallet.address}")
        for wallet in wallets
        if wallet.kind == WalletKind.LINKED
    ]
    return [*linked, (KEPT_KEY, label)]


class CertifyForm(forms.Form):
    """How to certify: the wallet that signs, the royalty and a title."""

    wallet = forms.ChoiceField(label="Sign with")
    royalty_percent = forms.DecimalField(
        label="Royalty (%)",
        min_value=Decimal(0),
        max_value=Decimal(50),
        decimal_places=2,
        initial=Decimal(5),
        help_text="Paid to the signing wallet on resales (ERC-2981); at most 50%.",
    )
    title = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, wallets: Iterable[Wallet], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["wallet"].choices = wallet_choices(list(wallets))  # type: ignore[attr-defined]

    @property
    def royalty_bps(self) -> int:
        """The royalty in basis points."""
        return int(self.cleaned_data["royalty_percent"] * 100)


class CertifyUploadForm(CertifyForm):
    """An uploaded image to certify, with a title and a royalty."""

    field_order = ["image", "title", "royalty_percent", "wallet"]

    image = forms.FileField(help_text="The exact file to certify: PNG, JPEG, WebP, GIF, TIFF, BMP.")
    title = forms.CharField(max_length=200)
