"""Time-split backtests: the table's shape, the estimate baselines, and real CryptoPunks sales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market.backtest import METRICS, backtest
from market.errors import MarketError, NotEnoughData
from market.models import BoostedPriceModel, ConformalRegressor, HedonicRegression
from market.synthetic import synthetic_sales
from tests.helpers import REPO

CRYPTOPUNKS = REPO.parent / "shared" / "data" / "cryptopunks"
BASELINES = ["estimate midpoint", "rescaled estimate"]


def quick_boost() -> BoostedPriceModel:
    return BoostedPriceModel(n_estimators=150, n_jobs=1)


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    # Estimates noisier (0.6 in log) than the sale noise the model faces.
    return synthetic_sales(8000, seed=11, estimate_noise=0.6)


@pytest.fixture(scope="module")
def table(sales: pd.DataFrame) -> pd.DataFrame:
    return backtest(sales, "2015-01-01", {"hedonic": HedonicRegression(), "boosted": quick_boost()})


def test_table_has_every_model_and_baseline_for_both_subsets(table: pd.DataFrame) -> None:
    models = ["hedonic", "boosted", *BASELINES]

    assert list(table.columns) == list(METRICS)
    assert list(table.index) == [(s, m) for s in ("all", "with_estimate") for m in models]
    assert table.attrs["split_date"] == "2015-01-01"
    assert 0 < table.attrs["actual_inside_presale_range"] < 1


def test_rows_of_the_estimate_subset_score_the_same_lots(
    table: pd.DataFrame, sales: pd.DataFrame
) -> None:
    held_out = sales[(sales["sale_date"] >= "2015-01-01") & sales["sold"].astype(bool)]
    with_estimate = held_out["low_estimate"].notna().sum()

    assert table.loc["with_estimate", "n"].tolist() == [with_estimate] * 4
    assert table.loc[("all", "boosted"), "n"] == len(held_out)
    assert table.loc[("all", "estimate midpoint"), "n"] == with_estimate


def test_model_using_the_estimate_beats_the_midpoint_where_estimates_exist(
    table: pd.DataFrame,
) -> None:
    scores = table.loc["with_estimate", "median_abs_log_error"]

    assert scores["boosted"] < 0.85 * min(scores["estimate midpoint"], scores["rescaled estimate"])
    assert (
        table.loc[("with_estimate", "boosted"), "r2_log"]
        > table.loc[("with_estimate", "estimate midpoint"), "r2_log"]
    )
    assert table.loc[("with_estimate", "estimate midpoint"), "inside_presale_range"] == 1.0


def test_intervals_are_reported_for_every_row(table: pd.DataFrame) -> None:
    coverage = table["interval_coverage"]

    assert coverage.between(0.7, 0.9).all(), coverage.to_dict()
    assert (table["mean_interval_width"] > 0).all()


def test_frozen_backtest_hides_held_out_prices(sales: pd.DataFrame) -> None:
    frozen = backtest(sales, "2015-01-01", {"hedonic": HedonicRegression()}, rolling=False)

    assert frozen.attrs["rolling"] is False
    assert frozen.loc[("all", "hedonic"), "n"] > 0


def test_split_needs_sales_on_both_sides(sales: pd.DataFrame) -> None:
    with pytest.raises(NotEnoughData, match="both sides"):
        backtest(sales, "2030-01-01", {"hedonic": HedonicRegression()})


def test_model_names_may_not_shadow_the_baselines(sales: pd.DataFrame) -> None:
    with pytest.raises(MarketError, match="baselines"):
        backtest(sales, "2015-01-01", {"estimate midpoint": HedonicRegression()})


def test_cryptopunks_time_split_intervals_cover_held_out_sales() -> None:
    from market.schema import load_cryptopunks

    assert CRYPTOPUNKS.is_dir(), f"The CryptoPunks data is missing: expected {CRYPTOPUNKS}"
    punks = load_cryptopunks(CRYPTOPUNKS / "tx_db.csv", CRYPTOPUNKS / "punk_db.csv")
    model = ConformalRegressor(quick_boost(), method="adaptive")

    table = backtest(punks, "2022-01-01", {"boosted": model})

    row = table.loc[("all", "boosted")]
    print(table.to_string())  # the numbers, for whoever reads the log
    assert row["n"] > 2000
    assert 0.65 <= row["interval_coverage"] <= 0.95
    assert row["median_abs_log_error"] < 0.3
    # No presale estimates for punks: the baselines have nothing to score.
    assert table.loc[("all", "estimate midpoint"), "n"] == 0
    assert np.isnan(table.loc[("all", "estimate midpoint"), "r2_log"])
