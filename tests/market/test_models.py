"""Price models: time-safe features, accuracy, explanations, conformal coverage, sklearn manners."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from market.errors import MissingColumns, NotEnoughData, NotFitted
from market.features import FeatureBuilder, log_price, past_price_features, to_price
from market.models import (
    BoostedPriceModel,
    ConformalRegressor,
    EstimateMidpoint,
    HedonicRegression,
    RescaledEstimate,
    predict_price,
)
from market.synthetic import synthetic_sales

SPLIT = pd.Timestamp("2015-01-01")


def small_boost(**params: Any) -> BoostedPriceModel:
    """A quick boosted model for tests (one thread: the suite may share the machine)."""
    return BoostedPriceModel(n_estimators=120, n_jobs=1, **params)


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return synthetic_sales(8000, seed=1)


@pytest.fixture(scope="module")
def train(sales: pd.DataFrame) -> pd.DataFrame:
    return sales[sales["sale_date"] < SPLIT]


@pytest.fixture(scope="module")
def held_out(sales: pd.DataFrame) -> pd.DataFrame:
    late = sales[sales["sale_date"] >= SPLIT]
    return late[late["sold"].astype(bool)]


def lots(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    """A minimal sales table from (artist, item_id, date, price or None for unsold)."""
    return pd.DataFrame(
        {
            "artist": pd.array([r[0] for r in rows], dtype="string"),
            "item_id": pd.array([r[1] for r in rows], dtype="string"),
            "sale_date": pd.to_datetime([r[2] for r in rows]),
            "price": [np.nan if r[3] is None else r[3] for r in rows],
            "sold": pd.array([r[3] is not None for r in rows], dtype="boolean"),
        }
    )


# --- features: only the past ----------------------------------------------------------------


def test_past_features_use_only_sales_on_earlier_days() -> None:
    table = lots(
        [
            ("A", "a1", "2020-01-01", 100.0),
            ("A", "a2", "2020-01-02", 1000.0),
            ("A", "a3", "2020-01-02", 10.0),  # same day as a2: neither sees the other
            ("A", "a1", "2020-01-05", 5.0),
            ("B", "b1", "2020-01-03", 7.0),
        ]
    )

    features = past_price_features(table)

    assert features["artist_past_count"].tolist() == [0, 1, 1, 3, 0]
    assert np.isnan(features.loc[0, "artist_past_mean_log_price"])
    assert features.loc[1, "artist_past_mean_log_price"] == pytest.approx(np.log(100))
    assert features.loc[2, "artist_last_log_price"] == pytest.approx(np.log(100))
    assert features.loc[3, "artist_past_median_log_price"] == pytest.approx(np.log(100))
    # The latest earlier day had two sales: its mean is the last price.
    assert features.loc[3, "artist_last_log_price"] == pytest.approx(np.log(100))
    assert features.loc[3, "artist_days_since_last_sale"] == 3
    assert features.loc[3, "item_past_count"] == 1
    assert features.loc[3, "item_last_log_price"] == pytest.approx(np.log(100))
    assert features.loc[4, "artist_past_count"] == 0  # another artist's sales never count


def test_past_features_skip_unsold_lots() -> None:
    table = lots([("A", "a1", "2020-01-01", None), ("A", "a2", "2020-01-02", 50.0)])

    features = past_price_features(table)

    assert features.loc[1, "artist_past_count"] == 0


def test_features_of_a_lot_ignore_same_day_and_later_prices(sales: pd.DataFrame) -> None:
    day = sales["sale_date"].iloc[len(sales) // 2]
    changed = sales.copy()
    later = (changed["sale_date"] >= day).to_numpy()
    changed.loc[later, "price"] = changed.loc[later, "price"] * 50
    on_day = (sales["sale_date"] == day).to_numpy()

    before = FeatureBuilder().fit(sales).transform(sales)
    after = FeatureBuilder().fit(changed).transform(changed)

    pd.testing.assert_frame_equal(before[on_day], after[on_day])
    assert not before[later & ~on_day].equals(after[later & ~on_day])


def test_model_predictions_ignore_prices_of_the_day_and_after(
    train: pd.DataFrame, held_out: pd.DataFrame
) -> None:
    model = small_boost().fit(train)
    day = held_out["sale_date"].iloc[len(held_out) // 2]
    changed = held_out.copy()
    later = (changed["sale_date"] >= day).to_numpy()
    changed.loc[later, "price"] = changed.loc[later, "price"] * 50
    up_to_day = (held_out["sale_date"] <= day).to_numpy()

    before = model.predict(held_out)[up_to_day]
    after = model.predict(changed)[up_to_day]

    np.testing.assert_allclose(before, after)


def test_past_features_match_a_brute_force_look_back() -> None:
    table = synthetic_sales(600, seed=5, n_artists=8)
    features = past_price_features(table)
    logp = log_price(table)
    for row in range(0, len(table), 37):
        earlier = (
            (table["artist"] == table["artist"].iloc[row])
            & (table["sale_date"] < table["sale_date"].iloc[row])
            & logp.notna()
        )
        assert features["artist_past_count"].iloc[row] == earlier.sum()
        if earlier.any():
            assert features["artist_past_mean_log_price"].iloc[row] == pytest.approx(
                logp[earlier].mean()
            )
            assert features["artist_past_median_log_price"].iloc[row] == pytest.approx(
                logp[earlier].median()
            )


def test_feature_builder_learns_category_levels_at_fit(train: pd.DataFrame) -> None:
    builder = FeatureBuilder(min_category_count=1).fit(train)
    unseen = train.head(3).copy()
    unseen["medium"] = "tempera on panel"

    features = builder.transform(unseen)

    assert isinstance(features["medium"].dtype, pd.CategoricalDtype)
    assert list(features["medium"].cat.categories) == builder.categories_["medium"]
    assert features["medium"].isna().all()
    assert list(features.columns) == list(builder.get_feature_names_out())


def test_feature_builder_transform_before_fit_raises(train: pd.DataFrame) -> None:
    with pytest.raises(NotFitted):
        FeatureBuilder().transform(train)


def test_feature_builder_names_missing_required_columns() -> None:
    with pytest.raises(MissingColumns) as caught:
        FeatureBuilder().fit(pd.DataFrame({"price": [1.0]}))

    assert caught.value.columns == ("artist", "sale_date")


def test_feature_builder_refuses_lots_without_a_trait_it_learned_from(train: pd.DataFrame) -> None:
    sales = train.head(200).assign(
        feature_edition=np.arange(200, dtype=np.float64),
        feature_colour=pd.Series(["red", "blue"] * 100, dtype="string", index=train.index[:200]),
    )
    builder = FeatureBuilder(min_category_count=1).fit(sales)

    with pytest.raises(MissingColumns, match="lack feature_edition, feature_colour") as caught:
        builder.transform(sales.drop(columns=["feature_edition", "feature_colour"]))

    assert caught.value.columns == ("feature_edition", "feature_colour")
    assert len(builder.transform(sales)) == 200


# --- accuracy and explanations ---------------------------------------------------------------


@pytest.mark.parametrize("model", [HedonicRegression(), small_boost()], ids=["hedonic", "boosted"])
def test_models_beat_a_constant(model: Any, train: pd.DataFrame, held_out: pd.DataFrame) -> None:
    y = log_price(held_out).to_numpy()
    constant = np.nanmedian(log_price(train))

    predicted = clone(model).fit(train).predict(held_out)

    model_error = np.median(np.abs(predicted - y))
    assert model_error < 0.6 * np.median(np.abs(constant - y))
    assert 1 - np.mean((predicted - y) ** 2) / np.var(y) > 0.6


def test_boosted_explain_is_additive_shap(train: pd.DataFrame, held_out: pd.DataFrame) -> None:
    model = small_boost().fit(train)
    sample = held_out.head(200)

    shap = model.explain(sample)

    assert {"base_value", "anchor", "log_area"} <= set(shap.columns)
    np.testing.assert_allclose(shap.sum(axis=1).to_numpy(), model.predict(sample), atol=1e-9)


def test_hedonic_explain_splits_the_prediction_into_named_terms(
    train: pd.DataFrame, held_out: pd.DataFrame
) -> None:
    model = HedonicRegression().fit(train)
    sample = held_out.head(200)

    terms = model.explain(sample)

    np.testing.assert_allclose(terms.sum(axis=1).to_numpy(), model.predict(sample), atol=1e-9)
    assert {"base", "artist", "period", "log_area", "medium"} <= set(terms.columns)
    assert isinstance(model.coefficients_, pd.Series)
    # The size elasticity of the synthetic market is 0.5.
    assert model.coefficients_["log_area"] == pytest.approx(0.5, abs=0.1)


def test_hedonic_leaves_out_numbers_fixed_within_each_period() -> None:
    table = synthetic_sales(1500, seed=2)
    table["year_made"] = pd.array([2000] * len(table), dtype="Int64")  # age follows time alone

    model = HedonicRegression().fit(table)

    assert "age_at_sale" in model.dropped_
    assert "age_at_sale" not in model.coefficients_.index


def test_baselines_read_the_estimate(train: pd.DataFrame, held_out: pd.DataFrame) -> None:
    midpoint = EstimateMidpoint().fit(train).predict(held_out)
    rescaled = RescaledEstimate().fit(train)
    expected = np.log((held_out["low_estimate"] + held_out["high_estimate"]) / 2).to_numpy()

    np.testing.assert_allclose(midpoint, expected)
    assert np.isnan(midpoint).sum() == held_out["low_estimate"].isna().sum() > 0
    np.testing.assert_allclose(rescaled.predict(held_out), expected + rescaled.log_factor_)
    # The synthetic houses estimate 10% low (log bias -0.1): the factor undoes it.
    assert rescaled.factor_ == pytest.approx(np.exp(0.1), abs=0.05)


def test_rescaled_estimate_needs_estimates(train: pd.DataFrame) -> None:
    without = train.assign(low_estimate=np.nan, high_estimate=np.nan)

    with pytest.raises(NotEnoughData, match="presale estimate"):
        RescaledEstimate().fit(without)


def test_predictions_convert_to_prices(train: pd.DataFrame, held_out: pd.DataFrame) -> None:
    model = HedonicRegression().fit(train)

    np.testing.assert_allclose(predict_price(model, held_out), to_price(model.predict(held_out)))


# --- scikit-learn manners --------------------------------------------------------------------

ALL_MODELS = [
    HedonicRegression(alpha=3.0),
    small_boost(num_leaves=7),
    EstimateMidpoint(),
    RescaledEstimate(),
    ConformalRegressor(HedonicRegression(), coverage=0.9, method="adaptive"),
]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_predict_before_fit_raises_not_fitted(model: Any, held_out: pd.DataFrame) -> None:
    with pytest.raises(NotFitted, match="fit"):
        clone(model).predict(held_out)


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_clone_keeps_parameters_and_nothing_learned(model: Any, train: pd.DataFrame) -> None:
    fitted = clone(model).fit(train)

    copy = clone(fitted)

    assert repr(copy.get_params()) == repr(model.get_params())
    assert not [name for name in vars(copy) if name.endswith("_")]


def test_feature_builder_composes_in_a_pipeline(
    train: pd.DataFrame, held_out: pd.DataFrame
) -> None:
    sold = train[train["sold"].astype(bool)]
    pipeline = Pipeline(
        [
            ("features", FeatureBuilder()),
            ("boost", LGBMRegressor(n_estimators=50, n_jobs=1, verbose=-1)),
        ]
    )

    pipeline.fit(sold, log_price(sold))

    assert pipeline.predict(held_out).shape == (len(held_out),)


# --- conformal intervals ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def stationary() -> pd.DataFrame:
    """I.i.d. lots over time (no trend), so calibration and later sales are exchangeable."""
    return synthetic_sales(20000, seed=3, trend_per_year=0.0, repeat_share=0.0)


@pytest.mark.parametrize("method", ["split", "adaptive"])
def test_conformal_coverage_on_iid_data_is_near_nominal(
    method: str, stationary: pd.DataFrame
) -> None:
    cut = stationary["sale_date"].iloc[12000]
    train = stationary[stationary["sale_date"] < cut]
    test = stationary[(stationary["sale_date"] >= cut) & stationary["sold"].astype(bool)]
    y = log_price(test).to_numpy()
    model = ConformalRegressor(HedonicRegression(), coverage=0.8, method=method, refit=False)

    model.fit(train)
    predicted, lower, upper = model.predict_interval_online(test, y)

    covered = np.mean((y >= lower) & (y <= upper))
    assert 0.77 <= covered <= 0.83, f"{method} conformal covered {covered:.3f}"
    assert np.all(lower <= predicted)
    assert np.all(predicted <= upper)
    assert model.n_calibration_ > 1500


def test_conformal_calibrates_on_the_latest_sales(train: pd.DataFrame) -> None:
    model = ConformalRegressor(HedonicRegression(), calibration_fraction=0.25).fit(train)

    sold_dates = train.loc[train["sold"].astype(bool), "sale_date"]
    assert model.n_calibration_ == (sold_dates >= model.calibration_cutoff_).sum()
    assert model.n_calibration_ == pytest.approx(0.25 * len(sold_dates), rel=0.02)


def test_adaptive_partial_fit_widens_after_misses(train: pd.DataFrame) -> None:
    model = ConformalRegressor(HedonicRegression(), method="adaptive", gamma=0.01).fit(train)
    surprise = train.tail(200).copy()
    surprise["price"] = surprise["price"] * 20  # every lot far above its interval
    _, lower, upper = model.predict_interval(surprise)

    model.partial_fit(surprise)

    _, new_lower, new_upper = model.predict_interval(surprise)
    assert model.alpha_ < 0.2
    assert np.all(new_upper - new_lower > upper - lower)


def test_conformal_needs_lots_on_both_sides_of_the_split() -> None:
    table = lots([("A", "a", "2020-01-01", 10.0), ("A", "b", "2020-01-02", 12.0)])

    with pytest.raises(NotEnoughData, match="calibrate"):
        ConformalRegressor(EstimateMidpoint()).fit(table)
