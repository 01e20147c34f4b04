"""Synthetic auction sales with a known price process, for tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

MEDIA = ("oil on canvas", "acrylic on canvas", "works on paper", "sculpture", "photograph")
MEDIUM_EFFECTS = (0.3, 0.1, -0.5, 0.2, -0.4)
HOUSES = ("Christie's", "Sotheby's", "Phillips", "Bonhams")


def synthetic_sales(
    n: int,
    seed: int,
    *,
    n_artists: int | None = None,
    start: str = "2005-01-01",
    years: float = 15.0,
    trend_per_year: float = 0.04,
    noise: float = 0.35,
    estimate_noise: float = 0.5,
    estimate_bias: float = -0.1,
    estimate_share: float = 0.8,
    unsold_share: float = 0.1,
    repeat_share: float = 0.1,
) -> pd.DataFrame:
    """`n` lots in the canonical table's columns, from a log-linear price process.

    log price = 8 + artist effect (N(0, 1)) + trend_per_year * years since `start` + 0.5 log area
    (m²) + medium effect + 0.15 signed - 0.2 alive + a per-item effect (N(0, 0.3), kept across
    repeat sales) + N(0, `noise`). The estimate midpoint is the expected log price (without the
    sale noise) plus `estimate_bias` and N(0, `estimate_noise`), so a model that learns the
    artist effect can beat it; lots are unsold at random with `unsold_share` (price NaN).
    A share `repeat_share` of lots resell an earlier item (same `item_id` and facts).
    """
    rng = np.random.default_rng(seed)
    artists = n_artists if n_artists is not None else max(20, n // 100)
    artist_effect = rng.normal(0.0, 1.0, artists)
    birth = rng.integers(1850, 1990, artists)
    death = np.where(rng.random(artists) < 0.5, birth + rng.integers(40, 90, artists), -1)
    # Zipf-like popularity: a few artists sell often, many rarely.
    weights = 1.0 / np.arange(1, artists + 1) ** 0.8
    weights /= weights.sum()

    t_years = np.sort(rng.uniform(0.0, years, n))
    dates = pd.Timestamp(start) + pd.to_timedelta(np.floor(t_years * 365.25), unit="D")
    artist = rng.choice(artists, size=n, p=weights)
    medium = rng.integers(0, len(MEDIA), n)
    width = np.round(rng.lognormal(np.log(70), 0.5, n), 1)
    height = np.round(width * rng.lognormal(0.0, 0.3, n), 1)
    signed = rng.random(n) < 0.6
    year = dates.year.to_numpy()
    # A work is made before it is sold.
    year_made = np.minimum(birth[artist] + rng.integers(20, 60, n), year)
    item_effect = rng.normal(0.0, 0.3, n)
    item = np.arange(n)

    # Resales copy an earlier lot's identity and facts (the earlier lot precedes them in time).
    resale = np.flatnonzero(rng.random(n) < repeat_share)
    resale = resale[resale > 0]
    source = (rng.random(len(resale)) * resale).astype(np.int64)
    for target_index, source_index in zip(resale, source, strict=True):
        item[target_index] = item[source_index]
    for column in (artist, medium, width, height, signed, year_made, item_effect):
        column[resale] = column[item[resale]]

    alive = (death[artist] < 0) | (year <= death[artist])
    expected = (
        8.0
        + artist_effect[artist]
        + trend_per_year * t_years
        + 0.5 * np.log(width * height / 1e4)
        + np.asarray(MEDIUM_EFFECTS)[medium]
        + 0.15 * signed
        - 0.2 * alive
        + item_effect
    )
    log_price = expected + rng.normal(0.0, noise, n)
    mid = np.exp(expected + estimate_bias + rng.normal(0.0, estimate_noise, n))
    has_estimate = rng.random(n) < estimate_share
    low = np.where(has_estimate, np.round(mid * 0.8, -1), np.nan)
    high = np.where(has_estimate, np.round(mid * 1.2, -1), np.nan)
    low = np.where(low > 0, low, np.nan)
    high = np.where(np.isnan(low), np.nan, np.maximum(high, low))
    sold = rng.random(n) >= unsold_share

    artist_names = np.asarray([f"Artist {a:05d}" for a in range(artists)], dtype=object)
    item_names = np.char.add("item-", item.astype(str)).astype(object)
    return pd.DataFrame(
        {
            "artist": pd.array(artist_names[artist], dtype="string"),
            "title": pd.array(
                np.char.add("Work ", item.astype(str)).astype(object), dtype="string"
            ),
            "sale_date": pd.to_datetime(dates).astype("datetime64[ns]"),
            "price": np.where(sold, np.round(np.exp(log_price), 2), np.nan),
            "currency": pd.array(np.full(n, "USD", dtype=object), dtype="string"),
            "premium_included": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
            "low_estimate": low,
            "high_estimate": high,
            "sold": pd.array(sold, dtype="boolean"),
            "medium": pd.array(np.asarray(MEDIA)[medium], dtype="string"),
            "width": width,
            "height": height,
            "depth": np.full(n, np.nan),
            "year_made": pd.array(year_made, dtype="Int64"),
            "signed": pd.array(signed, dtype="boolean"),
            "auction_house": pd.array(
                np.asarray(HOUSES)[rng.integers(0, len(HOUSES), n)], dtype="string"
            ),
            "location": pd.array(np.full(n, "New York", dtype=object), dtype="string"),
            "lot": pd.array(np.arange(1, n + 1).astype(str).astype(object), dtype="string"),
            "birth_year": pd.array(birth[artist], dtype="Int64"),
            "death_year": pd.Series(death[artist], dtype="Int64").where(death[artist] >= 0),
            "nationality": pd.array(np.full(n, "", dtype=object), dtype="string"),
            "item_id": pd.array(item_names, dtype="string"),
        }
    )
