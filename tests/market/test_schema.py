"""The canonical sales table: dtypes, validation, item identity, and the CryptoPunks loader."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from market.errors import MarketError, MissingColumns
from market.schema import (
    REQUIRED,
    SALE_COLUMNS,
    empty_sales,
    estimate_midpoint,
    item_identity,
    load_cryptopunks,
    log_price,
    validate_sales,
)
from tests.market.exports import cryptopunks_dir


@pytest.fixture(scope="module")
def punks() -> pd.DataFrame:
    """The real CryptoPunks sales, loaded once for the module (tests only read them)."""
    return load_cryptopunks(cryptopunks_dir() / "tx_db.csv")


def _sales(**columns: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "artist": ["Claude Monet", "Berthe Morisot"],
        "sale_date": ["2021-05-12", "2021-05-13"],
        "price": [1_250_000.0, 450_000.0],
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_empty_sales_has_every_canonical_column_and_dtype() -> None:
    empty = empty_sales()
    assert list(empty.columns) == list(SALE_COLUMNS)
    assert {name: str(dtype) for name, dtype in empty.dtypes.items()} == dict(SALE_COLUMNS)
    assert REQUIRED == ("artist", "sale_date")


def test_validate_coerces_text_cells_to_canonical_dtypes() -> None:
    raw = _sales(
        price=["1250000", ""],
        sold=["true", "false"],
        year_made=["1906", ""],
        signed=["True", ""],
        width=["43", "43.5"],
        title=[" Nymphéas ", None],
        feature_edition=[1, 2],
        notes=["dropped", "dropped"],
    )
    sales = validate_sales(raw)
    assert list(sales.columns) == [*SALE_COLUMNS, "feature_edition"]
    assert {name: str(sales[name].dtype) for name in SALE_COLUMNS} == dict(SALE_COLUMNS)
    assert sales.loc[0, "sale_date"] == pd.Timestamp("2021-05-12")
    assert sales.loc[0, "price"] == 1_250_000.0
    assert math.isnan(sales.loc[1, "price"])
    assert list(sales["sold"]) == [True, False]
    assert sales.loc[0, "year_made"] == 1906
    assert sales["year_made"].isna().iloc[1]
    assert list(sales["title"]) == ["Nymphéas", ""]
    assert list(sales["medium"]) == ["", ""]


def test_validate_defaults_sold_to_having_a_price() -> None:
    sales = validate_sales(_sales(price=[1000.0, None]))
    assert list(sales["sold"]) == [True, False]


def test_validate_keeps_dates_as_days_without_a_time_zone() -> None:
    stamps = pd.Series(pd.to_datetime(["2021-05-12 18:00", "2021-05-13 09:30"])).dt.tz_localize(
        "Asia/Hong_Kong"
    )
    sales = validate_sales(_sales(sale_date=stamps))
    assert list(sales["sale_date"]) == [datetime(2021, 5, 12), datetime(2021, 5, 13)]


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(MissingColumns, match=r"lacks required column\(s\) sale_date") as caught:
        validate_sales(pd.DataFrame({"artist": ["Monet"], "price": [1.0]}))
    assert caught.value.columns == ("sale_date",)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"price": [0.0, 450_000.0]}, r"a sold lot's price is not above 0 in 1 row\(s\): 0"),
        ({"price": [-5.0, 450_000.0]}, r"a sold lot's price is not above 0"),
        ({"price": [1.0, None], "sold": [True, True]}, r"a sold lot has no price in 1 row\(s\): 1"),
        ({"price": [1.0, 2.0], "sold": [True, False]}, r"an unsold lot has a price"),
        (
            {"low_estimate": [20.0, None], "high_estimate": [10.0, None]},
            r"low_estimate is above high_estimate",
        ),
        ({"width": [0.0, 10.0]}, r"width is not above 0"),
        ({"price": ["1m", "2"]}, r"price is not a number in 1 row\(s\): 0 \('1m'\)"),
        ({"sale_date": ["12 May 2021", "2021-05-13"]}, r"sale_date is not an ISO date"),
        ({"artist": ["", "Monet"]}, r"artist is empty"),
        ({"currency": ["USD", "GBP"]}, r"several currencies \(GBP, USD\)"),
        ({"signed": ["maybe", ""]}, r"signed is not true/false"),
        ({"year_made": [1906.5, None]}, r"year_made is not a whole number"),
    ],
)
def test_invalid_tables_are_refused_with_the_rows(columns: dict[str, object], message: str) -> None:
    with pytest.raises(MarketError, match=message):
        validate_sales(_sales(**columns))


def test_item_identity_meets_the_same_work_written_differently() -> None:
    frame = pd.DataFrame(
        {
            "artist": ["Claude Monet", "claude  MONET", "Claude Monet", "Claude Monet"],
            "title": ["Nymphéas", "Nympheas.", "Nymphéas", "Nymphéas"],
            "year_made": [1906, 1906, 1906, 1907],
            "width": [43.0, 43.2, 43.0, 43.0],
            "height": [85.5, 85.6, 85.5, 85.5],
        }
    )
    ids = item_identity(frame)
    assert ids[0] == ids[1] == ids[2] == "claude monet|nympheas|1906|86x43"
    assert ids[3] != ids[0]


def test_item_identity_keeps_given_ids_and_leaves_vague_lots_without_one() -> None:
    frame = pd.DataFrame(
        {
            "artist": ["Monet", "Monet", "Monet"],
            "title": ["Nymphéas", "", ""],
            "item_id": ["christies-123", None, None],
            "width": [math.nan, math.nan, 40.0],
            "height": [math.nan, math.nan, 50.0],
        }
    )
    ids = item_identity(frame)
    assert ids[0] == "christies-123"
    assert ids.isna()[1]
    assert ids[2] == "monet|||50x40"


def test_validate_derives_missing_item_ids() -> None:
    sales = validate_sales(_sales(title=["Nymphéas", "Jeune fille"], item_id=["lot-1", None]))
    assert list(sales["item_id"]) == ["lot-1", "berthe morisot|jeune fille||"]


def test_log_price_is_for_sold_lots_only() -> None:
    sales = validate_sales(_sales(price=[np.e**2, None]))
    assert log_price(sales).tolist()[0] == pytest.approx(2.0)
    assert math.isnan(log_price(sales)[1])


def test_estimate_midpoint_uses_one_bound_when_only_one_is_given() -> None:
    frame = pd.DataFrame(
        {"low_estimate": [10.0, 10.0, None, None], "high_estimate": [20.0, None, 30.0, None]}
    )
    assert estimate_midpoint(frame).tolist()[:3] == [15.0, 10.0, 30.0]
    assert math.isnan(estimate_midpoint(frame)[3])


def test_cryptopunks_sales_drop_the_zero_price_transfers_and_dust(punks: pd.DataFrame) -> None:
    sales = punks
    assert len(sales) == 17_203  # 17,826 rows - 603 zero-price transfers - 20 below 0.001 ETH
    assert sales.attrs["transfers_dropped"] == 603
    assert sales.attrs["dust_dropped"] == 20
    assert (sales["price"] >= 0.001).all()
    assert sales["sold"].all()
    assert set(sales["currency"]) == {"ETH"}
    assert sales["premium_included"].all()
    assert set(sales["artist"]) == {"Larva Labs"}
    assert set(sales["medium"]) == {"digital"}
    assert {name: str(sales[name].dtype) for name in SALE_COLUMNS} == dict(SALE_COLUMNS)


def test_cryptopunks_known_sale_and_its_traits(punks: pd.DataFrame) -> None:
    sales = punks
    # tx_db.csv row 17: punk 5621 sold for 180 ETH on 2021-08-28.
    sale = sales[(sales["item_id"] == "5621") & (sales["price"] == 180.0)]
    assert len(sale) == 1
    row = sale.iloc[0]
    assert row["title"] == "CryptoPunk #5621"
    assert row["sale_date"] == pd.Timestamp("2021-08-28")
    assert (row["feature_type"], row["feature_gender"], row["feature_skin_tone"]) == (
        "Human",
        "Female",
        "Medium",
    )
    assert row["feature_attr_count"] == 3
    owned = {name for name in sales.columns if name.startswith("feature_attr_") and row[name] == 1}
    assert owned == {
        "feature_attr_straight_hair_blonde",
        "feature_attr_classic_shades",
        "feature_attr_purple_lipstick",
    }
    assert (sales["item_id"] == "5621").sum() == 3


def test_cryptopunks_attribute_columns_match_the_attribute_counts(punks: pd.DataFrame) -> None:
    sales = punks
    flags = sales[[name for name in sales.columns if name.startswith("feature_attr_")]]
    flags = flags.drop(columns="feature_attr_count")
    assert len(flags.columns) == 87
    assert set(np.unique(flags.to_numpy())) == {0, 1}
    assert (flags.sum(axis=1) == sales["feature_attr_count"]).all()
    assert "feature_attr_3d_glasses" in flags.columns
    assert "feature_attr_do_rag" in flags.columns


def test_cryptopunks_traits_from_the_punk_table_agree(punks: pd.DataFrame) -> None:
    directory = cryptopunks_dir()
    from_punks = load_cryptopunks(directory / "tx_db.csv", directory / "punk_db.csv")
    pd.testing.assert_frame_equal(punks, from_punks)


def test_cryptopunks_missing_file_is_a_clear_error() -> None:
    with pytest.raises(MarketError, match=r"no CryptoPunks file at .*nowhere\.csv"):
        load_cryptopunks(cryptopunks_dir() / "nowhere.csv")
