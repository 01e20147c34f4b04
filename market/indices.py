"""Price indices from a sales table: a hedonic time-dummy index, a repeat-sales index, forecasts.

Both indices are 100 in the first period and carry 95% bands (the exponential of the log-index
coefficient's confidence interval, so bands stay positive and are asymmetric). A period with too
few observations is pooled with the periods after it (the last ones with the period before): the
pooled rows share one estimate, their `pool` number says which, and `n` still counts each row's own
sales. Pooling keeps the table one row per calendar period, which charts and forecasts need, while
an index for an artist who sells a few times a year stays computable; `notes` lists what was pooled.
Refusals (too few sales, pairs or periods) raise `NotEnoughData` with the counts.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import statsmodels.api as sm  # type: ignore[import-untyped, unused-ignore]
from statsmodels.tools.sm_exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ConvergenceWarning,
)
from statsmodels.tsa.statespace.structural import (  # type: ignore[import-untyped, unused-ignore]
    UnobservedComponents,
)

from market.errors import MissingColumns, NotEnoughData

__all__ = [
    "DEFAULT_MIN_PAIRS",
    "DEFAULT_MIN_SALES_PER_PERIOD",
    "MIN_FORECAST_PERIODS",
    "IndexResult",
    "for_artist",
    "for_segment",
    "forecast_index",
    "hedonic_index",
    "repeat_sales_index",
]

DEFAULT_MIN_SALES_PER_PERIOD = 5
DEFAULT_MIN_PAIRS = 20
DEFAULT_MIN_PAIRS_PER_PERIOD = 3
DEFAULT_MIN_SEGMENT_SALES = 10
MIN_FORECAST_PERIODS = 8
Z_95 = 1.959963984540054
# A category seen fewer times than this joins "(other)": a dummy for a handful of lots is noise.
RARE_LEVEL = 5
MAX_LEVELS = 50

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class IndexResult:
    """An index table indexed by period (index, lower, upper, n, pool) and how it was made."""

    table: pd.DataFrame
    method: str
    freq: str
    n_observations: int
    notes: tuple[str, ...] = ()
    pairs: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        """The table as plain columns (period as text, method, freq) for CSV or a database."""
        frame = self.table.reset_index()
        frame["period"] = frame["period"].astype(str)
        frame["method"] = self.method
        frame["freq"] = self.freq
        return frame


def hedonic_index(
    sales: pd.DataFrame,
    *,
    freq: str = "Q",
    min_sales_per_period: int = DEFAULT_MIN_SALES_PER_PERIOD,
    features: Sequence[str] | None = None,
) -> IndexResult:
    """Time-dummy hedonic index: OLS of log price on period dummies and controls, HC1 bands.

    Controls: artist fixed effects (when several artists), log area (width x height, with a
    missing flag), medium, and the `feature_*` columns named in `features` (all of them when
    None; none for `()`). Text features become dummies. Controls collinear with earlier columns
    are dropped and listed in `notes`.
    """
    _check_freq(freq)
    if min_sales_per_period < 1:
        raise ValueError(f"min_sales_per_period must be at least 1, not {min_sales_per_period}")
    subject = _subject(sales)
    sold = _sold_lots(sales, required=("sale_date", "price"))
    needed = 2 * min_sales_per_period
    if len(sold) < needed:
        raise NotEnoughData(
            f"{subject} has {_count(len(sold), 'sale')}; a hedonic index needs at least {needed} "
            f"(two periods of at least {min_sales_per_period} sales each)"
        )
    periods = sold["sale_date"].dt.to_period(freq)
    full = pd.period_range(periods.min(), periods.max(), freq=freq, name="period")
    counts = periods.value_counts().reindex(full, fill_value=0)
    pool_of = _pool(counts.to_numpy(dtype=np.int64), min_sales_per_period)
    n_pools = int(pool_of.max()) + 1
    if n_pools < 2:
        raise NotEnoughData(
            f"{subject} has {_count(len(sold), 'sale')} over {len(full)} periods of freq "
            f"{freq!r}; a hedonic index needs two periods of at least {min_sales_per_period} "
            "sales each: pass a coarser freq (such as 'Y') or a smaller min_sales_per_period"
        )
    notes = _pool_notes(full, pool_of, counts.to_numpy(), "sales", min_sales_per_period)

    sale_pool = pool_of[full.get_indexer(periods)]
    time_dummies = np.zeros((len(sold), n_pools - 1))
    rows = np.flatnonzero(sale_pool > 0)
    time_dummies[rows, sale_pool[rows] - 1] = 1.0
    controls = _controls(sold, features)
    design = np.column_stack([np.ones(len(sold)), time_dummies, controls.to_numpy(dtype=float)])
    names = ["const", *(f"pool_{k}" for k in range(1, n_pools)), *controls.columns]
    kept = _independent_columns(design)
    dropped = [names[j] for j in sorted(set(range(len(names))) - set(kept))]
    if dropped and kept[:n_pools] != list(range(n_pools)):
        raise NotEnoughData(f"the period effects of {subject} cannot be separated: {dropped}")
    if dropped:
        notes.append(f"controls collinear with earlier columns were dropped: {dropped}")
    if len(sold) - len(kept) < 2:
        raise NotEnoughData(
            f"{subject} has {len(sold)} sales for {len(kept)} parameters; pass fewer features "
            "(features=() uses none) or more sales"
        )
    fit = sm.OLS(np.log(sold["price"].to_numpy(dtype=float)), design[:, kept]).fit(cov_type="HC1")
    params = np.asarray(fit.params, dtype=float)
    errors = np.asarray(fit.bse, dtype=float)
    log_index = np.concatenate([[0.0], params[1:n_pools]])
    log_se = np.concatenate([[0.0], errors[1:n_pools]])
    table = _index_table(full, pool_of, log_index, log_se, counts.to_numpy())
    return IndexResult(table, "hedonic", freq, len(sold), tuple(notes))


def repeat_sales_index(
    sales: pd.DataFrame,
    *,
    freq: str = "Q",
    min_pairs: int = DEFAULT_MIN_PAIRS,
    min_pairs_per_period: int = DEFAULT_MIN_PAIRS_PER_PERIOD,
) -> IndexResult:
    """Case-Shiller three-stage weighted repeat-sales index over consecutive sales of an item.

    Pairs are consecutive sales of one `item_id`; pairs inside one period carry no information
    and are dropped. Stage 1: OLS of the log price relative on period dummies (-1 at the first
    sale, +1 at the second). Stage 2: the squared stage-1 residuals regressed on the years held
    model the variance (noise grows with holding time), floored at a tenth of their mean.
    Stage 3: WLS with weights 1 / predicted variance and HC1 standard errors. `n` counts the
    period's sales that belong to a pair; `pairs` holds every pair with its weight.
    """
    _check_freq(freq)
    if min_pairs < 2 or min_pairs_per_period < 1:
        raise ValueError(
            f"min_pairs must be at least 2 (got {min_pairs}) and min_pairs_per_period at "
            f"least 1 (got {min_pairs_per_period})"
        )
    subject = _subject(sales)
    sold = _sold_lots(sales, required=("sale_date", "price", "item_id"))
    sold = sold.loc[sold["item_id"].notna()]
    pairs = _consecutive_pairs(sold, freq)
    same_period = int((pairs["first_period"] == pairs["second_period"]).sum())
    pairs = pairs.loc[pairs["first_period"] != pairs["second_period"]]
    if len(pairs) < min_pairs:
        within = ""
        if same_period:
            within = f" ({same_period} more fall within one period and are dropped)"
        raise NotEnoughData(
            f"{subject} has {_count(len(sold), 'sale')} and "
            f"{_count(len(pairs), 'repeat-sale pair')}{within}; a repeat-sales index needs at "
            f"least {min_pairs} pairs"
        )

    ends = pd.concat([pairs["first_period"], pairs["second_period"]])
    full = pd.period_range(ends.min(), ends.max(), freq=freq, name="period")
    counts = ends.value_counts().reindex(full, fill_value=0)
    pool_of = _pool(counts.to_numpy(dtype=np.int64), min_pairs_per_period)
    notes = _pool_notes(full, pool_of, counts.to_numpy(), "pair sales", min_pairs_per_period)
    first = pool_of[full.get_indexer(pairs["first_period"])]
    second = pool_of[full.get_indexer(pairs["second_period"])]
    inside_pool = first == second
    if inside_pool.any():
        notes.append(
            f"{int(inside_pool.sum())} pairs fell inside one pooled period and were dropped"
        )
        pairs, first, second = pairs.loc[~inside_pool], first[~inside_pool], second[~inside_pool]
    n_pools = int(pool_of.max()) + 1
    if n_pools < 2 or len(pairs) < max(min_pairs, n_pools + 1):
        raise NotEnoughData(
            f"{subject} has {len(pairs)} repeat-sale pairs across {n_pools} usable periods; a "
            f"repeat-sales index needs at least {max(min_pairs, n_pools + 1)} pairs over two "
            "periods or more: pass a coarser freq (such as 'Y')"
        )
    _check_linked(full, pool_of, first, second, subject)

    design = np.zeros((len(pairs), n_pools))
    design[np.arange(len(pairs)), first] = -1.0
    design[np.arange(len(pairs)), second] = 1.0
    design = design[:, 1:]  # the first period is the base, log index 0
    log_return = pairs["log_return"].to_numpy(dtype=float)
    years = pairs["years_held"].to_numpy(dtype=float)

    stage1 = sm.OLS(log_return, design).fit()
    squared = np.asarray(stage1.resid, dtype=float) ** 2
    stage2 = sm.OLS(squared, sm.add_constant(years, has_constant="add")).fit()
    intercept, slope = (float(v) for v in np.asarray(stage2.params, dtype=float))
    floor = 0.1 * float(squared.mean())
    variance = np.maximum(intercept + slope * years, floor)
    if (intercept + slope * years < floor).any():
        notes.append(f"stage-2 variances below {floor:.4g} were raised to it")
    weights = 1.0 / variance
    stage3 = sm.WLS(log_return, design, weights=weights).fit(cov_type="HC1")

    log_index = np.concatenate([[0.0], np.asarray(stage3.params, dtype=float)])
    log_se = np.concatenate([[0.0], np.asarray(stage3.bse, dtype=float)])
    used_ends = pd.concat([pairs["first_period"], pairs["second_period"]])
    table = _index_table(
        full, pool_of, log_index, log_se, used_ends.value_counts().reindex(full, fill_value=0)
    )
    relative = weights / weights.mean()
    pairs = pairs.assign(weight=relative).reset_index(drop=True)
    notes.append(
        f"stage 2: squared residual = {intercept:.4g} + {slope:.4g} x years held "
        f"(weights range {relative.min():.3g} to {relative.max():.3g} of their mean)"
    )
    return IndexResult(table, "repeat_sales", freq, len(pairs), tuple(notes), pairs)


def forecast_index(result: IndexResult, *, horizon: int = 4, coverage: float = 0.8) -> pd.DataFrame:
    """Forecast an index `horizon` periods ahead with `coverage` prediction intervals.

    The model is a local linear trend (a random-walk level whose slope is itself a random walk,
    plus noise) fitted by maximum likelihood to the log index: it follows recent growth rather
    than the whole history's average, and its intervals widen with the horizon. The index's own
    estimation error is not added to the intervals. Returns forecast, lower, upper by period.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 period, not {horizon}")
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie strictly between 0 and 1, not {coverage}")
    table = result.table
    estimates = int(table["pool"].nunique())
    if estimates < MIN_FORECAST_PERIODS:
        raise NotEnoughData(
            f"the {result.method} index has {estimates} separately estimated periods "
            f"({len(table)} rows at freq {result.freq!r}); a forecast needs at least "
            f"{MIN_FORECAST_PERIODS}"
        )
    log_index = np.log(table["index"].to_numpy(dtype=float))
    model = UnobservedComponents(log_index, level="local linear trend")
    with warnings.catch_warnings():
        # Variance estimates on a short series often touch zero; the fit is still usable.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = model.fit(disp=False)
    forecast = fitted.get_forecast(steps=horizon)
    mean = np.asarray(forecast.predicted_mean, dtype=float)
    bounds = np.asarray(forecast.conf_int(alpha=1.0 - coverage), dtype=float)
    future = pd.period_range(table.index[-1] + 1, periods=horizon, freq=table.index.freq)
    frame = pd.DataFrame(
        {
            "forecast": np.exp(mean),
            "lower": np.exp(bounds[:, 0]),
            "upper": np.exp(bounds[:, 1]),
        },
        index=pd.PeriodIndex(future, name="period"),
    )
    frame.attrs.update(model="local linear trend on log index", coverage=coverage)
    return frame


def for_artist(
    sales: pd.DataFrame, name: str, *, min_sales: int = DEFAULT_MIN_SEGMENT_SALES
) -> pd.DataFrame:
    """The lots of one artist (matched ignoring case and outer spaces); refuses too few sales."""
    if "artist" not in sales.columns:
        raise MissingColumns("the sales table has no 'artist' column", columns=["artist"])
    artists = sales["artist"].astype("string").str.strip().str.casefold()
    chosen = sales.loc[artists.eq(name.strip().casefold()).fillna(False).to_numpy(dtype=bool)]
    if chosen.empty:
        known = sorted(str(a) for a in sales["artist"].dropna().unique())
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise NotEnoughData(f"no sales for artist {name!r} among {len(known)} artists{hint}")
    return _require_sales(chosen, f"artist {str(chosen['artist'].iloc[0]).strip()!r}", min_sales)


def for_segment(
    sales: pd.DataFrame,
    where: Mapping[str, object],
    *,
    min_sales: int = DEFAULT_MIN_SEGMENT_SALES,
) -> pd.DataFrame:
    """The lots whose columns equal `where`'s values (text ignoring case); refuses too few sales."""
    missing = [column for column in where if column not in sales.columns]
    if missing:
        raise MissingColumns(f"the sales table lacks {missing} to select on", columns=missing)
    keep = pd.Series(True, index=sales.index)
    for column, value in where.items():
        values = sales[column]
        if isinstance(value, str):
            text = values.astype("string").str.strip().str.casefold()
            keep &= text.eq(value.strip().casefold()).fillna(False)
        else:
            keep &= values.eq(value).fillna(False)
    label = ", ".join(f"{column}={value!r}" for column, value in where.items())
    return _require_sales(sales.loc[keep.to_numpy(dtype=bool)], f"segment {label}", min_sales)


# --- helpers ---------------------------------------------------------------------------------


def _check_freq(freq: str) -> None:
    try:
        pd.Period("2000-01-01", freq=freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"freq {freq!r} is not a period frequency pandas knows; use 'M', 'Q' or 'Y'"
        ) from exc


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _subject(sales: pd.DataFrame) -> str:
    """How messages name the sales: the artist when there is one, else a count of artists."""
    if "artist" in sales.columns:
        names = sales["artist"].dropna().unique()
        if len(names) == 1:
            return f"artist {str(names[0])!r}"
        if len(names) > 1:
            return f"these sales ({len(names)} artists)"
    return "these sales"


def _sold_lots(sales: pd.DataFrame, *, required: Sequence[str]) -> pd.DataFrame:
    """Sold lots with a positive price and a date; `price` as float, `sale_date` as datetime."""
    missing = [column for column in required if column not in sales.columns]
    if missing:
        raise MissingColumns(
            f"an index needs the columns {list(required)}; the sales table lacks {missing}",
            columns=missing,
        )
    price = pd.to_numeric(sales["price"], errors="coerce").astype(float)
    dates = pd.to_datetime(sales["sale_date"])
    keep = (price.gt(0) & np.isfinite(price) & dates.notna()).to_numpy(dtype=bool)
    if "sold" in sales.columns:
        keep = keep & sales["sold"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    sold = sales.loc[keep].copy()
    sold["price"] = price.to_numpy()[keep]
    sold["sale_date"] = dates.to_numpy()[keep]
    return sold


def _require_sales(lots: pd.DataFrame, label: str, min_sales: int) -> pd.DataFrame:
    sold = _sold_lots(lots, required=("sale_date", "price"))
    if len(sold) < min_sales:
        raise NotEnoughData(
            f"{label} has {_count(len(sold), 'sale')} ({_count(len(lots), 'lot')}); an index "
            f"needs at least {min_sales}"
        )
    return lots


def _pool(counts: Ints, minimum: int) -> Ints:
    """Pool number per period: a pool closes at `minimum`; a short tail joins the last pool."""
    pools = np.zeros(len(counts), dtype=np.int64)
    pool, held = 0, 0
    for position, count in enumerate(counts):
        pools[position] = pool
        held += int(count)
        if held >= minimum:
            pool, held = pool + 1, 0
    if pools[-1] == pool and pool > 0:  # the last pool never filled up
        pools[pools == pool] = pool - 1
    return pools


def _pool_notes(
    full: pd.PeriodIndex, pool_of: Ints, counts: Ints, what: str, minimum: int
) -> list[str]:
    notes = []
    for pool in np.unique(pool_of):
        members = full[pool_of == pool]
        if len(members) > 1:
            held = int(counts[pool_of == pool].sum())
            notes.append(
                f"{members[0]}-{members[-1]} pooled into one estimate "
                f"({held} {what}; each period alone had fewer than {minimum} or none)"
            )
    return notes


def _index_table(
    full: pd.PeriodIndex, pool_of: Ints, log_index: Floats, log_se: Floats, counts: object
) -> pd.DataFrame:
    level = log_index[pool_of]
    spread = Z_95 * log_se[pool_of]
    return pd.DataFrame(
        {
            "index": 100.0 * np.exp(level),
            "lower": 100.0 * np.exp(level - spread),
            "upper": 100.0 * np.exp(level + spread),
            "n": np.asarray(counts, dtype=np.int64),
            "pool": pool_of,
        },
        index=full,
    )


def _consecutive_pairs(sold: pd.DataFrame, freq: str) -> pd.DataFrame:
    """One row per pair of consecutive sales of one item, with periods and the log return."""
    ordered = sold.assign(item_id=sold["item_id"].astype(str)).sort_values(
        ["item_id", "sale_date"], kind="stable"
    )
    previous = ordered.shift()
    same_item = ordered["item_id"].eq(previous["item_id"]).to_numpy(dtype=bool)
    later, earlier = ordered.loc[same_item], previous.loc[same_item]
    held = (later["sale_date"] - pd.to_datetime(earlier["sale_date"])).dt.days / 365.25
    return pd.DataFrame(
        {
            "item_id": later["item_id"].to_numpy(),
            "first_sale": pd.to_datetime(earlier["sale_date"]).to_numpy(),
            "second_sale": later["sale_date"].to_numpy(),
            "first_period": pd.to_datetime(earlier["sale_date"]).dt.to_period(freq).to_numpy(),
            "second_period": later["sale_date"].dt.to_period(freq).to_numpy(),
            "log_return": np.log(later["price"].to_numpy(dtype=float))
            - np.log(earlier["price"].to_numpy(dtype=float)),
            "years_held": held.to_numpy(dtype=float),
        }
    )


def _check_linked(
    full: pd.PeriodIndex, pool_of: Ints, first: Ints, second: Ints, subject: str
) -> None:
    """Refuse when some periods are joined to the base period by no chain of pairs."""
    parent = list(range(int(pool_of.max()) + 1))

    def root(pool: int) -> int:
        while parent[pool] != pool:
            parent[pool] = parent[parent[pool]]
            pool = parent[pool]
        return pool

    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        parent[root(a)] = root(b)
    base = root(0)
    unlinked = [str(full[i]) for i in range(len(full)) if root(int(pool_of[i])) != base]
    if unlinked:
        raise NotEnoughData(
            f"for {subject}, no chain of repeat-sale pairs links {len(unlinked)} periods "
            f"({unlinked[0]}-{unlinked[-1]}) to {full[0]}; pass a coarser freq (such as 'Y')"
        )


def _controls(sold: pd.DataFrame, features: Sequence[str] | None) -> pd.DataFrame:
    """The hedonic controls as float columns (no constant; dummies drop their commonest level)."""
    parts: list[pd.DataFrame] = []
    if "artist" in sold.columns and sold["artist"].nunique() > 1:
        parts.append(_dummies(sold["artist"], "artist"))
    if {"width", "height"} <= set(sold.columns):
        area = pd.to_numeric(sold["width"], errors="coerce") * pd.to_numeric(
            sold["height"], errors="coerce"
        )
        known = area.gt(0).fillna(False)
        if known.any():
            log_area = np.log(area.where(known))
            columns = {"log_area": log_area.fillna(log_area.mean())}
            if not known.all():
                columns["area_unknown"] = (~known).astype(float)
            parts.append(pd.DataFrame(columns, index=sold.index))
    if "medium" in sold.columns:
        parts.append(_dummies(sold["medium"], "medium"))
    if features is None:
        features = [column for column in sold.columns if str(column).startswith("feature_")]
    missing = [column for column in features if column not in sold.columns]
    if missing:
        raise MissingColumns(f"the sales table lacks the features {missing}", columns=missing)
    for column in features:
        values = sold[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numbers = values.astype(float)
            parts.append(numbers.fillna(numbers.median()).to_frame(column))
        else:
            parts.append(_dummies(values, column))
    if not parts:
        return pd.DataFrame(index=sold.index)
    controls = pd.concat(parts, axis=1).astype(float)
    return controls.loc[:, controls.nunique() > 1]


def _dummies(values: pd.Series, prefix: str) -> pd.DataFrame:
    """Dummies for a text column; rare levels pool into '(other)', the commonest is left out."""
    text = values.astype("string").str.strip().fillna("").replace("", "(unknown)")
    frequency = text.value_counts()
    common = frequency[frequency >= RARE_LEVEL].index[:MAX_LEVELS]
    text = text.where(text.isin(common), "(other)")
    reference = text.value_counts().index[0]
    dummies = pd.get_dummies(text, prefix=prefix, prefix_sep="=", dtype=float)
    return dummies.drop(columns=f"{prefix}={reference}")


def _independent_columns(design: Floats) -> list[int]:
    """Indices of columns kept in order, skipping any that earlier kept columns already span."""
    gram = design.T @ design
    kept: list[int] = []
    for column in range(design.shape[1]):
        norm = gram[column, column]
        if norm <= 0:
            continue
        if kept:
            cross = gram[kept, column]
            residual = norm - cross @ np.linalg.solve(gram[np.ix_(kept, kept)], cross)
        else:
            residual = norm
        if residual > 1e-9 * norm:
            kept.append(column)
    return kept
