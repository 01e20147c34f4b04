"""Price models on the canonical sales table: scikit-learn estimators that predict log price.

`X` is a sales table (`market.schema` columns); `y` is log(price), NaN for unsold lots, which
`fit` skips (left out, `y` defaults to the log of `X["price"]`). Every model composes with
scikit-learn (`clone`, `Pipeline`, grid search); `to_price` turns predictions into prices.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin, clone  # type: ignore[import-untyped, unused-ignore]
from sklearn.linear_model import Ridge  # type: ignore[import-untyped, unused-ignore]

from market.errors import MarketError, NotEnoughData, NotFitted
from market.features import (
    RECENT_SALES,
    REQUIRED_COLUMNS,
    FeatureBuilder,
    log_estimate_mid,
    log_price,
    require_columns,
    to_price,
)

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "BoostedPriceModel",
    "ConformalRegressor",
    "EstimateMidpoint",
    "HedonicRegression",
    "RescaledEstimate",
    "predict_price",
    "to_price",
]


def predict_price(model: Any, X: pd.DataFrame) -> FloatArray:
    """A fitted model's predictions as prices (exp of the predicted log price)."""
    return to_price(model.predict(X))


class HedonicRegression(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Ridge regression of log price on hedonic characteristics.

    Terms: one-hot artist, one-hot sale period (year-quarter by default), log area, medium, age at
    sale, artist alive at sale, signed, auction house, location and every `feature_*` column
    (numbers as is, text one-hot). A missing number is filled with its training median plus a
    "missing" indicator; a missing or unseen category contributes nothing (ridge centres each
    one-hot block, so zero is the average level). A period after the training data takes the
    latest training period's effect (the index carried forward), one before it the first's.
    A number that never varies within a period (age at sale when every lot was made in one
    year) is collinear with the time dummies and left out (`dropped_` names them).
    `coefficients_` names every coefficient; `explain(X)` splits each prediction into terms.
    """

    def __init__(
        self, *, alpha: float = 1.0, period: str = "Q", min_category_count: int = 1
    ) -> None:
        self.alpha = alpha
        self.period = period
        self.min_category_count = min_category_count

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Fit the ridge on the sold lots of `X`."""
        X, target = _training_rows(X, y)
        self.builder_ = FeatureBuilder(
            past_prices=False,
            estimate=False,
            artist_category=True,
            min_category_count=self.min_category_count,
            max_categories=2**31,
        ).fit(X)
        features = self.builder_.transform(X)
        numeric = [c for c in _HEDONIC_NUMERIC if c in features.columns]
        numeric += list(self.builder_.numeric_traits_)
        periods = _periods(X, self.period)
        # A number fixed within each period (age when every lot was made the same year) is a
        # function of the time dummies: kept, it would extrapolate the trend into the future.
        self.dropped_ = [c for c in numeric if _fixed_within(features[c], periods)]
        numeric = [c for c in numeric if c not in self.dropped_]
        self.numeric_ = numeric
        self.fill_ = {c: _median_or_zero(features[c]) for c in numeric}
        self.indicators_ = [c for c in numeric if features[c].isna().any()]
        self.periods_ = sorted(periods.unique())
        design, names, terms = self._design(X, features)
        self.ridge_ = Ridge(alpha=self.alpha).fit(design, target)
        self.design_names_ = names
        self.design_terms_ = terms
        self.coefficients_ = pd.Series(self.ridge_.coef_, index=names, name="coefficient")
        self.intercept_ = float(self.ridge_.intercept_)
        self.n_train_ = len(target)
        return self

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """Predicted log price of every lot of `X`."""
        _check_fitted(self, "ridge_")
        design, _, _ = self._design(X, self.builder_.transform(X))
        return np.asarray(self.ridge_.predict(design), dtype=np.float64)

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-lot contribution of each term (`base` = intercept); a row sums to the prediction."""
        _check_fitted(self, "ridge_")
        design, _, terms = self._design(X, self.builder_.transform(X))
        term_names = list(dict.fromkeys(terms))
        term_of_column = np.asarray([term_names.index(t) for t in terms])
        grouping = sp.csr_matrix(
            (np.ones(len(terms)), (np.arange(len(terms)), term_of_column)),
            shape=(len(terms), len(term_names)),
        )
        contributions = sp.csr_matrix(design.multiply(self.ridge_.coef_)) @ grouping
        out = pd.DataFrame(np.asarray(contributions.todense()), columns=term_names, index=X.index)
        out.insert(0, "base", self.intercept_)
        return out

    def _design(
        self, X: pd.DataFrame, features: pd.DataFrame
    ) -> tuple[sp.csr_matrix, list[str], list[str]]:
        """The sparse design matrix, its column names and the term each column belongs to."""
        n = len(X)
        blocks: list[sp.csr_matrix] = []
        names: list[str] = []
        terms: list[str] = []
        for column in self.numeric_:
            values = features[column].to_numpy(dtype=np.float64)
            missing = np.isnan(values)
            blocks.append(sp.csr_matrix(np.where(missing, self.fill_[column], values)[:, None]))
            names.append(column)
            terms.append(column)
            if column in self.indicators_:
                blocks.append(sp.csr_matrix(missing.astype(np.float64)[:, None]))
                names.append(f"{column} missing")
                terms.append(column)
        for column, levels in self.builder_.categories_.items():
            codes = features[column].cat.codes.to_numpy()
            blocks.append(_one_hot(codes, len(levels)))
            names += [f"{column}={level}" for level in levels]
            terms += [column] * len(levels)
        blocks.append(
            _one_hot(_period_codes(_periods(X, self.period), self.periods_), len(self.periods_))
        )
        names += [f"period={p}" for p in self.periods_]
        terms += ["period"] * len(self.periods_)
        design = sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((n, 0))
        return design, names, terms


_HEDONIC_NUMERIC = ("log_area", "age_at_sale", "artist_alive", "signed")


class BoostedPriceModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """LightGBM on log price over `FeatureBuilder` features (past prices, estimate, lot facts).

    With `anchor=True` (default) the trees learn the gap between the log price and an anchor:
    the log estimate midpoint where the lot has one, else its artist's recent level (mean log
    price of the artist's latest sales before the lot's date), else the training mean. Trees
    cannot predict outside the range of their training targets, and price levels drift; so the
    trees see every log-price feature as a difference from the anchor (`<name>_vs_anchor`),
    past-sale counts capped at `RECENT_SALES` (how much the recent level rests on), and no
    calendar trend (`sale_time`): their inputs keep one meaning while the market moves.
    `objective="l1"` (default) fits the median log price (robust to the odd absurd sale; the
    score that matters is median absolute log error). Defaults suit two cores and a million
    lots. `explain(X)` gives exact TreeSHAP values per tree input (LightGBM `pred_contrib`),
    the `base_value` and the `anchor`; each row sums to the prediction.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.08,
        num_leaves: int = 63,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        objective: str = "l1",
        max_bin: int = 255,
        n_jobs: int = 2,
        random_state: int = 0,
        past_prices: bool = True,
        estimate: bool = True,
        artist_category: bool = True,
        min_category_count: int = 5,
        anchor: bool = True,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.objective = objective
        self.max_bin = max_bin
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.past_prices = past_prices
        self.estimate = estimate
        self.artist_category = artist_category
        self.min_category_count = min_category_count
        self.anchor = anchor

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Build features from `X` (all lots: unsold ones still tell the calendar) and boost."""
        _require_columns(X)
        target = _target(X, y)
        sold = np.isfinite(target)
        if sold.sum() < 2:
            raise NotEnoughData(f"A boosted model needs sold lots to learn from; got {sold.sum()}.")
        self.builder_ = FeatureBuilder(
            past_prices=self.past_prices,
            estimate=self.estimate,
            artist_category=self.artist_category,
            min_category_count=self.min_category_count,
        ).fit(X)
        self.mean_log_price_ = float(np.mean(target[sold]))
        inputs, anchor = self._tree_inputs(self.builder_.transform(X))
        self.booster_ = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            objective=self.objective,
            max_bin=self.max_bin,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            verbose=-1,
        ).fit(inputs[sold], target[sold] - anchor[sold])
        self.feature_names_ = list(inputs.columns)
        self.n_train_ = int(sold.sum())
        return self

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """Predicted log price of every lot of `X`."""
        _check_fitted(self, "booster_")
        inputs, anchor = self._tree_inputs(self.builder_.transform(X))
        return np.asarray(self.booster_.predict(inputs), dtype=np.float64) + anchor

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-lot SHAP values per tree input, `base_value` and `anchor`; rows sum to predict."""
        _check_fitted(self, "booster_")
        inputs, anchor = self._tree_inputs(self.builder_.transform(X))
        contributions = self.booster_.predict(inputs, pred_contrib=True)
        out = pd.DataFrame(
            np.asarray(contributions, dtype=np.float64),
            columns=[*self.feature_names_, "base_value"],
            index=X.index,
        )
        out["anchor"] = anchor
        return out

    def _tree_inputs(self, features: pd.DataFrame) -> tuple[pd.DataFrame, FloatArray]:
        """The trees' input matrix and each lot's anchor (zero without `anchor`)."""
        if not self.anchor:
            return features, np.zeros(len(features))
        level = np.full(len(features), self.mean_log_price_)
        for column in ("artist_recent_mean_log_price", "log_estimate_mid"):
            if column in features.columns:
                values = features[column].to_numpy(dtype=np.float64)
                level = np.where(np.isnan(values), level, values)
        inputs = features.drop(columns=["sale_time"], errors="ignore")
        renames = {}
        for column in inputs.columns:
            if column.endswith("_log_price") or column == "log_estimate_mid":
                inputs[column] = inputs[column].to_numpy(dtype=np.float64) - level
                renames[column] = f"{column}_vs_anchor"
            elif column.endswith("_past_count"):
                inputs[column] = np.minimum(inputs[column].to_numpy(), RECENT_SALES)
        return inputs.rename(columns=renames), level

    @property
    def feature_importances_(self) -> pd.Series:
        """Total gain per feature."""
        _check_fitted(self, "booster_")
        gain = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_, name="gain").sort_values(ascending=False)


class EstimateMidpoint(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Baseline: log of the presale estimate midpoint (low+high)/2; NaN where no estimate."""

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Nothing to learn; counts the training lots with an estimate."""
        _require_columns(X)
        self.n_with_estimate_ = int(np.isfinite(log_estimate_mid(X).to_numpy()).sum())
        return self

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """log((low + high) / 2) per lot, NaN where the lot has no estimate."""
        _check_fitted(self, "n_with_estimate_")
        return np.asarray(log_estimate_mid(X).to_numpy(dtype=np.float64), dtype=np.float64)


class RescaledEstimate(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Baseline: estimate midpoint times a factor learned on the training period.

    The factor is exp(median of log(price / midpoint)) over training lots sold with an estimate
    (the median suits the median-error scores this baseline is judged on); NaN where no estimate.
    """

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Learn the factor from the sold lots of `X` that have an estimate."""
        _require_columns(X)
        ratio = _target(X, y) - log_estimate_mid(X).to_numpy(dtype=np.float64)
        ratio = ratio[np.isfinite(ratio)]
        if len(ratio) == 0:
            raise NotEnoughData(
                "Rescaling the estimate needs sold lots with a presale estimate; the training "
                f"period has 0 of its {len(X)} lots."
            )
        self.log_factor_ = float(np.median(ratio))
        self.factor_ = math.exp(self.log_factor_)
        self.n_with_estimate_ = len(ratio)
        return self

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """log(midpoint) + log(factor) per lot, NaN where the lot has no estimate."""
        _check_fitted(self, "log_factor_")
        mid = np.asarray(log_estimate_mid(X).to_numpy(dtype=np.float64), dtype=np.float64)
        return mid + self.log_factor_


ConformalMethod = Literal["split", "adaptive"]


class ConformalRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Prediction intervals around any log-price model, calibrated on the most recent sales.

    `fit` splits by time: the latest `calibration_fraction` of sold lots (whole days, so a day
    is never split) calibrate, and a clone of `model` is fitted on the lots before them. The
    conformity score of a calibration lot is |y - prediction| (log price).

    - `method="split"`: the interval is prediction ± q, q the ceil((n+1)(1-alpha))-th smallest
      of the n calibration scores, alpha = 1 - coverage (split conformal; finite-sample valid
      when sales are exchangeable).
    - `method="adaptive"`: adaptive conformal inference (Gibbs & Candès 2021) over the
      calibration lots in date order. The first half of them seeds the score set S; then, day
      by day, every lot of the day gets q_t = that quantile of S at level alpha_t, each miss
      (score > q_t) counts err = 1, alpha_{t+1} = alpha_t + gamma * sum(alpha - err) over the
      day's lots, and the day's scores join S. The final alpha_t is `alpha_`. The interval
      at alpha_t < `ALPHA_FLOOR` (0.01; the paper gives an infinite interval at alpha_t <= 0)
      uses the quantile at 0.01 instead; alpha_t >= 1 gives a zero-width interval. S keeps
      every score (no window). `partial_fit(X, y)` carries the recursion on with newly
      observed sales and `predict_interval_online(X, y)` runs it through held-out sales
      without changing the model (each lot's interval uses outcomes of earlier days only).

    With `refit=True` (default) the model is then refitted on all of `X` and the calibrated
    quantile kept: the point forecast has seen the latest sales (on CryptoPunks, split
    2022-01-01, median absolute log error 0.15 refitted against 0.18 not), but the scores came
    from the earlier model, so the split-conformal guarantee no longer holds exactly (held-out
    coverage at 80% was 0.89 refitted and 0.86 not; "adaptive" run online gave 0.81 either
    way). `refit=False` keeps the calibration model and the guarantee.

    Learned: `estimator_` (the model that predicts), `alpha_` (the current level),
    `scores_` (the score set, grown by `partial_fit`), `calibration_scores_`,
    `calibration_cutoff_` (first calibration day) and `n_calibration_`.
    """

    def __init__(
        self,
        model: Any,
        *,
        coverage: float = 0.8,
        method: ConformalMethod = "split",
        calibration_fraction: float = 0.2,
        gamma: float = 0.005,
        refit: bool = True,
    ) -> None:
        self.model = model
        self.coverage = coverage
        self.method = method
        self.calibration_fraction = calibration_fraction
        self.gamma = gamma
        self.refit = refit

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Fit the model on earlier sales, calibrate on the latest, then (refit) on all."""
        self._check_params()
        _require_columns(X)
        target = _target(X, y)
        days = _days(X)
        sold = np.flatnonzero(np.isfinite(target))
        cutoff = _calibration_cutoff(days[sold], self.calibration_fraction)
        early = days < cutoff
        late = ~early & np.isfinite(target)
        needed = math.ceil(1 / (1 - self.coverage))
        if np.isfinite(target[early]).sum() < 2 or late.sum() < needed:
            raise NotEnoughData(
                f"Conformal calibration needs sold lots on both sides of a time split: "
                f"{int(np.isfinite(target[early]).sum())} to fit and {int(late.sum())} to "
                f"calibrate (at least 2 and {needed} for {self.coverage:.0%} coverage)."
            )
        model = clone(self.model).fit(X[early], target[early])
        calibration = X[late]
        predicted = np.asarray(model.predict(calibration), dtype=np.float64)
        scores = np.abs(target[late] - predicted)
        usable = np.isfinite(scores)
        if usable.sum() < needed:
            raise NotEnoughData(
                f"Only {int(usable.sum())} calibration lots have a prediction; "
                f"{needed} are needed for {self.coverage:.0%} coverage."
            )
        scores, cal_days = scores[usable], days[late][usable]
        self.calibration_scores_ = np.sort(scores)
        self.calibration_cutoff_ = pd.Timestamp(np.datetime64(int(cutoff), "D"))
        self.n_calibration_ = int(usable.sum())
        alpha = 1.0 - self.coverage
        if self.method == "adaptive":
            order = np.argsort(cal_days, kind="stable")
            seed = max(1, len(order) // 2)
            seed_scores = scores[order[:seed]]
            alpha, _, _ = _aci_run(
                seed_scores,
                alpha,
                1.0 - self.coverage,
                self.gamma,
                scores[order[seed:]],
                cal_days[order[seed:]],
            )
        self.alpha_ = float(alpha)
        self.scores_ = np.sort(scores)
        self.estimator_ = clone(self.model).fit(X, target) if self.refit else model
        return self

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """The point prediction (log price) of the fitted model."""
        _check_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def predict_interval(self, X: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(prediction, lower, upper) in log price at the fitted state."""
        predicted = self.predict(X)
        half_width = _conformal_quantile(self.scores_, self.alpha_)
        return predicted, predicted - half_width, predicted + half_width

    def predict_interval_online(
        self, X: pd.DataFrame, y: npt.ArrayLike | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Intervals for lots observed in date order; "adaptive" updates alpha day by day.

        Each lot's interval uses only outcomes (`y`, default log of `X["price"]`) of earlier
        days; the model itself is left unchanged. "split" gives `predict_interval`'s intervals.
        """
        if self.method != "adaptive":
            return self.predict_interval(X)
        predicted = self.predict(X)
        target = _target(X, y)
        _, half_width, _ = _aci_run(
            self.scores_,
            self.alpha_,
            1.0 - self.coverage,
            self.gamma,
            np.abs(target - predicted),
            _days(X),
        )
        return predicted, predicted - half_width, predicted + half_width

    def partial_fit(self, X: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Carry the adaptive recursion on with new sales ("split": nothing changes; no refit)."""
        _check_fitted(self, "estimator_")
        scores = np.abs(_target(X, y) - self.predict(X))
        if self.method == "adaptive":
            alpha, _, pool = _aci_run(
                self.scores_, self.alpha_, 1.0 - self.coverage, self.gamma, scores, _days(X)
            )
            self.alpha_ = float(alpha)
            self.scores_ = pool
        return self

    def _check_params(self) -> None:
        if not 0 < self.coverage < 1:
            raise MarketError(f"coverage must lie strictly between 0 and 1; got {self.coverage}.")
        if not 0 < self.calibration_fraction < 1:
            raise MarketError(
                "calibration_fraction must lie strictly between 0 and 1; "
                f"got {self.calibration_fraction}."
            )
        if self.method not in ("split", "adaptive"):
            raise MarketError(f"method must be 'split' or 'adaptive'; got {self.method!r}.")


# Adaptive conformal inference asks for an infinite interval when alpha_t <= 0; intervals here
# stop at the 99% conformal quantile instead, so one absurd calibration sale (a 1-wei "sale" of
# a CryptoPunk) cannot make an interval astronomically wide.
ALPHA_FLOOR = 0.01


def _aci_run(
    pool: FloatArray,
    alpha: float,
    target_alpha: float,
    gamma: float,
    scores: FloatArray,
    days: npt.NDArray[np.int64],
) -> tuple[float, FloatArray, FloatArray]:
    """Adaptive conformal inference through `scores` day by day.

    Returns the final alpha, each lot's half-width (in the input order; NaN scores are skipped
    in the update but still get a width) and the grown, sorted score pool.
    """
    half_width = np.empty(len(scores))
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    boundaries = np.flatnonzero(np.r_[True, sorted_days[1:] != sorted_days[:-1], True])
    pool = np.sort(pool)
    for start, stop in itertools.pairwise(boundaries):
        lots = order[start:stop]
        width = _conformal_quantile(pool, alpha)
        half_width[lots] = width
        day_scores = scores[lots]
        day_scores = day_scores[np.isfinite(day_scores)]
        if len(day_scores) == 0:
            continue
        misses = (day_scores > width).astype(np.float64)
        alpha += gamma * float(np.sum(target_alpha - misses))
        # Merge into the sorted pool (linear per day rather than a full re-sort).
        pool = np.insert(pool, np.searchsorted(pool, np.sort(day_scores)), np.sort(day_scores))
    return alpha, half_width, pool


def _conformal_quantile(sorted_scores: FloatArray, alpha: float) -> float:
    """The ceil((n+1)(1-alpha))-th smallest score (alpha floored at `ALPHA_FLOOR`; 0 if >= 1)."""
    n = len(sorted_scores)
    if alpha >= 1:
        return 0.0
    rank = math.ceil((n + 1) * (1 - max(alpha, ALPHA_FLOOR)))
    return float(sorted_scores[min(max(rank, 1), n) - 1])


def _calibration_cutoff(sold_days: npt.NDArray[np.int64], fraction: float) -> int:
    """The first day of the calibration block: about `fraction` of sold lots fall on or after it."""
    if len(sold_days) == 0:
        raise NotEnoughData("Conformal calibration needs sold lots; the table has none.")
    ordered = np.sort(sold_days)
    return int(ordered[min(len(ordered) - 1, math.floor(len(ordered) * (1 - fraction)))])


def _training_rows(X: pd.DataFrame, y: npt.ArrayLike | None) -> tuple[pd.DataFrame, FloatArray]:
    """The sold rows of `X` with their log-price targets."""
    _require_columns(X)
    target = _target(X, y)
    sold = np.isfinite(target)
    if sold.sum() < 2:
        raise NotEnoughData(f"A price model needs sold lots to learn from; got {sold.sum()}.")
    return X[sold], target[sold]


def _target(X: pd.DataFrame, y: npt.ArrayLike | None) -> FloatArray:
    if y is None:
        return np.asarray(log_price(X).to_numpy(dtype=np.float64), dtype=np.float64)
    target = np.asarray(pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce"), dtype=np.float64)
    if target.shape != (len(X),):
        raise MarketError(f"y has {target.shape[0]} values for {len(X)} lots; give one per lot.")
    return target


def _require_columns(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise MarketError(f"Models take a sales table (a DataFrame); got {type(X).__name__}.")
    require_columns(X, REQUIRED_COLUMNS)


def _check_fitted(model: BaseEstimator, attribute: str) -> None:
    if not hasattr(model, attribute):
        raise NotFitted(
            f"This {type(model).__name__} is not fitted yet; call fit(sales) before using it."
        )


def _days(X: pd.DataFrame) -> npt.NDArray[np.int64]:
    return np.asarray(
        pd.to_datetime(X["sale_date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    )


def _periods(X: pd.DataFrame, freq: str) -> pd.Series:
    return pd.to_datetime(X["sale_date"]).dt.to_period(freq).astype(str)


def _period_codes(periods: pd.Series, known: list[str]) -> npt.NDArray[np.int64]:
    """Each period's index among the known ones; unseen periods take the latest earlier one."""
    position = (
        np.searchsorted(
            np.asarray(known, dtype=object), periods.to_numpy(dtype=object), side="right"
        )
        - 1
    )
    return np.asarray(np.clip(position, 0, len(known) - 1), dtype=np.int64)


def _one_hot(codes: npt.NDArray[np.integer[Any]], width: int) -> sp.csr_matrix:
    """Sparse one-hot rows; code -1 (missing or unseen) is an all-zero row."""
    rows = np.flatnonzero(codes >= 0)
    return sp.csr_matrix(
        (np.ones(len(rows)), (rows, codes[rows])), shape=(len(codes), max(width, 0))
    )


def _fixed_within(values: pd.Series, periods: pd.Series) -> bool:
    """Whether a number takes one value (or none) within every period."""
    grouped = values.groupby(periods.to_numpy())
    spread = grouped.max() - grouped.min()
    return bool(spread.fillna(0.0).max() <= 1e-9) if len(spread) else True


def _median_or_zero(values: pd.Series) -> float:
    median = values.median()
    return float(median) if pd.notna(median) else 0.0
