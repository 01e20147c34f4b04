"""Fitted price models on disk without pickle: a folder of JSON, CSV and LightGBM's text model.

    MODEL/
      model.json              what was fitted, on sales before which date, its calibration,
                              the model's parameters, checksums of the other files
      booster.txt             the boosted model's trees in LightGBM's own text format
      training.csv.gz         the sales it learned from (`save_sales`): the price history its
                              past-price features look back on
      calibration_scores.csv  the conformal calibration scores, |log price - prediction|

Trust boundary: loading reads data only (JSON, CSV, LightGBM's text parser); nothing in the folder
can run code, unlike a pickle. The feature step (category levels and price history) is rebuilt
by fitting the same `FeatureBuilder` on the stored sales, which is deterministic; the hedonic ridge
is refitted on them the same way (it is fast) and checked against its stored coefficients. Every
load re-predicts the last stored lots and refuses a model whose predictions differ from those
recorded when it was saved (an edited file, or a library version that computes differently).
These checks catch accidents and version drift, not an adversary, who could rewrite every file
and checksum consistently; the boundary that matters is that a model folder cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import lightgbm
import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn  # type: ignore[import-untyped, unused-ignore]

from market.errors import MarketError, NotEnoughData
from market.features import FeatureBuilder, log_price
from market.importer import load_sales, save_sales
from market.models import BoostedPriceModel, ConformalRegressor, HedonicRegression

FloatArray = npt.NDArray[np.float64]

FORMAT: Final = "atelier-market-model"
FORMAT_VERSION: Final = 1
MODEL_KINDS: Final = ("boosted", "hedonic")
MODEL_JSON: Final = "model.json"
BOOSTER_FILE: Final = "booster.txt"
TRAINING_FILE: Final = "training.csv.gz"
SCORES_FILE: Final = "calibration_scores.csv"
# Lots re-predicted on load: enough to catch a changed model, few enough to cost nothing.
CHECK_LOTS: Final = 20
_CHECK_TOLERANCE: Final = {"boosted": 1e-9, "hedonic": 1e-6}


@dataclass(frozen=True, eq=False)
class SavedModel:
    """A fitted model read back from disk: the conformal wrapper and what `model.json` says."""

    model: ConformalRegressor
    kind: str
    fitted_until: pd.Timestamp
    info: dict[str, Any]

    @property
    def coverage(self) -> float:
        """The coverage the intervals were calibrated for."""
        return float(self.model.coverage)

    def predict_interval(
        self, X: pd.DataFrame, coverage: float | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(prediction, lower, upper) in log price; at `coverage` when given (see below).

        At the calibrated coverage this is the model's own interval (adaptive conformal keeps
        the level it adapted to). At another coverage the half-width is the split-conformal
        quantile of the stored calibration scores at that level.
        """
        if coverage is None or math.isclose(coverage, self.coverage):
            return self.model.predict_interval(X)
        if not 0 < coverage < 1:
            raise MarketError(f"coverage must lie strictly between 0 and 1; got {coverage}")
        scores = np.asarray(self.model.calibration_scores_, dtype=np.float64)
        rank = math.ceil((len(scores) + 1) * coverage)
        if rank > len(scores):
            raise NotEnoughData(
                f"{len(scores)} calibration sales cannot bound a {coverage:.0%} interval; "
                f"it needs at least {math.ceil(coverage / (1 - coverage))}: ask for a lower "
                "coverage or refit on more sales"
            )
        predicted = self.model.predict(X)
        half_width = float(scores[rank - 1])
        return predicted, predicted - half_width, predicted + half_width


def model_kind(model: ConformalRegressor) -> str:
    """'boosted' or 'hedonic': which model a conformal wrapper holds (others cannot be saved)."""
    inner = model.model
    if isinstance(inner, BoostedPriceModel):
        return "boosted"
    if isinstance(inner, HedonicRegression):
        return "hedonic"
    raise MarketError(
        f"only BoostedPriceModel and HedonicRegression can be saved, not {type(inner).__name__}"
    )


def check_model_destination(path: Path) -> None:
    """Refuse to save over something that is not a model folder (checked before fitting)."""
    if path.exists() and not (path / MODEL_JSON).is_file():
        raise MarketError(
            f"{path} exists and is not a model folder (no {MODEL_JSON}); choose another --out"
        )


def save_model(
    model: ConformalRegressor,
    training: pd.DataFrame,
    path: Path,
    *,
    fitted_until: pd.Timestamp,
) -> dict[str, Any]:
    """Write a fitted model and the sales it was fitted on (`training`) to the folder `path`.

    `fitted_until` is the date the training sales stop before. An existing model folder at
    `path` is replaced whole (the new one is written beside it first); a folder that is not a
    model folder is refused. Returns what `model.json` holds.
    """
    if not hasattr(model, "estimator_"):
        raise MarketError("the model is not fitted; fit it before saving it")
    kind = model_kind(model)
    path = Path(path)
    check_model_destination(path)
    training = training.reset_index(drop=True)
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        save_sales(training, partial / TRAINING_FILE)
        scores = np.asarray(model.calibration_scores_, dtype=np.float64)
        np.savetxt(partial / SCORES_FILE, scores, fmt="%.17g", header="abs_log_error", comments="")
        estimator = model.estimator_
        if kind == "boosted":
            estimator.booster_.booster_.save_model(str(partial / BOOSTER_FILE))
            description = _boosted_description(estimator)
        else:
            description = _hedonic_description(estimator)
        info = _info(model, kind, training, fitted_until, description)
        files = [TRAINING_FILE, SCORES_FILE] + ([BOOSTER_FILE] if kind == "boosted" else [])
        info["files"] = {name: _sha256(partial / name) for name in files}
        (partial / MODEL_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _replace_folder(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return info


def load_model(path: Path) -> SavedModel:
    """Read a model folder written by `save_model`; refuses one that is changed or inconsistent."""
    path = Path(path)
    info = _read_info(path)
    for name, digest in info["files"].items():
        file = path / name
        if not file.is_file():
            raise MarketError(f"the model folder {path} lacks {name}; save the model again")
        if _sha256(file) != digest:
            raise MarketError(
                f"{file} is not the file this model was saved with (its sha256 differs); "
                "fit the model again"
            )
    kind = str(info["kind"])
    training = load_sales(path / TRAINING_FILE)
    calibration = info["calibration"]
    scores = np.loadtxt(path / SCORES_FILE, skiprows=1, dtype=np.float64, ndmin=1)
    params = dict(info["model"]["params"])
    inner = BoostedPriceModel(**params) if kind == "boosted" else HedonicRegression(**params)
    model = ConformalRegressor(
        inner,
        coverage=float(calibration["coverage"]),
        method=calibration["method"],
        calibration_fraction=float(calibration["calibration_fraction"]),
        gamma=float(calibration["gamma"]),
        refit=bool(calibration["refit"]),
    )
    cutoff = pd.Timestamp(calibration["from"])
    model.calibration_scores_ = scores
    model.scores_ = scores.copy()
    model.alpha_ = float(calibration["alpha"])
    model.calibration_cutoff_ = cutoff
    model.n_calibration_ = int(calibration["n_calibration"])
    rows = training if model.refit else training.loc[training["sale_date"] < cutoff]
    if kind == "boosted":
        model.estimator_ = _restore_boosted(inner, rows, info["model"], path / BOOSTER_FILE)
    else:
        model.estimator_ = _restore_hedonic(inner, rows, info["model"], path)
    _check_predictions(model, training, info["check"], kind, path)
    _check_calibration(model, training, calibration, path)
    return SavedModel(model, kind, pd.Timestamp(info["fitted_until"]), info)


# --- what model.json holds ------------------------------------------------------------------


def _info(
    model: ConformalRegressor,
    kind: str,
    training: pd.DataFrame,
    fitted_until: pd.Timestamp,
    description: dict[str, Any],
) -> dict[str, Any]:
    sold = np.isfinite(log_price(training).to_numpy(dtype=np.float64))
    currencies = sorted(set(training["currency"].astype(str)) - {""})
    scores = np.asarray(model.calibration_scores_, dtype=np.float64)
    predicted_one, _, upper_one = model.predict_interval(training.iloc[:1])
    half_width = float(upper_one[0] - predicted_one[0])
    # The first lots (no price history yet) and the latest (the longest history).
    half = CHECK_LOTS // 2
    check_rows = sorted(
        {*range(min(half, len(training))), *range(max(0, len(training) - half), len(training))}
    )
    predicted = model.predict(training.iloc[check_rows])
    dates = training["sale_date"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "fitted_until": str(pd.Timestamp(fitted_until).date()),
        "fitted_until_meaning": "learned only from sales strictly before this date",
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "currency": currencies[0] if currencies else "",
        "training": {
            "lots": len(training),
            "sold_lots": int(sold.sum()),
            "first_sale": str(dates.min().date()) if len(dates) else None,
            "last_sale": str(dates.max().date()) if len(dates) else None,
            "artists": int(training["artist"].nunique()),
        },
        "calibration": {
            "coverage": float(model.coverage),
            "method": model.method,
            "calibration_fraction": float(model.calibration_fraction),
            "gamma": float(model.gamma),
            "refit": bool(model.refit),
            "from": str(model.calibration_cutoff_.date()),
            "n_calibration": int(model.n_calibration_),
            "alpha": float(model.alpha_),
            "half_width_log": half_width,
            "price_factor": math.exp(half_width),
            "median_abs_log_error": float(np.median(scores)) if len(scores) else None,
            "meaning": (
                "interval = prediction x/÷ price_factor (± half_width_log in log price), from the "
                "conformal scores of the calibration sales (on and after 'from', predicted by a "
                "model fitted on the sales before them)"
            ),
        },
        "model": description,
        "check": {
            "rows": check_rows,
            "predicted_log_price": [float(value) for value in predicted],
        },
        "versions": {
            "lightgbm": lightgbm.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
    }


def _boosted_description(estimator: BoostedPriceModel) -> dict[str, Any]:
    return {
        "class": "BoostedPriceModel",
        "params": _plain_params(estimator.get_params(deep=False)),
        "feature_builder": _plain_params(estimator.builder_.get_params(deep=False)),
        "mean_log_price": float(estimator.mean_log_price_),
        "n_train": int(estimator.n_train_),
        "feature_names": list(estimator.feature_names_),
        "booster_file": BOOSTER_FILE,
    }


def _hedonic_description(estimator: HedonicRegression) -> dict[str, Any]:
    return {
        "class": "HedonicRegression",
        "params": _plain_params(estimator.get_params(deep=False)),
        "n_train": int(estimator.n_train_),
        "intercept": float(estimator.intercept_),
        "coefficients": {str(k): float(v) for k, v in estimator.coefficients_.items()},
    }


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values; anything else (an object) cannot be stored as data."""
    plain: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and not isinstance(value, bool | int | float | str):
            raise MarketError(f"parameter {name}={value!r} is not a plain value; cannot save it")
        plain[name] = value
    return plain


def _read_info(path: Path) -> dict[str, Any]:
    file = path / MODEL_JSON
    if not file.is_file():
        hint = "" if path.exists() else "; create one with `python -m market fit`"
        raise MarketError(f"no model at {path} (no {MODEL_JSON}){hint}")
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise MarketError(f"{file} is not valid JSON: {error}") from error
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise MarketError(f"{file} is not an Atelier market model (format {FORMAT!r})")
    if info.get("format_version") != FORMAT_VERSION:
        raise MarketError(
            f"{file} has format version {info.get('format_version')!r}; this library reads "
            f"version {FORMAT_VERSION}: fit the model again"
        )
    if info.get("kind") not in MODEL_KINDS:
        raise MarketError(f"{file} holds a model of unknown kind {info.get('kind')!r}")
    for key in ("fitted_until", "calibration", "model", "check", "files"):
        if key not in info:
            raise MarketError(f"{file} lacks {key!r}; save the model again")
    return info


# --- rebuilding the estimator ---------------------------------------------------------------


class _TextBooster:
    """The part of a fitted LGBMRegressor the boosted model uses, over a text-loaded Booster."""

    def __init__(self, booster: lightgbm.Booster) -> None:
        self.booster_ = booster

    def predict(self, X: pd.DataFrame, **kwargs: Any) -> Any:
        """LightGBM's prediction (`pred_contrib=True` gives SHAP values), as LGBMRegressor's."""
        return self.booster_.predict(X, **kwargs)


def _restore_boosted(
    model: BoostedPriceModel, rows: pd.DataFrame, description: dict[str, Any], booster: Path
) -> BoostedPriceModel:
    estimator = BoostedPriceModel(**model.get_params(deep=False))
    estimator.builder_ = FeatureBuilder(**description["feature_builder"]).fit(rows)
    estimator.mean_log_price_ = float(description["mean_log_price"])
    estimator.feature_names_ = list(description["feature_names"])
    estimator.n_train_ = int(description["n_train"])
    try:
        loaded = lightgbm.Booster(model_file=str(booster))
    except lightgbm.basic.LightGBMError as error:
        raise MarketError(f"{booster} is not a LightGBM model: {error}") from error
    if loaded.feature_name() != estimator.feature_names_:
        raise MarketError(f"{booster} does not use the features model.json lists; fit again")
    # Duck-typed: the boosted model only calls `booster_.predict` and `booster_.booster_`.
    cast(Any, estimator).booster_ = _TextBooster(loaded)
    return estimator


def _restore_hedonic(
    model: HedonicRegression, rows: pd.DataFrame, description: dict[str, Any], path: Path
) -> HedonicRegression:
    estimator = HedonicRegression(**model.get_params(deep=False)).fit(rows)
    stored = pd.Series(description["coefficients"], dtype=np.float64)
    refitted = estimator.coefficients_
    if list(stored.index) != list(refitted.index) or not np.allclose(
        refitted.to_numpy(), stored.to_numpy(), rtol=1e-6, atol=1e-8
    ):
        raise MarketError(
            f"refitting the hedonic model in {path} on its stored sales does not give its stored "
            "coefficients (another library version?); fit the model again"
        )
    return estimator


def _check_predictions(
    model: ConformalRegressor,
    training: pd.DataFrame,
    check: dict[str, Any],
    kind: str,
    path: Path,
) -> None:
    rows = [int(row) for row in check["rows"]]
    if rows and max(rows) >= len(training):
        raise MarketError(f"the model in {path} lists check lots beyond its stored sales")
    expected = np.asarray(check["predicted_log_price"], dtype=np.float64)
    try:
        predicted = model.predict(training.iloc[rows])
    except (ValueError, KeyError, lightgbm.basic.LightGBMError) as error:
        raise MarketError(
            f"the model in {path} cannot predict its own stored sales ({error}): an edited "
            "file or another library version; fit the model again"
        ) from error
    if not np.allclose(predicted, expected, rtol=0.0, atol=_CHECK_TOLERANCE[kind], equal_nan=True):
        worst = float(np.nanmax(np.abs(predicted - expected))) if len(rows) else 0.0
        raise MarketError(
            f"the model in {path} no longer predicts what it predicted when saved (differences "
            f"up to {worst:.3g} in log price): an edited file or another library version; "
            "fit the model again"
        )


def _check_calibration(
    model: ConformalRegressor, training: pd.DataFrame, calibration: dict[str, Any], path: Path
) -> None:
    predicted, _, upper = model.predict_interval(training.iloc[:1])
    half_width = float(upper[0] - predicted[0])
    if not math.isclose(half_width, float(calibration["half_width_log"]), abs_tol=1e-12):
        raise MarketError(
            f"the calibration in {path} gives an interval of ±{half_width:.4g} in log price, "
            f"not the ±{float(calibration['half_width_log']):.4g} it was saved with; fit again"
        )


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _replace_folder(new: Path, path: Path) -> None:
    """Put the folder `new` at `path`, an existing model folder there moved aside then removed."""
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)
