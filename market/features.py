"""Time-safe features from the canonical sales table, and the transformer models build on.

Every past-price feature of a lot comes only from sold lots strictly before its `sale_date`:
sales on the same day (the lot itself included) and later ones are never seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.indexers import BaseIndexer
from pandas.api.types import union_categoricals
from sklearn.base import BaseEstimator, TransformerMixin  # type: ignore[import-untyped, unused-ignore]

from market.errors import MissingColumns, NotFitted

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

REQUIRED_COLUMNS = ("artist", "sale_date")
# How many of a group's latest sales make its recent level.
RECENT_SALES = 10
# Free-text categoricals a model may use, when the table has them.
CATEGORICAL_COLUMNS = ("medium", "auction_house", "location", "nationality")


def log_price(frame: pd.DataFrame) -> pd.Series:
    """log(price) of every lot; NaN where unsold or without a positive price."""
    price = _numeric(frame, "price")
    sold = _sold_mask(frame) & (price > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.where(sold, np.log(price), np.nan), index=frame.index, name="log_price")


def log_estimate_mid(frame: pd.DataFrame) -> pd.Series:
    """log of the presale estimate midpoint (low+high)/2; a lone bound stands in; else NaN."""
    low = _numeric(frame, "low_estimate")
    high = _numeric(frame, "high_estimate")
    low = np.where(low > 0, low, np.nan)
    high = np.where(high > 0, high, np.nan)
    mid = np.where(np.isnan(low), high, np.where(np.isnan(high), low, (low + high) / 2))
    with np.errstate(invalid="ignore"):
        return pd.Series(np.log(mid), index=frame.index, name="log_estimate_mid")


def to_price(log_prices: npt.ArrayLike) -> FloatArray:
    """Prices from log prices (the models all predict log price)."""
    return np.exp(np.asarray(log_prices, dtype=np.float64))


def past_price_features(frame: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per lot: the artist's and the item's sold sales strictly before its sale date.

    For each group (`artist`, and `item` via `item_id`): `<group>_past_count`,
    `<group>_past_mean_log_price`, `<group>_past_median_log_price`,
    `<group>_recent_mean_log_price` (the mean of its latest `RECENT_SALES` earlier sales),
    `<group>_last_log_price` (the mean log price of the latest earlier sale day) and
    `<group>_days_since_last_sale`. `history`
    gives the sales to look back on (default: `frame` itself); only its sold lots count.
    Vectorised: one sort plus cumulative sums and a grouped expanding median.
    """
    require_columns(frame, REQUIRED_COLUMNS)
    source = frame if history is None else history
    require_columns(source, REQUIRED_COLUMNS)
    if history is None:
        keys = {column: _group_keys(frame, column) for column in ("artist", "item_id")}
        return _past_stats_for(frame, _history_table(frame, keys), keys)
    return _past_stats_for(frame, _history_table(history))


def _history_table(
    source: pd.DataFrame, keys: dict[str, pd.Categorical] | None = None
) -> pd.DataFrame:
    """The sold lots of `source` as (artist, item, day, log_price), the form the look-back uses."""
    keys = keys or {column: _group_keys(source, column) for column in ("artist", "item_id")}
    logp = log_price(source).to_numpy()
    keep = np.flatnonzero(np.isfinite(logp))
    return pd.DataFrame(
        {
            "artist": keys["artist"][keep],
            "item": keys["item_id"][keep],
            "day": _days(source)[keep],
            "log_price": logp[keep],
        }
    )


def _past_stats_for(
    frame: pd.DataFrame, past: pd.DataFrame, keys: dict[str, pd.Categorical] | None = None
) -> pd.DataFrame:
    days = _days(frame)
    out: dict[str, FloatArray] = {}
    for group, column in (("artist", "artist"), ("item", "item_id")):
        known: pd.Categorical = past[group].array
        query = keys[column] if keys is not None else _group_keys(frame, column)
        # Query values coded in the history's levels: a group with no history gets code -1.
        if query.categories.equals(known.categories):
            query_codes = np.asarray(query.codes, dtype=np.int64)
        else:
            to_known = known.categories.get_indexer(query.categories)
            query_codes = np.append(to_known, -1)[query.codes].astype(np.int64)
        stats = _past_stats(
            np.asarray(known.codes, dtype=np.int64),
            past["day"].to_numpy(dtype=np.int64),
            past["log_price"].to_numpy(dtype=np.float64),
            query_codes,
            days,
        )
        for name, values in stats.items():
            out[f"{group}_{name}"] = values
    return pd.DataFrame(out, index=frame.index)


class _GroupExpandingWindow(BaseIndexer):  # type: ignore[misc]
    """Windows from the first row of each row's group up to the row (rows sorted by group)."""

    group_starts: IntArray

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[IntArray, IntArray]:
        starts: IntArray = self.group_starts
        return starts, np.arange(1, num_values + 1, dtype=np.int64)


def _past_stats(
    hist_codes: IntArray,
    hist_days: IntArray,
    hist_logp: FloatArray,
    query_codes: IntArray,
    query_days: IntArray,
) -> dict[str, FloatArray]:
    """Look-back statistics; groups are integer codes shared by history and query (-1: none)."""
    n_query = len(query_codes)
    empty = {
        "past_count": np.zeros(n_query),
        "past_mean_log_price": np.full(n_query, np.nan),
        "past_median_log_price": np.full(n_query, np.nan),
        "recent_mean_log_price": np.full(n_query, np.nan),
        "last_log_price": np.full(n_query, np.nan),
        "days_since_last_sale": np.full(n_query, np.nan),
    }
    known = hist_codes >= 0
    hist_codes, hist_days, hist_logp = hist_codes[known], hist_days[known], hist_logp[known]
    if len(hist_codes) == 0 or n_query == 0:
        return empty

    # A key that sorts like (group, day): the last history row with a smaller key is the latest
    # sale of the same group strictly before the query day, when the group matches.
    first_day = min(int(hist_days.min()), int(query_days.min()))
    span = max(int(hist_days.max()), int(query_days.max())) - first_day + 2
    unsorted_key = hist_codes * span + (hist_days - first_day)
    order = np.argsort(unsorted_key, kind="stable")
    hist_key = unsorted_key[order]
    g, d, p = hist_codes[order], hist_days[order], hist_logp[order]
    n = len(g)
    rows = np.arange(n, dtype=np.int64)
    new_group = np.r_[True, g[1:] != g[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, rows, 0))
    count = (rows - group_start + 1).astype(np.float64)
    cumulative = np.cumsum(p)
    before_group = np.where(group_start > 0, cumulative[group_start - 1], 0.0)
    mean = (cumulative - before_group) / count
    window_start = np.maximum(group_start, rows - RECENT_SALES + 1)
    before_window = np.where(window_start > 0, cumulative[window_start - 1], 0.0)
    recent = (cumulative - before_window) / (rows - window_start + 1)
    median = (
        pd.Series(p)
        .rolling(_GroupExpandingWindow(group_starts=group_start), min_periods=1)
        .median()
        .to_numpy()
    )
    new_day = new_group | np.r_[True, d[1:] != d[:-1]]
    day_block = np.cumsum(new_day) - 1
    day_mean = np.bincount(day_block, weights=p) / np.bincount(day_block)

    query_key = query_codes * span + (query_days - first_day)
    # Looking up sorted keys walks the history in order (far fewer cache misses).
    query_order = np.argsort(query_key, kind="stable")
    at = np.empty(n_query, dtype=np.int64)
    at[query_order] = np.searchsorted(hist_key, query_key[query_order], side="left") - 1
    safe = np.clip(at, 0, n - 1)
    found = (at >= 0) & (query_codes >= 0) & (g[safe] == query_codes)
    return {
        "past_count": np.where(found, count[safe], 0.0),
        "past_mean_log_price": np.where(found, mean[safe], np.nan),
        "past_median_log_price": np.where(found, median[safe], np.nan),
        "recent_mean_log_price": np.where(found, recent[safe], np.nan),
        "last_log_price": np.where(found, day_mean[day_block[safe]], np.nan),
        "days_since_last_sale": np.where(found, (query_days - d[safe]).astype(np.float64), np.nan),
    }


def lot_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-lot numeric facts: log area, age at sale, artist alive and age, signed, calendar."""
    require_columns(frame, REQUIRED_COLUMNS)
    dates = pd.to_datetime(frame["sale_date"])
    sale_year = dates.dt.year.to_numpy(dtype=np.float64)
    width = _numeric(frame, "width")
    height = _numeric(frame, "height")
    area = width * height
    year_made = _numeric(frame, "year_made")
    birth = _numeric(frame, "birth_year")
    death = _numeric(frame, "death_year")
    known_artist = ~(np.isnan(birth) & np.isnan(death))
    # No death year for a known artist reads as alive; an artist with no facts is unknown.
    alive = np.where(
        known_artist, np.where(np.isnan(death) | (sale_year <= death), 1.0, 0.0), np.nan
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_area = np.where(area > 0, np.log(area), np.nan)
    return pd.DataFrame(
        {
            "log_area": log_area,
            "age_at_sale": sale_year - year_made,
            "artist_age_at_sale": sale_year - birth,
            "artist_alive": alive,
            "signed": _numeric(frame, "signed"),
            "sale_time": sale_year + (dates.dt.day_of_year.to_numpy(dtype=np.float64) - 1) / 365.25,
            "sale_month": dates.dt.month.to_numpy(dtype=np.float64),
            "sale_weekday": dates.dt.day_of_week.to_numpy(dtype=np.float64),
        },
        index=frame.index,
    )


def estimate_features(frame: pd.DataFrame) -> pd.DataFrame:
    """log estimate midpoint and log(high/low) where the lot has a presale estimate."""
    low = _numeric(frame, "low_estimate")
    high = _numeric(frame, "high_estimate")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range = np.where((low > 0) & (high >= low), np.log(high / low), np.nan)
    return pd.DataFrame(
        {"log_estimate_mid": log_estimate_mid(frame).to_numpy(), "log_estimate_range": log_range},
        index=frame.index,
    )


def trait_columns(frame: pd.DataFrame) -> list[str]:
    """The table's `feature_*` columns, in order."""
    return [str(c) for c in frame.columns if str(c).startswith("feature_")]


def is_numeric_trait(column: pd.Series) -> bool:
    """Whether a `feature_*` column passes through as a number (numbers and booleans do)."""
    return bool(pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


class FeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Sales table -> model matrix: past prices, lot facts, estimate, categoricals, `feature_*`.

    `fit` learns the category levels (levels seen at least `min_category_count` times, at most
    `max_categories` per column; others become missing) and keeps the fitted sales as price
    history. `transform` looks back on that history plus the sold lots in its own input, always
    strictly before each lot's date, so a lot sold after the fit still sees the sales since.
    Numeric columns are float64; categoricals are pandas `category` with the fitted levels.
    """

    def __init__(
        self,
        *,
        past_prices: bool = True,
        estimate: bool = True,
        artist_category: bool = True,
        min_category_count: int = 5,
        max_categories: int = 1000,
    ) -> None:
        self.past_prices = past_prices
        self.estimate = estimate
        self.artist_category = artist_category
        self.min_category_count = min_category_count
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: object = None) -> Self:
        """Learn category levels and keep the sold lots of `X` as price history."""
        require_columns(X, REQUIRED_COLUMNS)
        categorical = self._categorical_sources(X)
        self.categories_: dict[str, list[str]] = {}
        for name in categorical:
            counts = _category_values(X, name).value_counts().sort_values(ascending=False)
            counts = counts[counts >= self.min_category_count].iloc[: self.max_categories]
            self.categories_[name] = sorted(str(level) for level in counts.index)
        self.numeric_traits_ = [c for c in trait_columns(X) if is_numeric_trait(X[c])]
        self.history_ = _history_table(X) if self.past_prices else None
        self.history_keys_ = (
            _row_keys(self.history_) if self.history_ is not None else np.empty(0, np.uint64)
        )
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.feature_names_out_ = list(self._build(X.iloc[:0]).columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model matrix for the lots of `X`, one row per lot, in order."""
        _check_fitted(self)
        learned = [
            *self.numeric_traits_,
            *(c for c in self.categories_ if c.startswith("feature_")),
        ]
        missing = [name for name in learned if name not in X.columns]
        if missing:
            # A lot without a trait column would be read as "trait unknown": say so instead.
            raise MissingColumns(
                f"The lots lack {', '.join(missing)}, which the model learned from; add the "
                "column(s) (an empty cell reads as unknown).",
                columns=missing,
            )
        return self._build(X)

    def _build(self, X: pd.DataFrame) -> pd.DataFrame:
        require_columns(X, REQUIRED_COLUMNS)
        parts = []
        if self.past_prices:
            keys = {column: _group_keys(X, column) for column in ("artist", "item_id")}
            parts.append(_past_stats_for(X, self._history_with(X, keys), keys))
        parts.append(lot_features(X))
        if self.estimate:
            parts.append(estimate_features(X))
        numeric = pd.concat(parts, axis=1)
        for name in self.numeric_traits_:
            numeric[name] = _numeric(X, name)
        out = numeric.astype(np.float64)
        for name, levels in self.categories_.items():
            out[name] = _category_values(X, name).set_categories(levels)
        return out

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        """Names of the transformed columns."""
        _check_fitted(self)
        return np.asarray(self.feature_names_out_, dtype=object)

    def _categorical_sources(self, X: pd.DataFrame) -> list[str]:
        names = [c for c in CATEGORICAL_COLUMNS if c in X.columns]
        if self.artist_category:
            names.insert(0, "artist")
        names += [c for c in trait_columns(X) if not is_numeric_trait(X[c])]
        return names

    def _history_with(self, X: pd.DataFrame, keys: dict[str, pd.Categorical]) -> pd.DataFrame:
        """The fitted history plus the sold lots of `X` it does not already hold."""
        fitted = self.history_
        new = _history_table(X, keys)
        if fitted is None or len(fitted) == 0:
            return new
        if len(new) == 0:
            return fitted
        seen = pd.Series(_row_keys(new)).isin(self.history_keys_).to_numpy()
        if seen.all():
            return fitted
        new = new[~seen]
        return pd.DataFrame(
            {
                "artist": union_categoricals([fitted["artist"].array, new["artist"].array]),
                "item": union_categoricals([fitted["item"].array, new["item"].array]),
                "day": np.concatenate([fitted["day"].to_numpy(), new["day"].to_numpy()]),
                "log_price": np.concatenate(
                    [fitted["log_price"].to_numpy(), new["log_price"].to_numpy()]
                ),
            }
        )


def _check_fitted(builder: FeatureBuilder) -> None:
    if not hasattr(builder, "feature_names_out_"):
        raise NotFitted("This FeatureBuilder is not fitted yet; call fit(sales) before transform.")


def _row_keys(table: pd.DataFrame) -> npt.NDArray[np.uint64]:
    """A hash per history row: the same sale in two tables gets the same key."""
    rounded = table.assign(log_price=table["log_price"].round(9))
    hashed = pd.util.hash_pandas_object(rounded, index=False, categorize=False)
    return np.asarray(hashed.to_numpy(), dtype=np.uint64)


def require_columns(frame: pd.DataFrame, columns: Sequence[str] = REQUIRED_COLUMNS) -> None:
    """Raise `MissingColumns` naming the columns of `columns` that `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumns(
            f"The sales table lacks {', '.join(missing)}; "
            f"it has {', '.join(map(str, frame.columns)) or 'no columns'}.",
            columns=missing,
        )


def _numeric(frame: pd.DataFrame, name: str) -> FloatArray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[name], errors="coerce")
    return np.asarray(values.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))


def _sold_mask(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    if "sold" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return np.asarray(frame["sold"].astype("boolean").fillna(False).to_numpy(dtype=bool))


def _clean_categorical(frame: pd.DataFrame, name: str, *, lower: bool = False) -> pd.Categorical:
    """A text column as a categorical of stripped values; missing or empty as missing.

    Cleans each distinct value once (fast on a million rows of a few thousand values).
    """
    if name not in frame.columns:
        return pd.Categorical.from_codes(
            np.full(len(frame), -1), categories=pd.Index([], dtype=object)
        )
    codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
    cleaned = pd.Index(np.asarray(uniques, dtype=object).astype(str), dtype=object).str.strip()
    if lower:
        cleaned = cleaned.str.lower()
    cleaned = cleaned.where(cleaned != "", None)
    recode, levels = pd.factorize(cleaned, use_na_sentinel=True)
    recode = np.append(recode, -1)  # code -1 (missing) stays missing
    return pd.Categorical.from_codes(recode[codes], categories=levels)


def _group_keys(frame: pd.DataFrame, name: str) -> pd.Categorical:
    """An identity column (artist, item_id) as a categorical; the schema has stripped it."""
    if name not in frame.columns:
        return pd.Categorical.from_codes(
            np.full(len(frame), -1), categories=pd.Index([], dtype=object)
        )
    values = frame[name]
    codes, uniques = pd.factorize(values.mask(values == ""), use_na_sentinel=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def _category_values(frame: pd.DataFrame, name: str) -> pd.Categorical:
    return _clean_categorical(frame, name, lower=name == "medium")


def _days(frame: pd.DataFrame) -> IntArray:
    dates = pd.to_datetime(frame["sale_date"]).to_numpy(dtype="datetime64[D]")
    return np.asarray(dates.astype(np.int64), dtype=np.int64)
