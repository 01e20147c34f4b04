"""`manage.py load_registry_demo`: the demo artist certifies one real print and asks for its mint.

Uses the first of Hokusai's prints in ../shared/data, signed with the key the platform keeps for
the demo artist; the `chain` worker mints it once the platform is up, so a fresh `make run` shows
a confirmed token with a public certificate page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from core.errors import DomainError
from registry.models import Certificate
from registry.services import (
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
)

DEFAULT_PRINT = (
    Path(settings.REPO_DIR).parent / "shared" / "data" / "paintings" / "katsushika_hokusai"
)


class Command(BaseCommand):
    """Certifies and queues the mint of one demo work (once)."""

    help = "Certify one of the shared paintings for the demo artist and queue its mint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, default=DEFAULT_PRINT)

    def handle(self, *args: Any, folder: Path, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("load_registry_demo refuses to run with DJANGO_ENV=production.")
        artist = User.objects.filter(username="artist").first()
        if artist is None:
            raise CommandError("There is no demo user `artist`; run load_demo_data first.")
        existing = Certificate.objects.filter(
            owner=artist, contract=settings.CHAIN_CONTRACT_ADDRESS or ""
        ).first()
        if existing is not None:
            self.stdout.write(f"The demo certificate exists: /registry/certificates/{existing.pk}/")
            return
        paths = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not paths:
            self.stdout.write(f"No paintings at {folder}; the registry demo is skipped.")
            return
        try:
            wallet = wallet_custodial_get_or_create(owner=artist)
            certificate = certificate_prepare(
                owner=artist,
                wallet=wallet,
                image=paths[0].read_bytes(),
                image_name=paths[0].name,
                title=paths[0].stem.replace("_", " ").title(),
                description="A print from the demo portfolio, certified by its artist.",
                royalty_bps=500,
            )
            certificate = certificate_sign_custodial(certificate=certificate, owner=artist)
            mint_request(certificate=certificate, owner=artist)
        except DomainError as error:
            raise CommandError(f"The registry demo failed: {error.message}") from error
        self.stdout.write(
            f"Demo certificate signed by {wallet.address}; its mint is queued: "
            f"/registry/certificates/{certificate.pk}/"
        )
