"""Reads of the insights app: an analyst sees only their own datasets and models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from django.db.models import Count, Max, Min, QuerySet

from accounts.models import User
from core.errors import NotFound
from insights.models import (
    DatasetPurpose,
    Forecast,
    PriceModel,
    PriceModelState,
    Sale,
    SalesDataset,
)
from market.schema import SALE_COLUMNS, validate_sales

_COLUMNS = tuple(SALE_COLUMNS)


def dataset_list(*, user: User) -> QuerySet[SalesDataset]:
    """The analyst's datasets, newest first, with their sale counts."""
    return SalesDataset.objects.filter(owner=user).annotate(sale_count=Count("sales"))


def dataset_get(*, user: User, dataset_id: int) -> SalesDataset:
    """One of the analyst's datasets."""
    try:
        return SalesDataset.objects.filter(owner=user).get(pk=dataset_id)
    except SalesDataset.DoesNotExist:
        raise NotFound(f"You have no sales dataset with id {dataset_id}.") from None


def dataset_summary(*, dataset: SalesDataset) -> dict[str, Any]:
    """Counts for a dataset page: lots, sold, first and last sale, artists by number of lots."""
    sales = dataset.sales.all()
    totals = sales.aggregate(lots=Count("pk"), first=Min("sale_date"), last=Max("sale_date"))
    totals["sold"] = sales.filter(sold=True).count()
    totals["with_estimate"] = sales.filter(low_estimate__isnull=False).count()
    totals["artists"] = list(
        sales.values("artist").annotate(lots=Count("pk")).order_by("-lots", "artist")[:200]
    )
    totals["artist_count"] = sales.values("artist").distinct().count()
    return totals


def sale_list(*, dataset: SalesDataset) -> QuerySet[Sale]:
    """A dataset's lots by date."""
    return dataset.sales.order_by("sale_date", "pk")


def sales_frame(*, dataset: SalesDataset) -> pd.DataFrame:
    """A dataset's lots as a canonical sales table (market.schema), indexed by Sale id."""
    rows = list(dataset.sales.order_by("sale_date", "pk").values_list("pk", *_COLUMNS, "features"))
    ids = [row[0] for row in rows]
    frame = pd.DataFrame([row[1:-1] for row in rows], columns=list(_COLUMNS), index=ids)
    frame["sale_date"] = pd.to_datetime(frame["sale_date"])
    for name, kind in dataset.feature_kinds.items():
        values = [row[-1].get(name, 0.0 if kind == "number" else None) for row in rows]
        if kind == "number":
            frame[name] = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            frame[name] = pd.Series(values, index=ids, dtype="string")
    return validate_sales(frame)


def model_list(*, user: User, dataset: SalesDataset | None = None) -> QuerySet[PriceModel]:
    """The analyst's price models, newest first; one dataset's if given."""
    models = PriceModel.objects.filter(owner=user).select_related("dataset", "job")
    return models if dataset is None else models.filter(dataset=dataset)


def model_get(*, user: User, model_id: int) -> PriceModel:
    """One of the analyst's price models."""
    try:
        return model_list(user=user).get(pk=model_id)
    except PriceModel.DoesNotExist:
        raise NotFound(f"You have no price model with id {model_id}.") from None


def forecast_list(*, model: PriceModel, dataset: SalesDataset | None = None) -> QuerySet[Forecast]:
    """A model's forecasts by sale date: its held-out lots, or the lots of `dataset`."""
    lots = model.dataset if dataset is None else dataset
    return (
        model.forecasts.filter(sale__dataset=lots)
        .select_related("sale")
        .order_by("sale__sale_date", "sale_id")
    )


def upcoming_list(*, model: PriceModel) -> QuerySet[SalesDataset]:
    """The upcoming-lots datasets forecast with this model, newest first, with lot counts."""
    return (
        SalesDataset.objects.filter(
            owner_id=model.owner_id, purpose=DatasetPurpose.UPCOMING, sales__forecasts__model=model
        )
        .annotate(forecast_count=Count("sales__forecasts", distinct=True))
        .order_by("-created_at")
    )


def models_for_lots(*, dataset: SalesDataset) -> dict[str, QuerySet[PriceModel]]:
    """For an upcoming-lots dataset: the models that forecast it, and the ready ones that could."""
    models = PriceModel.objects.filter(owner_id=dataset.owner_id).select_related("dataset")
    return {
        "used": models.filter(forecasts__sale__dataset=dataset).distinct(),
        "ready": models.filter(
            state=PriceModelState.READY, dataset__base_currency=dataset.base_currency
        ),
    }


FORECAST_COLUMNS = (
    "sale_id",
    "artist",
    "title",
    "sale_date",
    "lot",
    "auction_house",
    "currency",
    "low_estimate",
    "high_estimate",
    "actual_price",
    "predicted_price",
    "lower",
    "upper",
    "inside_interval",
    "top_factors",
)


def forecast_rows(
    *, model: PriceModel, dataset: SalesDataset | None = None
) -> list[dict[str, Any]]:
    """A model's forecasts (held-out lots, or `dataset`'s) as FORECAST_COLUMNS rows."""
    return [
        {
            "sale_id": f.sale_id,
            "artist": f.sale.artist,
            "title": f.sale.title,
            "sale_date": f.sale.sale_date.isoformat(),
            "lot": f.sale.lot,
            "auction_house": f.sale.auction_house,
            "currency": f.sale.currency,
            "low_estimate": f.sale.low_estimate,
            "high_estimate": f.sale.high_estimate,
            "actual_price": f.sale.price,
            "predicted_price": round(f.predicted_price, 6),
            "lower": round(f.lower, 6),
            "upper": round(f.upper, 6),
            "inside_interval": f.inside,
            "top_factors": "; ".join(
                f"{item['factor']} {item['effect']:+.3f}" for item in f.explanation
            ),
        }
        for f in forecast_list(model=model, dataset=dataset)
    ]
