"""Test helpers: messy auction exports in the forms real ones come in, and their mapping."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import openpyxl

from tests.helpers import REPO

CRYPTOPUNKS = REPO.parent / "shared" / "data" / "cryptopunks"

HEADER = [
    "Artist",
    "Title",
    "Date",
    "Lot",
    "Sales_Price_Dollar",
    "Estimate",
    "Size",
    "Year",
    "Signed",
    "Medium",
]
# Line 2 onwards as a spreadsheet shows them; each row writes its cells the way some house does.
ROWS = [
    [
        "Claude Monet",
        "Nymphéas",
        "12 May 2021",
        "12",
        "$1,250,000",
        "$1,000,000 - 1,500,000",
        '33.66" x 16.93" (85.50cm x 43.00cm)',
        "c. 1906",
        "signed lower right",
        "oil on canvas",
    ],
    [
        "Berthe Morisot",
        "Jeune fille, au jardin",
        "May 12, 2021",
        "13A",
        "450,000",
        "300,000\u2013400,000 USD",
        "85.5 x 43 cm",
        "1890-95",
        "yes",
        "oil on canvas",
    ],
    [
        "Zao Wou-Ki",
        "Untitled",
        "2021-05-12 18:00",
        "14",
        "bought in",
        "GBP 8,000-12,000",
        "85.5 x 43 x 5 cm",
        "1958",
        "",
        "oil on canvas",
    ],
    [
        "Paul Klee",
        "Kleines Bild",
        "13/05/2021",
        "15",
        "US$ 12,500",
        "",
        "33 x 17 in",
        "1925",
        "no",
        "watercolour",
    ],
    [
        "Gabriele Münter",
        "Dorfstrasse",
        "2021-05-13",
        "16",
        "98,000",
        "",
        "850 x 430 mm, unframed",
        "1908",
        "signed",
        "oil on board",
    ],
]

MAPPING_TOML = """\
[columns]
artist = "Artist"
title = "Title"
sale_date = "Date"
lot = "Lot"
price = "Sales_Price_Dollar"
estimate = "Estimate"
dimensions = "Size"
year_made = "Year"
signed = "Signed"
medium = "Medium"

[defaults]
currency = "USD"
auction_house = "Christie's"
premium_included = true

[options]
dayfirst = true
"""


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    header: Sequence[str] = HEADER,
) -> Path:
    """A CSV export of `rows` under `header`, as a given program would save it."""
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(
    path: Path, rows: Sequence[Sequence[object]], *, header: Sequence[str] = HEADER
) -> Path:
    """An Excel export: a workbook whose first sheet holds the header and rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Results"
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def cryptopunks_dir() -> Path:
    """The real CryptoPunks data; its absence fails the test (plainly) rather than skipping it."""
    tx = CRYPTOPUNKS / "tx_db.csv"
    assert tx.is_file(), f"the CryptoPunks data is missing: expected {tx}"
    return CRYPTOPUNKS


EXCEL_ROWS: list[list[object]] = [
    [
        "Claude Monet",
        "Nymphéas",
        datetime(2021, 5, 12),
        12,
        1250000,
        "$1,000,000 - 1,500,000",
        "85.5 x 43 cm",
        1906,
        True,
        "oil on canvas",
    ],
    [
        "Paul Klee",
        "Kleines Bild",
        datetime(2021, 5, 13, 18, 30),
        15.0,
        12500.5,
        None,
        "33 x 17 in",
        "1925",
        False,
        "watercolour",
    ],
]
