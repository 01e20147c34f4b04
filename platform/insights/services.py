"""Writes of the insights app: import auction exports, store sales, fit price models, forecast.

The analytics are the `market` library's; this module keeps records and files, and turns the
library's errors (MarketError and its kinds) into InvalidInput with the library's own message.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from sklearn.base import clone  # type: ignore[import-untyped, unused-ignore]

from accounts.models import Role, User
from core.errors import Forbidden, InvalidInput, NotFound
from core.progress import ProgressReporter
from core.services import job_submit
from insights.models import (
    DatasetPurpose,
    Forecast,
    PriceModel,
    PriceModelKind,
    PriceModelState,
    Sale,
    SalesDataset,
)
from insights.selectors import sales_frame
from market.backtest import backtest
from market.errors import ImportRejected, MarketError, MissingColumns
from market.importer import (
    MAPPABLE_FIELDS,
    ColumnMapping,
    ImportReport,
    import_sales,
    read_export,
)
from market.indices import (
    IndexResult,
    for_artist,
    for_segment,
    forecast_index,
    hedonic_index,
    repeat_sales_index,
)
from market.model_file import MODEL_JSON, load_model, save_model
from market.models import BoostedPriceModel, ConformalRegressor, HedonicRegression
from market.schema import SALE_COLUMNS, feature_columns

MAX_UPLOAD_BYTES = 50 * 2**20
PREVIEW_ROWS = 5
TOP_FACTORS = 3
SALE_BATCH = 2000
INDEX_METHODS = ("repeat_sales", "hedonic")
INDEX_FREQS = {"M": "Monthly", "Q": "Quarterly", "Y": "Yearly"}
FORECAST_HORIZON = 4
# Upcoming lots are forecast within the request: a sale catalogue is hundreds of lots.
MAX_UPCOMING_LOTS = 5000
# Columns an index can be restricted to (besides text and number feature_* columns).
SEGMENT_COLUMNS = ("medium", "auction_house", "location", "nationality", "currency")
_SALE_FIELDS = tuple(SALE_COLUMNS)
# Field names people write in exports for a canonical field, besides the field's own name.
_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "artist": ("artist name", "artist_name", "maker", "creator"),
    "sale_date": ("date", "sale date", "auction date", "date of sale", "sold on"),
    "price": ("hammer price", "price realised", "price realized", "sold price", "sale price"),
    "low_estimate": ("estimate low", "low estimate", "low est", "est low"),
    "high_estimate": ("estimate high", "high estimate", "high est", "est high"),
    "estimate": ("estimate", "presale estimate", "est"),
    "dimensions": ("dimensions", "size", "measurements"),
    "year_made": ("year", "year made", "date made", "executed"),
    "auction_house": ("auction house", "house", "auctioneer"),
    "lot": ("lot", "lot number", "lot no", "lot_no"),
    "medium": ("medium", "materials", "technique"),
}


class Upload(Protocol):
    """What a view hands over for an uploaded file (Django's UploadedFile fits)."""

    name: str | None
    size: int | None

    def chunks(self) -> Iterator[bytes]: ...


def insights_root() -> Path:
    """Where the app keeps uploads and fitted models (inside MEDIA_ROOT, served only by views)."""
    return Path(settings.MEDIA_ROOT) / "insights"


def _require_analyst(user: User) -> None:
    if not user.acts_as(Role.ANALYST):
        raise Forbidden("Only analysts use market insights.")


def _invalid(error: MarketError) -> InvalidInput:
    """The library's message, and the rejected rows or missing columns as details."""
    details: dict[str, Any] = {}
    if isinstance(error, ImportRejected):
        details["problems"] = [
            {"line": p.line, "column": p.column, "reason": p.reason} for p in error.problems
        ]
    if isinstance(error, MissingColumns):
        details["columns"] = list(error.columns)
    return InvalidInput(str(error), details=details)


# --- uploads and mappings --------------------------------------------------------------------


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded export kept for the mapping steps: its token, its name as given, its path."""

    token: str
    name: str
    path: Path


@dataclass(frozen=True)
class ExportPeek:
    """An export's column names and its first rows, for the mapping form."""

    headers: list[str]
    rows: list[list[str]]
    row_count: int


def upload_save(*, owner: User, upload: Upload) -> StoredUpload:
    """Keep an uploaded export (CSV or .xlsx) until it is imported; checks that it can be read."""
    _require_analyst(owner)
    uploads_sweep()
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"The file is {upload.size / 2**20:.1f} MiB; at most {MAX_UPLOAD_BYTES // 2**20} MiB."
        )
    name = Path(upload.name or "export.csv").name
    token = secrets.token_urlsafe(12)
    folder = _upload_folder(owner, token)
    folder.mkdir(parents=True)
    path = folder / _safe_name(name)
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    try:
        export_peek(path=path)
    except InvalidInput:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StoredUpload(token=token, name=name, path=path)


def upload_get(*, owner: User, token: str) -> StoredUpload:
    """An export the person uploaded earlier, by its token."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,40}", token):
        raise NotFound("No such upload.")
    folder = _upload_folder(owner, token)
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise NotFound("That upload is gone; upload the file again.")
    return StoredUpload(token=token, name=files[0].name, path=files[0])


def upload_discard(*, upload: StoredUpload) -> None:
    """Forget an uploaded export (after its import)."""
    shutil.rmtree(upload.path.parent, ignore_errors=True)


def uploads_sweep(*, older_than: float | None = None) -> int:
    """Delete uploads left in the mapping step for longer than INSIGHTS_UPLOAD_TTL_SECONDS.

    Runs on every new upload (and as `manage.py insights_sweep_uploads`); returns how many
    uploads it removed.
    """
    ttl = settings.INSIGHTS_UPLOAD_TTL_SECONDS if older_than is None else older_than
    cutoff = time.time() - ttl
    removed = 0
    for folder in insights_root().glob("uploads/*/*"):
        try:
            stale = folder.is_dir() and folder.stat().st_mtime < cutoff
        except OSError:  # removed by a concurrent sweep
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _upload_folder(owner: User, token: str) -> Path:
    return insights_root() / "uploads" / str(owner.pk) / token


def _safe_name(name: str) -> str:
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return kept[-100:] or "export.csv"


def export_peek(*, path: Path, rows: int = PREVIEW_ROWS) -> ExportPeek:
    """The export's headers and first rows as text."""
    try:
        raw = read_export(path)
    except MarketError as error:
        raise _invalid(error) from error
    head = raw.head(rows).astype(str).to_numpy().tolist()
    return ExportPeek(headers=[str(c) for c in raw.columns], rows=head, row_count=len(raw))


def mapping_guess(headers: list[str]) -> dict[str, str]:
    """Field -> header: a header equal to a field's name (or a usual synonym), ignoring case."""
    loose = {_loose(header): header for header in reversed(headers)}
    guess: dict[str, str] = {}
    for field in MAPPABLE_FIELDS:
        for candidate in (field, *_SYNONYMS.get(field, ())):
            header = loose.get(_loose(candidate))
            if header is not None and header not in guess.values():
                guess[field] = header
                break
    guess.update({h: h for h in headers if h.startswith("feature_") and len(h) > 8})
    if "estimate" in guess and ("low_estimate" in guess or "high_estimate" in guess):
        del guess["estimate"]
    if "dimensions" in guess and {"width", "height"} & set(guess):
        del guess["dimensions"]
    return guess


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def mapping_build(
    *,
    columns: Mapping[str, str],
    defaults: Mapping[str, Any] | None = None,
    date_format: str | None = None,
    dayfirst: bool = False,
    premium: float | None = None,
    decimal: str = ".",
) -> ColumnMapping:
    """A column mapping from form or API values; empty entries are left out."""
    try:
        return ColumnMapping(
            columns={field: column for field, column in columns.items() if column},
            defaults={k: v for k, v in (defaults or {}).items() if v not in (None, "")},
            date_format=date_format or None,
            premium=premium,
            dayfirst=dayfirst,
            decimal=decimal,
        )
    except MarketError as error:
        raise _invalid(error) from error


def mapping_from_dict(data: Mapping[str, Any]) -> ColumnMapping:
    """A column mapping from the TOML layout as a dict (columns, defaults, options)."""
    try:
        return ColumnMapping.from_dict(data)
    except (MarketError, TypeError, ValueError) as error:
        raise InvalidInput(f"The mapping is not usable: {error}") from error


def rates_parse(text: str) -> dict[str, float]:
    """'GBP=1.27, EUR 1.08' -> {"GBP": 1.27, "EUR": 1.08} (units of the base per unit)."""
    rates: dict[str, float] = {}
    for part in re.split(r"[,;\n]+", text):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z]{3})\s*[=: ]\s*([0-9]*\.?[0-9]+)\s*", part)
        if match is None:
            raise InvalidInput(
                f"Cannot read the rate {part.strip()!r}: write CODE=RATE, e.g. GBP=1.27."
            )
        rates[match.group(1).upper()] = float(match.group(2))
    return rates


def report_as_dict(report: ImportReport) -> dict[str, Any]:
    """An import report as JSON: counts, every problem with its line, warnings."""
    return {
        "rows_read": report.rows_read,
        "imported": report.imported,
        "rejected": report.rejected,
        "problems": [
            {"line": p.line, "column": p.column, "reason": p.reason} for p in report.problems
        ],
        "duplicates": len(report.duplicates),
        "warnings": list(report.warnings),
    }


# --- importing -------------------------------------------------------------------------------


def import_preview(
    *,
    owner: User,
    path: Path,
    mapping: ColumnMapping,
    base_currency: str = "USD",
    rates: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """What importing the export with this mapping would give: the report, nothing stored."""
    _require_analyst(owner)
    try:
        result = import_sales(
            read_export(path), mapping, rates=rates, base_currency=base_currency, strict=False
        )
    except MarketError as error:
        raise _invalid(error) from error
    return report_as_dict(result.report)


@transaction.atomic
def import_commit(
    *,
    owner: User,
    name: str,
    path: Path,
    mapping: ColumnMapping,
    base_currency: str = "USD",
    rates: Mapping[str, float] | None = None,
    source_name: str = "",
    purpose: str = DatasetPurpose.HISTORY,
) -> SalesDataset:
    """Import every row of the export as a new dataset, or nothing (InvalidInput lists why)."""
    _require_analyst(owner)
    try:
        result = import_sales(read_export(path), mapping, rates=rates, base_currency=base_currency)
    except MarketError as error:
        raise _invalid(error) from error
    report = report_as_dict(result.report)
    report["mapping"] = mapping.to_dict()
    return dataset_create(
        owner=owner,
        name=name,
        sales=result.sales,
        base_currency=base_currency.strip().upper(),
        source_name=source_name or path.name,
        report=report,
        purpose=purpose,
    )


@transaction.atomic
def dataset_create(
    *,
    owner: User,
    name: str,
    sales: pd.DataFrame,
    base_currency: str,
    source_name: str = "",
    report: dict[str, Any] | None = None,
    purpose: str = DatasetPurpose.HISTORY,
) -> SalesDataset:
    """Store a canonical sales table (market.schema) as a dataset of Sale rows."""
    _require_analyst(owner)
    if purpose not in DatasetPurpose.values:
        raise InvalidInput(f"Unknown dataset purpose {purpose!r}; choose history or upcoming.")
    name = name.strip()
    if not name:
        raise InvalidInput("Give the dataset a name.")
    if sales.empty:
        raise InvalidInput("The export has no sales to import.")
    features = feature_columns(sales)
    kinds = {
        column: "number" if pd.api.types.is_numeric_dtype(sales[column]) else "text"
        for column in features
    }
    dataset = SalesDataset.objects.create(
        owner=owner,
        name=name[:120],
        base_currency=base_currency,
        source_name=source_name[:255],
        report=report or {},
        feature_kinds=kinds,
        purpose=purpose,
    )
    lines = sales.index if sales.index.name == "line" else [None] * len(sales)
    batch: list[Sale] = []
    records = sales[list(_SALE_FIELDS)]
    feature_values = sales[features]
    for position, record in enumerate(records.itertuples(index=False, name=None)):
        values = dict(zip(_SALE_FIELDS, record, strict=True))
        extra = feature_values.iloc[position].to_dict() if features else {}
        batch.append(_sale(dataset, values, extra, kinds, lines[position]))
        if len(batch) >= SALE_BATCH:
            Sale.objects.bulk_create(batch)
            batch = []
    Sale.objects.bulk_create(batch)
    return dataset


def _sale(
    dataset: SalesDataset,
    values: dict[str, Any],
    features: dict[str, Any],
    kinds: Mapping[str, str],
    line: Any,
) -> Sale:
    text = {
        k: ("" if _missing(values[k]) else str(values[k]))
        for k in ("title", "medium", "auction_house", "location", "lot", "nationality", "item_id")
    }
    return Sale(
        dataset=dataset,
        line=None if line is None else int(line),
        artist=str(values["artist"]),
        sale_date=pd.Timestamp(values["sale_date"]).date(),
        price=_float(values["price"]),
        currency=str(values["currency"]) or dataset.base_currency,
        premium_included=_bool(values["premium_included"]),
        low_estimate=_float(values["low_estimate"]),
        high_estimate=_float(values["high_estimate"]),
        sold=bool(values["sold"]),
        width=_float(values["width"]),
        height=_float(values["height"]),
        depth=_float(values["depth"]),
        year_made=_int(values["year_made"]),
        signed=_bool(values["signed"]),
        birth_year=_int(values["birth_year"]),
        death_year=_int(values["death_year"]),
        features=_compact_features(features, kinds),
        **text,
    )


def _compact_features(values: dict[str, Any], kinds: Mapping[str, str]) -> dict[str, Any]:
    """feature_* values as JSON; numeric zeros are left out (most traits are 0/1 flags)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if kinds[name] == "number":
            number = _float(value)
            if number != 0:
                out[name] = number  # None (missing) is kept: it is not a zero
        else:
            out[name] = None if _missing(value) else str(value)
    return out


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _bool(value: Any) -> bool | None:
    return None if _missing(value) else bool(value)


# --- price models ----------------------------------------------------------------------------


def _estimator(kind: str) -> Any:
    if kind == PriceModelKind.BOOSTED:
        return BoostedPriceModel()
    if kind == PriceModelKind.HEDONIC:
        return HedonicRegression()
    raise InvalidInput(f"Unknown model kind {kind!r}; choose boosted or hedonic.")


def model_folder() -> Path:
    """Where fitted models are kept."""
    return insights_root() / "models"


@transaction.atomic
def model_fit_request(
    *, owner: User, dataset: SalesDataset, kind: str, until: date, coverage: float = 0.8
) -> PriceModel:
    """Queue a fit of a price model on the dataset's sales before `until`, with its backtest."""
    _require_analyst(owner)
    if kind not in PriceModelKind.values:
        raise InvalidInput(f"Unknown model kind {kind!r}; choose boosted or hedonic.")
    if not 0.5 <= coverage < 1:
        raise InvalidInput(f"coverage={coverage}: choose a fraction from 0.5 to 0.99.")
    before = dataset.sales.filter(sale_date__lt=until, sold=True).count()
    after = dataset.sales.filter(sale_date__gte=until, sold=True).count()
    if before < 20 or after < 1:
        raise InvalidInput(
            f"Fitting until {until} leaves {before} sold lots to learn from and {after} to test "
            "on; choose a date with at least 20 sales before it and some after it."
        )
    model = PriceModel.objects.create(
        owner=owner, dataset=dataset, kind=kind, fitted_until=until, coverage=coverage
    )
    model.job = job_submit(
        kind="price-model",
        owner=owner,
        task_name="insights.fit_model",
        params={"model_id": model.pk},
    )
    model.save(update_fields=["job"])
    return model


def model_fit(*, model_id: int, progress: ProgressReporter) -> dict[str, Any]:
    """The fitting task's work: backtest at the split, fit on the past, forecast the held out."""
    model = PriceModel.objects.select_related("dataset").get(pk=model_id)
    try:
        return _fit(model, progress)
    except BaseException as error:
        PriceModel.objects.filter(pk=model.pk).update(state=PriceModelState.FAILED)
        if isinstance(error, MarketError):
            raise _invalid(error) from error
        raise


def _fit(model: PriceModel, progress: ProgressReporter) -> dict[str, Any]:
    progress.update(0.02, "Loading the sales.", force=True)
    sales = sales_frame(dataset=model.dataset)
    split = pd.Timestamp(model.fitted_until)
    dates = pd.to_datetime(sales["sale_date"])
    past = sales[(dates < split).to_numpy()]
    progress.log(f"{len(past)} lots before {model.fitted_until}, {len(sales) - len(past)} after.")
    progress.update(0.1, f"Backtesting at {model.fitted_until}.", force=True)
    table = backtest(sales, split, {model.kind: _estimator(model.kind)}, coverage=model.coverage)
    progress.log("Backtest done.")
    progress.update(0.55, "Fitting the model on every sale before the split.", force=True)
    fitted = ConformalRegressor(
        clone(_estimator(model.kind)), coverage=model.coverage, method="adaptive"
    ).fit(past)
    progress.update(0.85, "Forecasting the held-out lots.", force=True)
    path = model_folder() / str(model.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(fitted, past, path, fitted_until=split)
    held_out = sales[(dates >= split).to_numpy() & sales["sold"].fillna(False).to_numpy(bool)]
    predictions = _predictions(fitted, held_out, online=True)
    with transaction.atomic():
        Forecast.objects.filter(model=model, sale__dataset=model.dataset).delete()
        _forecasts_store(model, predictions)
        model.backtest = backtest_as_dict(table)
        model.metrics = _metrics(model.backtest, model.kind)
        model.file = str(path.relative_to(Path(settings.MEDIA_ROOT)))
        model.file_sha256 = hashlib.sha256((path / MODEL_JSON).read_bytes()).hexdigest()
        model.state = PriceModelState.READY
        model.save(update_fields=["backtest", "metrics", "file", "file_sha256", "state"])
    return {"model_id": model.pk, "forecasts": len(predictions), **model.metrics}


def backtest_as_dict(table: pd.DataFrame) -> dict[str, Any]:
    """A market.backtest table as JSON: one row per (subset, model), and its attrs."""
    rows = []
    for (subset, name), values in table.iterrows():
        row: dict[str, Any] = {"subset": subset, "model": name}
        row.update({k: _json_number(v) for k, v in values.items()})
        rows.append(row)
    attrs = {k: _json_number(v) if isinstance(v, float) else v for k, v in table.attrs.items()}
    return {"rows": rows, "attrs": attrs}


def _json_number(value: Any) -> float | int | None:
    number = float(value)
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _metrics(backtest_dict: dict[str, Any], name: str) -> dict[str, Any]:
    for row in backtest_dict["rows"]:
        if row["subset"] == "all" and row["model"] == name:
            return {k: v for k, v in row.items() if k not in ("subset", "model")}
    return {}


def model_load(*, model: PriceModel) -> Any:
    """The fitted estimator, read back from its pickle-free folder (market.model_file)."""
    if model.state != PriceModelState.READY or not model.file:
        raise InvalidInput(f"Model {model.pk} is not fitted yet ({model.get_state_display()}).")
    path = Path(settings.MEDIA_ROOT) / model.file
    try:
        recorded = (path / MODEL_JSON).read_bytes()
    except OSError as error:
        raise NotFound(f"The file of model {model.pk} is missing; fit it again.") from error
    if hashlib.sha256(recorded).hexdigest() != model.file_sha256:
        raise InvalidInput(f"The file of model {model.pk} has changed since it was fitted.")
    try:
        return load_model(path).model
    except MarketError as error:
        raise _invalid(error) from error


def forecasts_for(*, model: PriceModel, sales: pd.DataFrame) -> pd.DataFrame:
    """Forecasts for lots (a canonical sales table): predicted price, lower, upper, explanation."""
    try:
        return _predictions(model_load(model=model), sales, online=False)
    except MarketError as error:
        raise _invalid(error) from error


@transaction.atomic
def upcoming_import(
    *,
    owner: User,
    model: PriceModel,
    name: str,
    path: Path,
    mapping: ColumnMapping,
    rates: Mapping[str, float] | None = None,
    source_name: str = "",
) -> SalesDataset:
    """Import an upcoming sale's lots and forecast each with `model`: all of it or nothing.

    Amounts are converted to the model's currency (its dataset's), so estimates and forecasts
    read side by side.
    """
    _require_ready(owner, model)
    dataset = import_commit(
        owner=owner,
        name=name,
        path=path,
        mapping=mapping,
        base_currency=model.dataset.base_currency,
        rates=rates,
        source_name=source_name,
        purpose=DatasetPurpose.UPCOMING,
    )
    upcoming_forecast(owner=owner, model=model, dataset=dataset)
    return dataset


@transaction.atomic
def upcoming_forecast(*, owner: User, model: PriceModel, dataset: SalesDataset) -> int:
    """Forecast every lot of an upcoming-lots dataset with `model` (replacing its earlier ones)."""
    _require_ready(owner, model)
    if dataset.owner_id != owner.pk:
        raise NotFound(f"You have no sales dataset with id {dataset.pk}.")
    if dataset.purpose != DatasetPurpose.UPCOMING:
        raise InvalidInput(
            f"{dataset.name!r} holds past sales; fit a model on it, or import the lots to "
            "forecast as upcoming lots."
        )
    currency = model.dataset.base_currency
    if dataset.base_currency != currency:
        raise InvalidInput(
            f"The lots are priced in {dataset.base_currency} and the model in {currency}; "
            f"import the lots again in {currency}."
        )
    lots = dataset.sales.count()
    if lots > MAX_UPCOMING_LOTS:
        raise InvalidInput(
            f"{lots} lots is more than {MAX_UPCOMING_LOTS} forecast at once; split the file."
        )
    sales = sales_frame(dataset=dataset)
    predictions = forecasts_for(model=model, sales=sales)
    Forecast.objects.filter(model=model, sale__dataset=dataset).delete()
    _forecasts_store(model, predictions)
    return len(predictions)


def _forecasts_store(model: PriceModel, predictions: pd.DataFrame) -> None:
    """Forecast rows from `_predictions` (indexed by Sale id)."""
    Forecast.objects.bulk_create(
        [
            Forecast(
                model=model,
                sale_id=int(sale_id),
                predicted_price=row.predicted_price,
                lower=row.lower,
                upper=row.upper,
                explanation=row.explanation,
            )
            for sale_id, row in predictions.iterrows()
        ],
        batch_size=SALE_BATCH,
    )


def _require_ready(owner: User, model: PriceModel) -> None:
    _require_analyst(owner)
    if model.owner_id != owner.pk:
        raise NotFound(f"You have no price model with id {model.pk}.")
    if model.state != PriceModelState.READY:
        raise InvalidInput(
            f"Model {model.pk} is {model.get_state_display().lower()}; forecast with a ready model."
        )


def _predictions(fitted: Any, sales: pd.DataFrame, *, online: bool) -> pd.DataFrame:
    """Price, interval and top factors per lot, indexed like `sales`.

    `online` runs held-out sold lots through the adaptive interval in date order (each interval
    uses outcomes of earlier days only), as the backtest does.
    """
    if sales.empty:
        return pd.DataFrame(columns=["predicted_price", "lower", "upper", "explanation"])
    if online:
        predicted, lower, upper = fitted.predict_interval_online(sales)
    else:
        predicted, lower, upper = fitted.predict_interval(sales)
    explained = fitted.estimator_.explain(sales)
    factors = explained.drop(columns=["base", "base_value", "anchor"], errors="ignore")
    values = factors.to_numpy(dtype=np.float64)
    names = list(factors.columns)
    top = np.argsort(-np.abs(values), axis=1)[:, :TOP_FACTORS]
    explanation = [
        [
            {"factor": names[j], "effect": round(float(values[i, j]), 4)}
            for j in top[i]
            if values[i, j] != 0
        ]
        for i in range(len(sales))
    ]
    return pd.DataFrame(
        {
            "predicted_price": np.exp(predicted),
            "lower": np.exp(lower),
            "upper": np.exp(upper),
            "explanation": explanation,
        },
        index=sales.index,
    )


# --- indices ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IndexView:
    """An index with its forecast (or why there is none) for a page or an answer."""

    result: IndexResult
    forecast: pd.DataFrame | None
    forecast_note: str
    subject: str


def index_for(
    *,
    dataset: SalesDataset,
    artist: str | None,
    segment: tuple[str, str] | None = None,
    method: str = "repeat_sales",
    freq: str = "Q",
    horizon: int = FORECAST_HORIZON,
) -> IndexView:
    """A price index of the dataset's lots with a forecast `horizon` ahead.

    `artist` keeps one artist's lots; `segment` (column, value) keeps the lots whose column holds
    the value, e.g. ("feature_type", "Alien") or ("medium", "oil on canvas").
    """
    if method not in INDEX_METHODS:
        raise InvalidInput(f"Unknown index method {method!r}; choose repeat_sales or hedonic.")
    if freq not in INDEX_FREQS:
        raise InvalidInput(f"Unknown frequency {freq!r}; choose M, Q or Y.")
    if not 1 <= horizon <= 24:
        raise InvalidInput(f"horizon={horizon}: choose 1 to 24 periods.")
    where = _segment_where(dataset, segment) if segment else None
    sales = sales_frame(dataset=dataset)
    try:
        if artist:
            sales = for_artist(sales, artist)
        if where:
            sales = for_segment(sales, where)
        if method == "hedonic":
            result = hedonic_index(sales, freq=freq)
        else:
            result = repeat_sales_index(sales, freq=freq)
    except MarketError as error:
        raise _invalid(error) from error
    try:
        forecast: pd.DataFrame | None = forecast_index(result, horizon=horizon)
        note = ""
    except MarketError as error:
        forecast, note = None, f"No forecast: {error}"
    parts = [f"artist {artist}"] if artist else []
    if segment:
        parts.append(f"{segment_label(segment[0])} = {segment[1]}")
    subject = ", ".join(parts) or f"all lots of {dataset.name}"
    return IndexView(result=result, forecast=forecast, forecast_note=note, subject=subject)


def segment_columns(*, dataset: SalesDataset) -> dict[str, str]:
    """Columns an index of this dataset can be restricted to: column -> label."""
    columns = {column: segment_label(column) for column in SEGMENT_COLUMNS}
    columns.update({column: segment_label(column) for column in sorted(dataset.feature_kinds)})
    return columns


def segment_label(column: str) -> str:
    """How a segment column reads on a page: `feature_type` -> `type`."""
    return column.removeprefix("feature_").replace("_", " ")


def _segment_where(dataset: SalesDataset, segment: tuple[str, str]) -> dict[str, object]:
    column, value = segment[0], segment[1].strip()
    choices = segment_columns(dataset=dataset)
    if column not in choices:
        raise InvalidInput(
            f"Cannot segment by {column!r}; choose one of: {', '.join(sorted(choices))}."
        )
    if not value:
        raise InvalidInput(f"Give the value of {segment_label(column)} to keep.")
    if dataset.feature_kinds.get(column) != "number":
        return {column: value}
    try:
        return {column: float(value)}
    except ValueError:
        raise InvalidInput(
            f"{segment_label(column)} is a number in this dataset; {value!r} is not one."
        ) from None
