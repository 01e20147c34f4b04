"""Fixtures for the insights tests: an analyst, a messy auction export, CryptoPunks sales."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from insights.models import SalesDataset
from insights.services import dataset_create

from accounts.models import Role, User
from market.schema import load_cryptopunks
from tests.helpers import REPO

PUNKS = REPO.parent / "shared" / "data" / "cryptopunks" / "tx_db.csv"

# An export as auction houses write them: day-first dates, prices with thousands separators and
# no currency, an estimate range in one column, sizes as text in inches and centimetres, a
# bought-in lot. Lines 2 and 4 have days above 12, so they fail unless dates are read day first.
MESSY_CSV = "\n".join(
    [
        "Artist,Title,Date of sale,Hammer price,Estimate,Size,Medium,Lot",
        '"Zao Wou-Ki",Abstraction,13/05/2021,"1,200,000","800,000 - 1,200,000",'
        '"33.66"" x 16.93"" (85.50cm x 43.00cm)",oil on canvas,12',
        'Zao Wou-Ki,Untitled II,02/06/2021,bought in,"500,000-700,000",85.5 x 43 cm,'
        "oil on canvas,13",
        'Chu Teh-Chun,Blue,25/11/2020,"350,000","300,000 - 400,000",100 x 81 cm,oil on canvas,4',
        "",
    ]
)


@pytest.fixture
def analyst(make_user: Callable[..., User]) -> User:
    return make_user(Role.ANALYST)


@pytest.fixture
def messy_export() -> SimpleUploadedFile:
    return SimpleUploadedFile("hk_sale.csv", MESSY_CSV.encode("utf-8-sig"), "text/csv")


@functools.cache
def _punks() -> pd.DataFrame:
    if not PUNKS.is_file():
        pytest.fail(f"the shared CryptoPunks sales are missing: expected {PUNKS}")
    return load_cryptopunks(PUNKS)


@pytest.fixture
def punks_subset() -> pd.DataFrame:
    """CryptoPunks sales of 2019 and 2020 (about 3,100 lots), prices in ETH."""
    sales = _punks()
    dates = sales["sale_date"]
    return sales[(dates >= "2019-01-01") & (dates < "2021-01-01")].reset_index(drop=True)


@pytest.fixture
def punks_dataset(analyst: User, punks_subset: pd.DataFrame) -> SalesDataset:
    """The punks subset stored as the analyst's dataset, plus an artist with two sales."""
    two_sales = punks_subset.iloc[:2].copy()
    two_sales["artist"] = "Rare Hand"
    two_sales["item_id"] = ["rare-1", "rare-2"]
    sales = pd.concat([punks_subset, two_sales], ignore_index=True)
    return dataset_create(
        owner=analyst, name="Punks", sales=sales, base_currency="ETH", source_name="tx_db.csv"
    )
