"""The canonical sales table: column names, dtypes, validation, item identity, CryptoPunks loader.

Every other part of `market/` reads sales through `validate_sales`; see docs/MARKET_SPEC.md.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd

from market.errors import MarketError, MissingColumns

# Canonical column -> pandas dtype, in the order a validated table has them.
SALE_COLUMNS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "artist": "string",
        "title": "string",
        "sale_date": "datetime64[ns]",
        "price": "float64",
        "currency": "string",
        "premium_included": "boolean",
        "low_estimate": "float64",
        "high_estimate": "float64",
        "sold": "boolean",
        "medium": "string",
        "width": "float64",
        "height": "float64",
        "depth": "float64",
        "year_made": "Int64",
        "signed": "boolean",
        "auction_house": "string",
        "location": "string",
        "lot": "string",
        "birth_year": "Int64",
        "death_year": "Int64",
        "nationality": "string",
        "item_id": "string",
    }
)
REQUIRED: Final = ("artist", "sale_date")
ARTIST_COLUMNS: Final = ("birth_year", "death_year", "nationality")
FEATURE_PREFIX: Final = "feature_"

TEXT_COLUMNS: Final = tuple(
    name for name, dtype in SALE_COLUMNS.items() if dtype == "string" and name != "item_id"
)
FLOAT_COLUMNS: Final = tuple(name for name, dtype in SALE_COLUMNS.items() if dtype == "float64")
INT_COLUMNS: Final = tuple(name for name, dtype in SALE_COLUMNS.items() if dtype == "Int64")
BOOL_COLUMNS: Final = tuple(name for name, dtype in SALE_COLUMNS.items() if dtype == "boolean")

_TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})
_SHOWN_ROWS: Final = 5

CRYPTOPUNKS_ARTIST: Final = "Larva Labs"
# Larva Labs generated and released every punk in June 2017.
_CRYPTOPUNKS_YEAR: Final = 2017


def empty_sales() -> pd.DataFrame:
    """A sales table with every canonical column, its dtype, and no rows."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in SALE_COLUMNS.items()})


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The table's extra per-lot feature columns (`feature_*`), in their order."""
    return [str(name) for name in frame.columns if str(name).startswith(FEATURE_PREFIX)]


def validate_sales(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a sales table and return a copy with canonical dtypes and column order.

    Absent optional columns are added empty, text columns hold "" rather than missing values,
    `sold` defaults to "has a price", `item_id` is derived where absent (`item_identity`), and the
    `feature_*` columns follow the canonical ones; any other column is dropped. Raises
    `MissingColumns` when `artist` or `sale_date` is absent and `MarketError` listing every
    problem (unreadable values, sold lots without a positive price, low estimate above high, ...).
    """
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise MissingColumns(
            f"the sales table lacks required column(s) {', '.join(missing)}; "
            f"it has: {', '.join(map(str, frame.columns)) or 'no columns'}",
            columns=missing,
        )
    problems: list[str] = []
    out = pd.DataFrame(index=frame.index)
    for name, dtype in SALE_COLUMNS.items():
        column = frame[name] if name in frame.columns else None
        if dtype == "string":
            out[name] = _as_text(column, frame.index, keep_missing=name == "item_id")
        elif dtype == "float64":
            out[name] = _as_float(column, frame.index, name, problems)
        elif dtype == "Int64":
            out[name] = _as_int(column, frame.index, name, problems)
        elif dtype == "boolean":
            out[name] = _as_bool(column, frame.index, name, problems)
        else:
            out[name] = _as_day(column, frame.index, name, problems)

    _check_values(out, problems)
    if problems:
        raise MarketError("invalid sales table: " + "; ".join(problems))

    out["sold"] = out["sold"].fillna(out["price"].notna()).astype("boolean")
    missing_id = out["item_id"].isna() | (out["item_id"] == "")
    if missing_id.any():
        out.loc[missing_id, "item_id"] = item_identity(out.loc[missing_id])
    features = {name: frame[name] for name in feature_columns(frame)}
    if features:
        out = pd.concat([out, pd.DataFrame(features, index=frame.index)], axis=1)
    return out


def item_identity(frame: pd.DataFrame) -> pd.Series:
    """The `item_id` of each lot: the given one, else one derived from what describes the object.

    A derived id joins the normalised artist and title (case, accents, punctuation and spacing
    ignored), the year made and the size rounded to whole centimetres, so two sales of the same
    painting in different exports meet. A lot with neither a title nor a size gets no id (<NA>):
    "untitled, unknown size" would join unrelated works into false repeat sales.
    """
    given = (
        frame["item_id"].astype("string").str.strip()
        if "item_id" in frame.columns
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    artist = _normalised(_text_or_empty(frame, "artist"))
    title = _normalised(_text_or_empty(frame, "title"))
    year = _numbers_or_nan(frame, "year_made").map(lambda v: "" if np.isnan(v) else str(int(v)))
    width = _numbers_or_nan(frame, "width")
    height = _numbers_or_nan(frame, "height")
    size = [
        "" if np.isnan(w) and np.isnan(h) else f"{_whole_cm(h)}x{_whole_cm(w)}"
        for w, h in zip(width, height, strict=True)
    ]
    derived = pd.Series(
        [
            "|".join((a, t, y, s)) if (t or s) else pd.NA
            for a, t, y, s in zip(artist, title, year, size, strict=True)
        ],
        index=frame.index,
        dtype="string",
    )
    use_given = given.notna() & (given != "")
    return given.where(use_given, derived).astype("string")


def log_price(frame: pd.DataFrame) -> pd.Series:
    """Natural log of the price of sold lots with a positive price; NaN for the others."""
    price = pd.to_numeric(frame["price"], errors="coerce").astype("float64")
    sold = frame["sold"].fillna(False).astype(bool) if "sold" in frame.columns else price.notna()
    usable = sold & (price > 0)
    return pd.Series(np.log(price.where(usable)), index=frame.index, dtype="float64")


def estimate_midpoint(frame: pd.DataFrame) -> pd.Series:
    """The presale estimate's midpoint: (low + high) / 2, the one bound given alone, else NaN."""
    low = _numbers_or_nan(frame, "low_estimate")
    high = _numbers_or_nan(frame, "high_estimate")
    midpoint = (low + high) / 2
    return midpoint.fillna(low).fillna(high).astype("float64")


def load_cryptopunks(
    tx_csv: Path, punk_csv: Path | None = None, *, min_price: float = 0.001
) -> pd.DataFrame:
    """CryptoPunks market sales (tx_db.csv) as a canonical sales table, prices in ETH.

    Rows with a zero price are transfers, not sales: they are dropped and their count is kept in
    `frame.attrs["transfers_dropped"]`. So are the few "sales" below `min_price` ETH (down to
    1e-18 ETH: transfers in disguise, which would drag any index's base period to nothing); their
    count is in `frame.attrs["dust_dropped"]`. Traits come from `punk_csv` (punk_db.csv) when given,
    else from the trait columns of `tx_csv`; each attribute becomes a 0/1 `feature_attr_<slug>`.
    """
    tx = _read_csv(tx_csv, ("date", "eth_price", "punk_id"))
    if punk_csv is not None:
        punks = _read_csv(punk_csv, ("punk_id", "type", "gender", "skin_tone", "attributes"))
        traits = punks.set_index("punk_id")
        unknown = sorted(set(tx["punk_id"]) - set(traits.index))
        if unknown:
            raise MarketError(
                f"{len(unknown)} punk id(s) in {tx_csv} are not in {punk_csv} "
                f"(first: {unknown[:_SHOWN_ROWS]})"
            )
        tx = tx.drop(columns=[c for c in traits.columns if c in tx.columns]).join(
            traits, on="punk_id"
        )
    else:
        _require(tx, ("type", "gender", "skin_tone", "attributes"), tx_csv)

    price = pd.to_numeric(tx["eth_price"], errors="raise").astype("float64")
    if (price < 0).any():
        raise MarketError(f"{tx_csv} has {int((price < 0).sum())} negative eth_price values")
    transfer = price == 0
    dust = (price > 0) & (price < min_price)
    tx = tx.loc[~transfer & ~dust].reset_index(drop=True)
    price = price.loc[~transfer & ~dust].reset_index(drop=True)

    # 10,000 punks, so far fewer distinct attribute strings than sales: parse each once.
    parsed = {text: _parse_attribute_list(text) for text in tx["attributes"].unique()}
    attributes = tx["attributes"].map(parsed)
    punk_id = tx["punk_id"].astype("int64")
    frame = pd.DataFrame(
        {
            "artist": CRYPTOPUNKS_ARTIST,
            "title": "CryptoPunk #" + punk_id.astype(str),
            "sale_date": pd.to_datetime(tx["date"], format="ISO8601"),
            "price": price,
            "currency": "ETH",
            "premium_included": True,
            "sold": True,
            "medium": "digital",
            "year_made": _CRYPTOPUNKS_YEAR,
            "auction_house": "CryptoPunks market",
            "item_id": punk_id.astype(str),
            "feature_type": tx["type"].astype("string"),
            "feature_gender": tx["gender"].astype("string"),
            "feature_skin_tone": tx["skin_tone"].astype("string"),
            "feature_attr_count": attributes.map(len).astype("int64"),
        }
    )
    names = sorted({name for names in attributes for name in names})
    slugs = {name: _slug(name) for name in names}
    if len(set(slugs.values())) != len(slugs):
        raise MarketError(f"two CryptoPunk attributes share a column name: {sorted(slugs)}")
    position = {name: i for i, name in enumerate(names)}
    owned = np.zeros((len(frame), len(names)), dtype="int8")
    for row, row_names in enumerate(attributes):
        owned[row, [position[name] for name in row_names]] = 1
    flags = pd.DataFrame(
        owned, index=frame.index, columns=[f"{FEATURE_PREFIX}attr_{slugs[n]}" for n in names]
    )
    sales = validate_sales(pd.concat([frame, flags], axis=1))
    sales.attrs["transfers_dropped"] = int(transfer.sum())
    sales.attrs["dust_dropped"] = int(dust.sum())
    return sales


# --- coercion --------------------------------------------------------------------------------


def _as_text(column: pd.Series | None, index: pd.Index, *, keep_missing: bool) -> pd.Series:
    if column is None:
        return pd.Series(pd.NA if keep_missing else "", index=index, dtype="string")
    text = column.astype("string").str.strip()
    return text if keep_missing else text.fillna("")


def _blank(column: pd.Series) -> pd.Series:
    """Missing values and empty strings."""
    return column.isna() | column.astype("string").str.strip().eq("").fillna(True)


def _as_float(
    column: pd.Series | None, index: pd.Index, name: str, problems: list[str]
) -> pd.Series:
    if column is None:
        return pd.Series(np.nan, index=index, dtype="float64")
    if pd.api.types.is_bool_dtype(column.dtype):
        problems.append(f"{name} holds booleans, not numbers")
        return pd.Series(np.nan, index=index, dtype="float64")
    blank = _blank(column)
    values = pd.to_numeric(column.astype(object).where(~blank), errors="coerce")
    values = pd.Series(values, index=index).astype("Float64").astype("float64")
    unreadable = ~blank & values.isna()
    if unreadable.any():
        problems.append(f"{name} is not a number in {_rows(unreadable, column)}")
    infinite = np.isinf(values)
    if infinite.any():
        problems.append(f"{name} is infinite in {_rows(infinite)}")
    return values.where(~infinite)


def _as_int(column: pd.Series | None, index: pd.Index, name: str, problems: list[str]) -> pd.Series:
    values = _as_float(column, index, name, problems)
    fractional = values.notna() & (values % 1 != 0)
    if fractional.any():
        problems.append(f"{name} is not a whole number in {_rows(fractional, column)}")
        values = values.where(~fractional)
    return values.astype("Int64")


def _as_bool(
    column: pd.Series | None, index: pd.Index, name: str, problems: list[str]
) -> pd.Series:
    if column is None:
        return pd.Series(pd.NA, index=index, dtype="boolean")
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("boolean")
    blank = _blank(column)
    words = column.astype("string").str.strip().str.lower()
    truth = pd.Series(pd.NA, index=index, dtype="boolean")
    truth[words.isin(_TRUE_WORDS).fillna(False)] = True
    truth[words.isin(_FALSE_WORDS).fillna(False)] = False
    unreadable = ~blank & truth.isna()
    if unreadable.any():
        problems.append(f"{name} is not true/false in {_rows(unreadable, column)}")
    return truth


def _as_day(column: pd.Series | None, index: pd.Index, name: str, problems: list[str]) -> pd.Series:
    if column is None:
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(column.dtype):
        days = column
    else:
        blank = _blank(column)
        days = pd.to_datetime(column.where(~blank), errors="coerce", format="ISO8601")
        unreadable = ~blank & days.isna()
        if unreadable.any():
            problems.append(
                f"{name} is not an ISO date (YYYY-MM-DD) in {_rows(unreadable, column)}; "
                "import free-form dates with market.importer.import_sales"
            )
    return pd.Series(days, index=index).astype("datetime64[ns]").dt.normalize()


def _check_values(out: pd.DataFrame, problems: list[str]) -> None:
    checks: list[tuple[pd.Series, str]] = [
        (out["artist"] == "", "artist is empty"),
        (out["sale_date"].isna(), "sale_date is missing"),
        (
            out["sold"].fillna(True) & out["price"].notna() & ~(out["price"] > 0),
            "a sold lot's price is not above 0",
        ),
        (out["sold"].eq(True).fillna(False) & out["price"].isna(), "a sold lot has no price"),
        (
            out["sold"].eq(False).fillna(False) & out["price"].notna(),
            "an unsold lot has a price (leave price empty for unsold lots)",
        ),
        (
            out["low_estimate"] > out["high_estimate"],
            "low_estimate is above high_estimate",
        ),
        (
            (out["birth_year"] > out["death_year"]).fillna(False),
            "birth_year is after death_year",
        ),
    ]
    for name in ("low_estimate", "high_estimate", "width", "height", "depth"):
        checks.append((out[name] <= 0, f"{name} is not above 0"))
    for failing, reason in checks:
        failing = failing.fillna(False).astype(bool)
        if failing.any():
            problems.append(f"{reason} in {_rows(failing)}")
    currencies = sorted(set(out["currency"]) - {""})
    if len(currencies) > 1:
        problems.append(
            f"prices are in several currencies ({', '.join(currencies)}); a sales table holds one: "
            "convert them with import_sales(..., rates=...)"
        )


def _rows(failing: pd.Series, values: pd.Series | None = None) -> str:
    """'2 row(s): 4 ('x'), 9 ('y')': the first few failing row labels, with their values."""
    mask = failing.to_numpy(dtype=bool)
    labels = list(failing.index[mask][:_SHOWN_ROWS])
    if values is not None:
        shown_values = values.to_numpy(dtype=object)[mask][:_SHOWN_ROWS]
        shown = ", ".join(
            f"{label} ({value!r})" for label, value in zip(labels, shown_values, strict=True)
        )
    else:
        shown = ", ".join(map(str, labels))
    more = int(mask.sum()) - len(labels)
    return f"{int(mask.sum())} row(s): {shown}" + (f" and {more} more" if more else "")


def _text_or_empty(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[name].astype("string").fillna("")


def _numbers_or_nan(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    values = pd.to_numeric(frame[name].astype(object), errors="coerce")
    return pd.Series(values, index=frame.index).astype("Float64").astype("float64")


def _normalised(names: pd.Series) -> pd.Series:
    """`_normalise_name` of each value, computed once per distinct value."""
    return names.map({name: _normalise_name(name) for name in names.unique()})


def _normalise_name(text: str) -> str:
    """Case, accents, punctuation and spacing removed: 'Monet, Claude ' ~ 'monet claude'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w]+", " ", plain.casefold()).split())


def _whole_cm(value: float) -> str:
    # Half up, not numpy's half to even: 84.5 and 85.5 must round the same way.
    return "" if np.isnan(value) else str(int(np.floor(value + 0.5)))


# --- CryptoPunks -----------------------------------------------------------------------------


def _read_csv(path: Path, needed: Sequence[str]) -> pd.DataFrame:
    if not Path(path).is_file():
        raise MarketError(f"no CryptoPunks file at {path}")
    frame = pd.read_csv(path)
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed:")])
    _require(frame, needed, path)
    return frame


def _require(frame: pd.DataFrame, needed: Sequence[str], path: Path) -> None:
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise MissingColumns(
            f"{path} lacks column(s) {', '.join(missing)}; it has: {', '.join(frame.columns)}",
            columns=missing,
        )


def _parse_attribute_list(text: Any) -> frozenset[str]:
    """ "['Earring', 'Mohawk']" -> {'Earring', 'Mohawk'}; the data writes "no attribute" as ['']."""
    try:
        names = ast.literal_eval(str(text))
    except (ValueError, SyntaxError) as error:
        raise MarketError(f"attributes is not a list of names: {text!r}") from error
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise MarketError(f"attributes is not a list of names: {text!r}")
    return frozenset(name.strip() for name in names if name.strip())


def _slug(name: str) -> str:
    """'3D Glasses' -> '3d_glasses', 'Do-rag' -> 'do_rag'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
