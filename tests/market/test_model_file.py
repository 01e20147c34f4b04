"""Model folders: a saved model predicts what it predicted before, and refuses to be changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.errors import MarketError, NotEnoughData
from market.model_file import load_model, save_model
from market.models import BoostedPriceModel, ConformalRegressor, HedonicRegression
from market.synthetic import synthetic_sales

UNTIL = pd.Timestamp("2016-01-01")


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return synthetic_sales(1500, seed=5)


@pytest.fixture(scope="module")
def training(sales: pd.DataFrame) -> pd.DataFrame:
    return sales.loc[sales["sale_date"] < UNTIL]


@pytest.fixture(scope="module")
def boosted(training: pd.DataFrame) -> ConformalRegressor:
    model = BoostedPriceModel(n_estimators=30, n_jobs=1)
    return ConformalRegressor(model, method="adaptive").fit(training)


def test_boosted_model_predicts_the_same_after_a_round_trip(
    boosted: ConformalRegressor, training: pd.DataFrame, sales: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(boosted, training, tmp_path / "model", fitted_until=UNTIL)

    saved = load_model(tmp_path / "model")

    assert saved.kind == "boosted"
    assert saved.fitted_until == UNTIL
    for before, after in zip(
        boosted.predict_interval(sales), saved.predict_interval(sales), strict=True
    ):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(
        boosted.estimator_.explain(sales.tail(50)), saved.model.estimator_.explain(sales.tail(50))
    )


def test_hedonic_model_predicts_the_same_after_a_round_trip(
    training: pd.DataFrame, sales: pd.DataFrame, tmp_path: Path
) -> None:
    model = ConformalRegressor(HedonicRegression(), method="split").fit(training)
    info = save_model(model, training, tmp_path / "hedonic", fitted_until=UNTIL)

    saved = load_model(tmp_path / "hedonic")

    assert info["model"]["coefficients"]  # readable in model.json
    for before, after in zip(
        model.predict_interval(sales), saved.predict_interval(sales), strict=True
    ):
        np.testing.assert_allclose(before, after, rtol=0, atol=1e-9)


def test_another_coverage_uses_the_calibration_scores(
    boosted: ConformalRegressor, training: pd.DataFrame, sales: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(boosted, training, tmp_path / "model", fitted_until=UNTIL)
    saved = load_model(tmp_path / "model")
    scores = np.sort(boosted.calibration_scores_)

    predicted, lower, upper = saved.predict_interval(sales, coverage=0.9)

    rank = int(np.ceil((len(scores) + 1) * 0.9))
    np.testing.assert_allclose(upper - predicted, scores[rank - 1])
    np.testing.assert_allclose(predicted - lower, scores[rank - 1])
    with pytest.raises(NotEnoughData, match="calibration sales cannot bound a 100% interval"):
        saved.predict_interval(sales, coverage=0.9999)


def test_an_edited_calibration_is_refused(
    boosted: ConformalRegressor, training: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(boosted, training, tmp_path / "model", fitted_until=UNTIL)
    model_json = tmp_path / "model" / "model.json"
    info = json.loads(model_json.read_text())
    info["calibration"]["alpha"] = 0.5
    model_json.write_text(json.dumps(info))

    with pytest.raises(MarketError, match="not the ±"):
        load_model(tmp_path / "model")


def test_model_json_says_the_date_and_the_calibration(
    boosted: ConformalRegressor, training: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(boosted, training, tmp_path / "model", fitted_until=UNTIL)

    info = json.loads((tmp_path / "model" / "model.json").read_text())

    assert info["fitted_until"] == "2016-01-01"
    assert info["calibration"]["coverage"] == 0.8
    assert info["calibration"]["n_calibration"] == boosted.n_calibration_
    assert info["calibration"]["from"] == str(boosted.calibration_cutoff_.date())
    assert sorted(info["files"]) == ["booster.txt", "calibration_scores.csv", "training.csv.gz"]


def test_an_edited_model_json_is_refused_by_its_check_lots(
    boosted: ConformalRegressor, training: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(boosted, training, tmp_path / "model", fitted_until=UNTIL)
    model_json = tmp_path / "model" / "model.json"
    info = json.loads(model_json.read_text())
    info["model"]["params"]["anchor"] = False
    model_json.write_text(json.dumps(info))

    with pytest.raises(MarketError, match="cannot predict its own stored sales"):
        load_model(tmp_path / "model")


def test_saving_over_a_folder_that_is_not_a_model_is_refused(
    boosted: ConformalRegressor, training: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")

    with pytest.raises(MarketError, match="is not a model folder"):
        save_model(boosted, training, tmp_path / "photos", fitted_until=UNTIL)

    assert (tmp_path / "photos" / "cat.jpg").exists()
