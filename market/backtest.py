"""Time-split backtests: every model beside the presale-estimate baselines, in one table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone  # type: ignore[import-untyped, unused-ignore]

from market.errors import MarketError, NotEnoughData
from market.features import log_estimate_mid, log_price, require_columns
from market.models import ConformalMethod, ConformalRegressor, EstimateMidpoint, RescaledEstimate

FloatArray = npt.NDArray[np.float64]

BASELINES = {"estimate midpoint": EstimateMidpoint(), "rescaled estimate": RescaledEstimate()}
METRICS = (
    "n",
    "r2_log",
    "median_abs_log_error",
    "mape",
    "inside_presale_range",
    "interval_coverage",
    "mean_interval_width",
)
SUBSETS = ("all", "with_estimate")


def backtest(
    sales: pd.DataFrame,
    split_date: str | pd.Timestamp,
    models: Mapping[str, Any],
    coverage: float = 0.8,
    *,
    rolling: bool = True,
    conformal: ConformalMethod = "adaptive",
) -> pd.DataFrame:
    """Fit every model on sales before `split_date`, score it on the sold lots from then on.

    Rows: a MultiIndex (subset, model). Subset "all" scores each row on the held-out lots it
    predicts (the estimate baselines only predict lots with an estimate: see `n`); subset
    "with_estimate" scores every row on the same lots, those with a presale estimate, so rows
    compare. The two baselines, "estimate midpoint" and "rescaled estimate", are added to
    `models`. Columns (`METRICS`):

    - `n`: lots scored; `r2_log`: R² of log price; `median_abs_log_error`: median |log error|;
    - `mape`: mean |predicted price - price| / price (predicted price = exp(predicted log));
    - `inside_presale_range`: share of predicted prices within [low, high] estimate (lots
      with an estimate); `attrs["actual_inside_presale_range"]` gives the same share for the
      actual prices, the auction houses' own hit rate;
    - `interval_coverage`: share of prices inside the row's interval at `coverage`;
    - `mean_interval_width`: mean (upper - lower) / predicted price, in prices.

    A model without `predict_interval` is wrapped in
    `ConformalRegressor(model, coverage=coverage, method=conformal)`, calibrated on the latest
    training sales; the baselines too. With `rolling`, a model with `predict_interval_online`
    (adaptive conformal) is run through the held-out lots in date order, each interval using
    only outcomes of earlier days. "adaptive" is the default because prices drift: on
    CryptoPunks split conformal covered 70% (split 2021-07-01) and 89% (2022-01-01) of held-out
    sales at 80%, adaptive 80% and 81%.

    `rolling=True` (default) is one-day-ahead forecasting: a held-out lot's past-price features
    may use held-out sales before its date. `rolling=False` hides every held-out price, so the
    features stop at the split (a forecast made on the split date for the whole period).
    """
    require_columns(sales)
    split = pd.Timestamp(split_date)
    dates = pd.to_datetime(sales["sale_date"])
    target = log_price(sales).to_numpy(dtype=np.float64)
    train = sales[(dates < split).to_numpy()]
    held_out = (dates >= split).to_numpy() & np.isfinite(target)
    test = sales[held_out]
    if np.isfinite(target[(dates < split).to_numpy()]).sum() == 0 or len(test) == 0:
        raise NotEnoughData(
            f"A backtest needs sold lots on both sides of {split.date()}: "
            f"{int(np.isfinite(target[(dates < split).to_numpy()]).sum())} before, "
            f"{len(test)} on or after."
        )
    duplicate = set(models) & set(BASELINES)
    if duplicate:
        raise MarketError(f"Model names {sorted(duplicate)} are taken by the baselines; rename.")
    y = target[held_out]
    features_input = test if rolling else _hide_prices(test)
    low = _column(test, "low_estimate")
    high = _column(test, "high_estimate")
    has_estimate = np.isfinite(log_estimate_mid(test).to_numpy(dtype=np.float64))

    predictions: dict[str, tuple[FloatArray, FloatArray, FloatArray]] = {}
    for name, model in models.items():
        fitted = _with_intervals(model, coverage, conformal).fit(train)
        predictions[name] = _predict(fitted, features_input, y if rolling else None)
    for name, baseline in BASELINES.items():
        predictions[name] = _baseline_predictions(
            baseline, train, test, coverage, conformal, y if rolling else None
        )

    rows = []
    for subset in SUBSETS:
        common = np.ones(len(y), bool) if subset == "all" else has_estimate.copy()
        if subset == "with_estimate":
            for predicted, _, _ in predictions.values():
                common &= np.isfinite(predicted)
        for name, (predicted, lower, upper) in predictions.items():
            keep = common & np.isfinite(predicted)
            rows.append(
                {
                    "subset": subset,
                    "model": name,
                    **_scores(
                        y[keep], predicted[keep], lower[keep], upper[keep], low[keep], high[keep]
                    ),
                }
            )
    table = pd.DataFrame(rows).set_index(["subset", "model"])[list(METRICS)]
    in_range = has_estimate & (np.exp(y) >= low) & (np.exp(y) <= high)
    table.attrs.update(
        split_date=str(split.date()),
        coverage=coverage,
        rolling=rolling,
        n_train=int(np.isfinite(target[(dates < split).to_numpy()]).sum()),
        actual_inside_presale_range=float(in_range.sum() / max(has_estimate.sum(), 1))
        if has_estimate.any()
        else float("nan"),
    )
    return table


def _with_intervals(model: Any, coverage: float, method: ConformalMethod) -> Any:
    if hasattr(model, "predict_interval"):
        return clone(model)
    return ConformalRegressor(clone(model), coverage=coverage, method=method)


def _baseline_predictions(
    baseline: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    coverage: float,
    method: ConformalMethod,
    y: FloatArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A baseline's predictions; without intervals (NaN) or predictions when estimates are few."""
    try:
        return _predict(_with_intervals(baseline, coverage, method).fit(train), test, y)
    except NotEnoughData:
        pass
    missing = np.full(len(test), np.nan)
    try:
        predicted = np.asarray(clone(baseline).fit(train).predict(test), dtype=np.float64)
    except NotEnoughData:
        predicted = missing
    return predicted, missing, missing


def _predict(
    model: Any, X: pd.DataFrame, y: FloatArray | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if y is not None and hasattr(model, "predict_interval_online"):
        result = model.predict_interval_online(X, y)
    else:
        result = model.predict_interval(X)
    predicted, lower, upper = (np.asarray(part, dtype=np.float64) for part in result)
    return predicted, lower, upper


def _scores(
    y: FloatArray,
    predicted: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    low: FloatArray,
    high: FloatArray,
) -> dict[str, float]:
    n = len(y)
    if n == 0:
        return {"n": 0, **{m: float("nan") for m in METRICS[1:]}}
    error = predicted - y
    variance = float(np.var(y))
    price = np.exp(y)
    predicted_price = np.exp(predicted)
    estimated = np.isfinite(low) & np.isfinite(high)
    inside = (predicted_price >= low) & (predicted_price <= high)
    return {
        "n": n,
        "r2_log": 1.0 - float(np.mean(error**2)) / variance if variance > 0 else float("nan"),
        "median_abs_log_error": float(np.median(np.abs(error))),
        "mape": float(np.mean(np.abs(predicted_price - price) / price)),
        "inside_presale_range": float(inside[estimated].mean()) if estimated.any() else np.nan,
        "interval_coverage": float(np.mean((y >= lower) & (y <= upper))),
        "mean_interval_width": float(np.mean((np.exp(upper) - np.exp(lower)) / predicted_price)),
    }


def _hide_prices(frame: pd.DataFrame) -> pd.DataFrame:
    hidden = frame.copy()
    hidden["price"] = np.nan
    return hidden


def _column(frame: pd.DataFrame, name: str) -> FloatArray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[name], errors="coerce").astype("Float64")
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
