"""`manage.py load_insights_demo`: the CryptoPunks sales as the demo analyst's dataset, and a fit.

Reads the real on-chain sales in ../shared/data/cryptopunks (prices in ETH, traits as features).
The queued fit is the boosted model on the sales before 2021-07-01 (seconds on a worker, with
OpenMP's idle threads passive), so a fresh `make run` shows a backtest across the 2021 boom;
the hedonic model can be fitted from the dataset page to compare.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from insights.models import SalesDataset
from insights.services import dataset_create, model_fit_request
from market.errors import MarketError
from market.schema import load_cryptopunks

DEFAULT_FOLDER = Path(settings.REPO_DIR).parent / "shared" / "data" / "cryptopunks"
DEMO_NAME = "CryptoPunks sales"


class Command(BaseCommand):
    """Imports the CryptoPunks sales for the `analyst` demo user (once) and queues a fit."""

    help = "Give the demo analyst the CryptoPunks sales and a queued price model fit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
        parser.add_argument("--until", type=date.fromisoformat, default=date(2021, 7, 1))

    def handle(self, *args: Any, folder: Path, until: date, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("load_insights_demo refuses to run with DJANGO_ENV=production.")
        analyst = User.objects.filter(username="analyst").first()
        if analyst is None:
            raise CommandError("There is no demo user `analyst`; run load_demo_data first.")
        if SalesDataset.objects.filter(owner=analyst, name=DEMO_NAME).exists():
            self.stdout.write("The demo analyst already has the CryptoPunks sales.")
            return
        tx_csv = folder / "tx_db.csv"
        if not tx_csv.is_file():
            self.stdout.write(f"No CryptoPunks sales at {tx_csv}; the insights demo is skipped.")
            return
        try:
            sales = load_cryptopunks(tx_csv)
        except MarketError as error:
            raise CommandError(f"Cannot read {tx_csv}: {error}") from error
        dataset = dataset_create(
            owner=analyst,
            name=DEMO_NAME,
            sales=sales,
            base_currency="ETH",
            source_name=tx_csv.name,
            report={
                "rows_read": len(sales) + int(sales.attrs.get("transfers_dropped", 0)),
                "imported": len(sales),
                "warnings": [
                    f"{sales.attrs.get('transfers_dropped', 0)} zero-price transfers and "
                    f"{sales.attrs.get('dust_dropped', 0)} dust sales were left out"
                ],
            },
        )
        model = model_fit_request(owner=analyst, dataset=dataset, kind="boosted", until=until)
        self.stdout.write(
            f"Demo dataset {dataset.name!r}: {len(sales)} sales; boosted fit {model.pk} queued "
            f"(learns from sales before {until})."
        )
