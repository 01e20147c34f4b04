"""Forecasting an upcoming sale: upload its lots, map them, read each lot's price and interval."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from insights import tasks
from insights.models import DatasetPurpose, Forecast, PriceModel, SalesDataset
from insights.selectors import FORECAST_COLUMNS
from insights.services import insights_root, model_fit_request, upload_save, uploads_sweep
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

UPCOMING_DAY = "2021-01-20"


def _fitted(
    analyst: User, dataset: SalesDataset, kind: str, until: date = date(2020, 9, 1)
) -> PriceModel:
    """A ready model learned from the punks sold before `until`."""
    fitted = model_fit_request(owner=analyst, dataset=dataset, kind=kind, until=until)
    assert fitted.job is not None
    tasks.fit_model.run(str(fitted.job.pk))
    fitted.refresh_from_db()
    assert fitted.state == "ready"
    return fitted


@pytest.fixture
def model(analyst: User, punks_dataset: SalesDataset) -> PriceModel:
    """The boosted model (the one analysts fit by default)."""
    return _fitted(analyst, punks_dataset, "boosted")


@pytest.fixture
def hedonic(analyst: User, punks_dataset: SalesDataset) -> PriceModel:
    """The hedonic model (quicker to fit)."""
    return _fitted(analyst, punks_dataset, "hedonic")


def _catalogue(punks: pd.DataFrame, lots: int = 12, *, drop: tuple[str, ...] = ()) -> bytes:
    """An upcoming sale's catalogue: punks from the dataset offered again, prices empty."""
    offered = punks.tail(lots)
    features = [c for c in offered.columns if c.startswith("feature_") and c not in drop]
    table = pd.DataFrame(
        {
            "Lot": range(1, lots + 1),
            "Artist": offered["artist"].to_numpy(),
            "Title": offered["title"].to_numpy(),
            "Sale date": UPCOMING_DAY,
            "Item": offered["item_id"].to_numpy(),
            "Currency": "ETH",
            **{name: offered[name].to_numpy() for name in features},
        }
    )
    return table.to_csv(index=False).encode()


def _mapping(catalogue: bytes, name: str = "January sale") -> dict[str, str]:
    headers = catalogue.decode().splitlines()[0].split(",")
    fields = {"Lot": "lot", "Artist": "artist", "Title": "title", "Sale date": "sale_date"}
    fields |= {"Item": "item_id", "Currency": "currency"}
    mapping = {f"col_{fields.get(h, h)}": h for h in headers}
    return {"name": name, "base_currency": "ETH", "decimal": ".", **mapping}


def test_an_analyst_uploads_an_upcoming_sale_and_reads_each_lots_forecast(
    client: Client, analyst: User, model: PriceModel, punks_subset: pd.DataFrame
) -> None:
    client.force_login(analyst)
    catalogue = _catalogue(punks_subset)
    page = client.get(reverse("insights:model", args=[model.pk]))
    assert "Forecast an upcoming sale" in page.content.decode()

    uploaded = client.post(
        reverse("insights:lots-upload", args=[model.pk]),
        {"file": SimpleUploadedFile("january.csv", catalogue, "text/csv")},
    )
    assert uploaded.status_code == 302
    address = str(uploaded["Location"])
    assert address.endswith(f"?model={model.pk}")
    mapping_page = client.get(address)
    assert "Import and forecast every lot" in mapping_page.content.decode()
    assert mapping_page.context["form"]["base_currency"].value() == "ETH"

    done = client.post(address, {**_mapping(catalogue), "action": "import"})

    assert done.status_code == 302, done.content.decode()[:2000]
    lots = SalesDataset.objects.get(name="January sale")
    assert lots.purpose == DatasetPurpose.UPCOMING
    assert done["Location"] == reverse("insights:lots", args=[model.pk, lots.pk])
    forecasts = Forecast.objects.filter(model=model, sale__dataset=lots)
    assert forecasts.count() == 12
    for forecast in forecasts:
        assert 0 < forecast.lower <= forecast.predicted_price <= forecast.upper
        assert forecast.explanation
    # The model's held-out lots keep their own forecasts, apart from the upcoming ones.
    held_out = model.forecasts.exclude(sale__dataset=lots).count()
    assert held_out == model.metrics["n"]

    html = client.get(done["Location"]).content.decode()
    assert 'class="forecasts"' in html
    assert "Top factors" in html
    exported = client.get(reverse("insights:forecasts-csv", args=[model.pk]), {"dataset": lots.pk})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert list(rows[0]) == list(FORECAST_COLUMNS)
    assert len(rows) == 12
    assert {row["sale_date"] for row in rows} == {UPCOMING_DAY}
    assert all(row["actual_price"] == "" for row in rows)
    model_page = client.get(reverse("insights:model", args=[model.pk])).content.decode()
    assert "January sale" in model_page
    assert not list((insights_root() / "uploads").glob(f"{analyst.pk}/*/*"))


def test_lots_the_model_cannot_read_are_refused_and_nothing_is_stored(
    client: Client, analyst: User, hedonic: PriceModel, punks_subset: pd.DataFrame
) -> None:
    model = hedonic
    client.force_login(analyst)
    catalogue = _catalogue(punks_subset, drop=("feature_type",))
    uploaded = client.post(
        reverse("insights:lots-upload", args=[model.pk]),
        {"file": SimpleUploadedFile("no_types.csv", catalogue, "text/csv")},
    )
    address = str(uploaded["Location"])
    before = (SalesDataset.objects.count(), Forecast.objects.count())

    refused = client.post(address, {**_mapping(catalogue), "action": "import"})

    assert refused.status_code == 400
    assert "feature_type" in refused.content.decode()
    assert (SalesDataset.objects.count(), Forecast.objects.count()) == before


def test_the_api_forecasts_an_export_and_then_the_same_lots_with_another_model(
    analyst: User, hedonic: PriceModel, punks_dataset: SalesDataset, punks_subset: pd.DataFrame
) -> None:
    model = hedonic
    api = APIClient()
    api.force_authenticate(analyst)
    catalogue = _catalogue(punks_subset, lots=5)
    headers = catalogue.decode().splitlines()[0].split(",")
    columns = {"lot": "Lot", "artist": "Artist", "title": "Title", "sale_date": "Sale date"}
    columns |= {"item_id": "Item", "currency": "Currency"}
    columns |= {h: h for h in headers if h.startswith("feature_")}
    posted = api.post(
        f"/api/v1/insights/models/{model.pk}/forecasts/",
        {
            "name": "API sale",
            "file": SimpleUploadedFile("api.csv", catalogue, "text/csv"),
            "mapping": json.dumps({"columns": columns}),
        },
        format="multipart",
    )
    assert posted.status_code == 201, posted.content.decode()
    body = posted.json()
    assert body["dataset"]["purpose"] == "upcoming"
    assert len(body["forecasts"]) == 5
    assert all(f["lower"] <= f["predicted_price"] <= f["upper"] for f in body["forecasts"])
    lots_id = body["dataset"]["id"]
    listed = api.get(f"/api/v1/insights/models/{model.pk}/forecasts/", {"dataset": lots_id})
    assert [f["sale_id"] for f in listed.json()] == [f["sale_id"] for f in body["forecasts"]]

    earlier = _fitted(analyst, punks_dataset, "hedonic", until=date(2020, 6, 1))
    again = api.post(
        f"/api/v1/insights/models/{earlier.pk}/forecasts/", {"dataset": lots_id}, format="json"
    )
    assert again.status_code == 201, again.content.decode()
    assert len(again.json()["forecasts"]) == 5
    past = api.post(
        f"/api/v1/insights/models/{earlier.pk}/forecasts/",
        {"dataset": punks_dataset.pk},
        format="json",
    )
    assert past.status_code == 400
    assert "holds past sales" in past.json()["error"]["message"]


def test_a_segment_index_keeps_the_lots_of_one_trait(
    client: Client, analyst: User, punks_dataset: SalesDataset
) -> None:
    client.force_login(analyst)
    address = reverse("insights:dataset", args=[punks_dataset.pk])

    page = client.get(
        address,
        {"segment_column": "feature_gender", "segment_value": "female", "method": "hedonic"},
    )
    html = page.content.decode()
    assert '<svg class="chart"' in html
    assert "gender = female" in html
    females = sum(
        1 for sale in punks_dataset.sales.all() if sale.features.get("feature_gender") == "Female"
    )
    assert 100 < females < punks_dataset.sales.count() / 2
    assert page.context["view"].result.n_observations == females

    flag = client.get(
        address, {"segment_column": "feature_attr_earring", "segment_value": "yes"}
    ).content.decode()
    assert "attr earring is a number in this dataset" in flag
    api = APIClient()
    api.force_authenticate(analyst)
    aliens = api.get(
        f"/api/v1/insights/datasets/{punks_dataset.pk}/index/",
        {"segment_column": "feature_type", "segment_value": "Alien"},
    )
    assert aliens.status_code == 400
    assert "segment feature_type='Alien'" in aliens.json()["error"]["message"]


def test_uploads_left_in_the_mapping_step_are_swept_after_the_ttl(
    analyst: User, settings: Any
) -> None:
    export = SimpleUploadedFile("old.csv", b"Artist,Date\nA,2020-01-01\n", "text/csv")
    old = upload_save(owner=analyst, upload=export)
    fresh = upload_save(owner=analyst, upload=SimpleUploadedFile("new.csv", export.file.getvalue()))
    aged = time.time() - settings.INSIGHTS_UPLOAD_TTL_SECONDS - 60
    os.utime(old.path.parent, (aged, aged))

    assert uploads_sweep() == 1
    assert not old.path.exists()
    assert fresh.path.exists()
    out = io.StringIO()
    call_command("insights_sweep_uploads", "--older-than", "0", stdout=out)
    assert "Removed 1 abandoned upload." in out.getvalue()
    assert not Path(fresh.path).exists()
