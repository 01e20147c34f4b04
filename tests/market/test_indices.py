"""Hedonic and repeat-sales indices recover a known path, refuse thin data, and read real punks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.errors import MissingColumns, NotEnoughData
from market.indices import (
    IndexResult,
    for_artist,
    for_segment,
    forecast_index,
    hedonic_index,
    repeat_sales_index,
)
from market.schema import load_cryptopunks
from tests.helpers import REPO

PUNK_SALES = REPO.parent / "shared" / "data" / "cryptopunks" / "tx_db.csv"
START = pd.Timestamp("2015-01-01")


def true_log_path(quarters: int) -> np.ndarray:
    """A path that rises, dips and rises again, one value per quarter from 2015Q1."""
    t = np.arange(quarters)
    return 0.06 * t + 0.25 * np.sin(t / 2.5)


def resales(
    *,
    seed: int,
    items: int = 300,
    quarters: int = 16,
    drift_per_year: float = 0.05,
    noise: float = 0.1,
    artist: str = "Test Artist",
    level: float = 0.0,
    first_quarter: int = 0,
) -> tuple[pd.DataFrame, pd.Series]:
    """Items of fixed quality each sold 2 to 4 times at random days, priced on the true path.

    log price = path[quarter] + quality + a per-item random walk (sd `drift_per_year` per root
    year, so repeat-sale noise grows with holding time) + white noise (sd `noise`).
    Returns the sales and the true index (100 at 2015Q1) by quarter.
    """
    rng = np.random.default_rng(seed)
    path = true_log_path(quarters)
    rows = []
    for item in range(items):
        quality = rng.normal(0.0, 0.5)
        days = np.sort(rng.integers(first_quarter * 91, quarters * 91, size=rng.integers(2, 5)))
        walk, previous = 0.0, int(days[0])
        for day in days.tolist():
            walk += rng.normal(0.0, drift_per_year * np.sqrt((day - previous) / 365.25))
            previous = day
            date = START + pd.Timedelta(days=day)
            quarter = (date.year - START.year) * 4 + (date.month - 1) // 3
            log_price = level + path[quarter] + quality + walk + rng.normal(0.0, noise)
            rows.append(
                {
                    "artist": artist,
                    "item_id": f"{artist}-{item}",
                    "sale_date": date,
                    "price": float(np.exp(log_price)),
                    "feature_quality": quality,
                }
            )
    periods = pd.period_range("2015Q1", periods=quarters, freq="Q", name="period")
    return pd.DataFrame(rows), pd.Series(100.0 * np.exp(path - path[0]), index=periods)


def share_inside_bands(result: IndexResult, truth: pd.Series) -> float:
    table = result.table.loc[truth.index]
    inside = (table["lower"] <= truth * (1 + 1e-9)) & (truth <= table["upper"] * (1 + 1e-9))
    return float(inside.mean())


# --- recovering a known path -----------------------------------------------------------------


def test_repeat_sales_index_recovers_the_true_path_within_its_bands() -> None:
    sales, truth = resales(seed=1)

    result = repeat_sales_index(sales)

    assert result.method == "repeat_sales"
    assert list(result.table.index) == list(truth.index)
    assert result.table["index"].iloc[0] == 100.0
    assert share_inside_bands(result, truth) >= 0.8
    log_error = np.log(result.table["index"] / truth)
    assert float(np.abs(log_error).max()) < 0.08
    assert (result.table["lower"] <= result.table["index"]).all()
    assert (result.table["index"] <= result.table["upper"]).all()


def test_hedonic_index_recovers_the_true_path_within_its_bands() -> None:
    sales, truth = resales(seed=2)

    result = hedonic_index(sales)

    assert result.method == "hedonic"
    assert result.n_observations == len(sales)
    assert share_inside_bands(result, truth) >= 0.8
    assert float(np.abs(np.log(result.table["index"] / truth)).max()) < 0.08
    per_quarter = sales["sale_date"].dt.to_period("Q").value_counts()
    assert result.table["n"].to_dict() == per_quarter.reindex(truth.index).to_dict()


def test_hedonic_index_uses_artist_effects_when_the_mix_of_artists_changes() -> None:
    # A dearer artist who only sells in the second half would fake a boom without artist effects.
    cheap, truth = resales(seed=3, artist="Cheap")
    dear, _ = resales(seed=4, artist="Dear", level=1.5, first_quarter=8)
    sales = pd.concat([cheap, dear], ignore_index=True).drop(columns="feature_quality")

    result = hedonic_index(sales)

    assert float(np.abs(np.log(result.table["index"] / truth)).max()) < 0.2
    # Quality is no longer controlled, so the bands are wide, yet the artist shift is absorbed.
    assert share_inside_bands(result, truth) >= 0.8


def test_case_shiller_weights_fall_with_holding_time_when_noise_grows_with_it() -> None:
    # Over seeds 0-19 these bands hold the true index at 96% of quarters (70% at worst).
    sales, truth = resales(seed=0, drift_per_year=0.4, noise=0.05)

    result = repeat_sales_index(sales)

    assert result.pairs is not None
    weights, held = result.pairs["weight"], result.pairs["years_held"]
    assert weights.max() / weights.min() > 3.0
    assert weights.corr(held, method="spearman") < -0.9
    assert share_inside_bands(result, truth) >= 0.8


def test_case_shiller_weights_stay_near_uniform_when_noise_does_not_grow() -> None:
    sales, _ = resales(seed=6, drift_per_year=0.0, noise=0.1)

    result = repeat_sales_index(sales)

    assert result.pairs is not None
    assert result.pairs["weight"].between(0.8, 1.25).all()


def test_a_sparse_period_is_pooled_with_the_next_one_and_says_so() -> None:
    sales, _ = resales(seed=7)
    quarter = sales["sale_date"].dt.to_period("Q")
    thin = pd.Period("2016Q2", freq="Q")
    sales = pd.concat([sales[quarter != thin], sales[quarter == thin].head(1)])

    result = hedonic_index(sales, min_sales_per_period=5)

    table = result.table
    assert table.loc[thin, "n"] == 1
    assert table.loc[thin, "pool"] == table.loc[thin + 1, "pool"]
    assert table.loc[thin, "index"] == table.loc[thin + 1, "index"]
    assert table.loc[thin - 1, "pool"] != table.loc[thin, "pool"]
    assert any("2016Q2-2016Q3 pooled" in note for note in result.notes)


def test_unsold_lots_are_ignored() -> None:
    sales, _ = resales(seed=8, items=120)
    unsold = sales.head(30).assign(price=np.nan, sold=False)
    with_unsold = pd.concat([sales.assign(sold=True), unsold], ignore_index=True)

    plain, padded = hedonic_index(sales), hedonic_index(with_unsold)

    pd.testing.assert_frame_equal(plain.table, padded.table)


def test_to_frame_gives_plain_columns() -> None:
    sales, _ = resales(seed=9, items=120)

    frame = repeat_sales_index(sales, freq="Y").to_frame()

    assert list(frame.columns) == [
        "period",
        "index",
        "lower",
        "upper",
        "n",
        "pool",
        "method",
        "freq",
    ]
    assert frame["period"].tolist() == ["2015", "2016", "2017", "2018"]
    assert set(frame["method"]) == {"repeat_sales"}


# --- refusals ----------------------------------------------------------------------------------


def two_sales() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "artist": ["Jane Doe", "Jane Doe"],
            "item_id": ["a", "b"],
            "sale_date": pd.to_datetime(["2019-03-01", "2020-06-01"]),
            "price": [1000.0, 2000.0],
        }
    )


def test_an_artist_with_two_sales_gets_no_repeat_sales_index() -> None:
    with pytest.raises(NotEnoughData) as caught:
        repeat_sales_index(two_sales())

    assert str(caught.value) == (
        "artist 'Jane Doe' has 2 sales and 0 repeat-sale pairs; a repeat-sales index needs at "
        "least 20 pairs"
    )


def test_an_artist_with_two_sales_gets_no_hedonic_index() -> None:
    with pytest.raises(NotEnoughData, match=r"artist 'Jane Doe' has 2 sales; .* at least 10"):
        hedonic_index(two_sales())


def test_an_artist_with_two_sales_is_refused_by_for_artist() -> None:
    with pytest.raises(NotEnoughData, match=r"artist 'Jane Doe' has 2 sales \(2 lots\)"):
        for_artist(two_sales(), "jane doe")


def test_pairs_inside_one_period_only_are_refused() -> None:
    dates = pd.to_datetime(["2020-01-05", "2020-02-20"] * 30)
    sales = pd.DataFrame(
        {
            "artist": "Flipper",
            "item_id": np.repeat([f"item-{i}" for i in range(30)], 2),
            "sale_date": dates,
            "price": np.linspace(1.0, 2.0, 60),
        }
    )

    with pytest.raises(NotEnoughData) as caught:
        repeat_sales_index(sales)

    message = str(caught.value)
    assert "has 60 sales and 0 repeat-sale pairs" in message
    assert "30 more fall within one period and are dropped" in message


def test_periods_no_pair_links_to_the_base_are_refused() -> None:
    early = pd.to_datetime(["2015-02-01", "2015-05-01"] * 30)
    late = pd.to_datetime(["2016-02-01", "2016-05-01"] * 30)
    sales = pd.DataFrame(
        {
            "item_id": np.repeat([f"item-{i}" for i in range(60)], 2),
            "sale_date": np.concatenate([early, late]),
            "price": 1.0,
        }
    )

    with pytest.raises(NotEnoughData, match=r"no chain of repeat-sale pairs links .* to 2015Q1"):
        repeat_sales_index(sales)


def test_a_missing_item_id_column_is_named() -> None:
    sales, _ = resales(seed=10, items=50)

    with pytest.raises(MissingColumns) as caught:
        repeat_sales_index(sales.drop(columns="item_id"))

    assert caught.value.columns == ("item_id",)


def test_an_unknown_frequency_is_refused() -> None:
    sales, _ = resales(seed=11, items=50)

    with pytest.raises(ValueError, match="freq 'fortnight'"):
        hedonic_index(sales, freq="fortnight")


def test_for_artist_matches_loosely_and_suggests_close_names() -> None:
    sales, _ = resales(seed=12, items=20, artist="Hokusai")

    assert len(for_artist(sales, "  HOKUSAI ")) == len(sales)
    with pytest.raises(
        NotEnoughData, match=r"no sales for artist 'Hokusia'.*did you mean 'Hokusai'"
    ):
        for_artist(sales, "Hokusia")


def test_for_segment_selects_by_column_values() -> None:
    sales, _ = resales(seed=13, items=40)
    sales["medium"] = np.where(np.arange(len(sales)) % 2 == 0, "Oil on canvas", "Print")

    oils = for_segment(sales, {"medium": "oil on canvas"})

    assert len(oils) == (len(sales) + 1) // 2
    with pytest.raises(NotEnoughData, match=r"segment medium='Print', artist='Nobody' has 0"):
        for_segment(sales, {"medium": "Print", "artist": "Nobody"})


def test_sales_in_a_single_period_are_refused_with_a_hint() -> None:
    sales, _ = resales(seed=16, items=40)
    one_quarter = sales.assign(sale_date=pd.Timestamp("2020-02-01"))

    with pytest.raises(NotEnoughData, match=r"over 1 periods of freq 'Q'.*coarser freq"):
        hedonic_index(one_quarter)


# --- forecasts ---------------------------------------------------------------------------------


def test_forecast_continues_the_periods_with_widening_intervals() -> None:
    sales, _ = resales(seed=14)
    result = repeat_sales_index(sales)

    narrow = forecast_index(result, horizon=6, coverage=0.8)
    wide = forecast_index(result, horizon=6, coverage=0.95)

    assert list(narrow.columns) == ["forecast", "lower", "upper"]
    assert list(narrow.index) == list(pd.period_range("2019Q1", periods=6, freq="Q"))
    assert ((narrow["lower"] < narrow["forecast"]) & (narrow["forecast"] < narrow["upper"])).all()
    log_width = np.log(narrow["upper"] / narrow["lower"])
    assert (np.diff(log_width) > 0).all()
    assert (np.diff(narrow["upper"] - narrow["lower"]) > 0).all()
    assert (wide["upper"] > narrow["upper"]).all()
    assert (wide["lower"] < narrow["lower"]).all()


def test_forecast_needs_eight_periods() -> None:
    sales, _ = resales(seed=15, quarters=6)
    result = hedonic_index(sales)

    with pytest.raises(NotEnoughData, match="has 6 separately estimated periods"):
        forecast_index(result)


# --- the real CryptoPunks sales ----------------------------------------------------------------


@pytest.fixture(scope="module")
def punk_sales() -> pd.DataFrame:
    assert PUNK_SALES.exists(), f"the CryptoPunks sales are missing: {PUNK_SALES}"
    sales = load_cryptopunks(Path(PUNK_SALES))
    in_range = sales["sale_date"].between("2017-01-01", "2022-12-31")
    return sales.loc[in_range]


def assert_shows_the_2021_boom(result: IndexResult) -> None:
    table = result.table
    assert table.index[0] == pd.Period("2017Q2", freq="Q")
    assert table.index[-1] == pd.Period("2022Q3", freq="Q")
    year_2018 = table.loc[pd.Period("2018Q1", freq="Q") : pd.Period("2018Q4", freq="Q")]
    boom = table.loc[pd.Period("2021Q3", freq="Q")]
    assert boom["index"] > 20 * year_2018["index"].max()
    assert boom["lower"] > year_2018["upper"].max()


def test_cryptopunks_repeat_sales_index_shows_the_2021_boom(punk_sales: pd.DataFrame) -> None:
    result = repeat_sales_index(punk_sales)

    assert result.n_observations > 5000
    assert_shows_the_2021_boom(result)


def test_cryptopunks_hedonic_index_shows_the_2021_boom(punk_sales: pd.DataFrame) -> None:
    result = hedonic_index(punk_sales)

    assert result.n_observations == len(punk_sales)
    assert_shows_the_2021_boom(result)


def test_cryptopunks_index_forecast(punk_sales: pd.DataFrame) -> None:
    forecast = forecast_index(repeat_sales_index(punk_sales), horizon=4)

    assert list(forecast.index) == list(pd.period_range("2022Q4", periods=4, freq="Q"))
    assert np.isfinite(forecast.to_numpy()).all()
    assert ((forecast["lower"] > 0) & (forecast["lower"] < forecast["upper"])).all()
