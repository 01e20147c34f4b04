"""The insights API: import with a mapping, sales pages, index, fit, backtest, forecasts."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from insights import tasks
from insights.models import PriceModel, SalesDataset
from rest_framework.test import APIClient

from accounts.models import Role, User
from tests.platform.insights.conftest import MESSY_CSV

pytestmark = pytest.mark.django_db

COLUMNS = {
    "artist": "Artist",
    "title": "Title",
    "sale_date": "Date of sale",
    "price": "Hammer price",
    "estimate": "Estimate",
    "dimensions": "Size",
    "lot": "Lot",
}


def _export() -> SimpleUploadedFile:
    return SimpleUploadedFile("sale.csv", MESSY_CSV.encode(), "text/csv")


def test_an_import_with_a_bad_mapping_answers_every_rejected_row_and_stores_nothing(
    api: APIClient, analyst: User
) -> None:
    api.force_authenticate(analyst)

    response = api.post(
        "/api/v1/insights/datasets/",
        {"name": "HK", "file": _export(), "mapping": json.dumps({"columns": COLUMNS})},
        format="multipart",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert "nothing was imported" in error["message"]
    assert {p["line"] for p in error["details"]["problems"]} == {2, 3, 4}
    assert not SalesDataset.objects.exists()


def test_an_import_with_a_good_mapping_creates_a_dataset_and_pages_its_sales(
    api: APIClient, analyst: User
) -> None:
    api.force_authenticate(analyst)
    mapping = {"columns": COLUMNS, "defaults": {"currency": "GBP"}, "options": {"dayfirst": True}}

    created = api.post(
        "/api/v1/insights/datasets/",
        {
            "name": "HK",
            "file": _export(),
            "mapping": json.dumps(mapping),
            "base_currency": "USD",
            "rates": json.dumps({"GBP": 1.25}),
        },
        format="multipart",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["sale_count"] == 3
    assert body["base_currency"] == "USD"
    sales = api.get(f"/api/v1/insights/datasets/{body['id']}/sales/", {"page_size": 2}).json()
    assert sales["count"] == 3
    assert len(sales["results"]) == 2
    assert sales["next"]
    assert sales["results"][0]["sale_date"] == "2020-11-25"
    assert sales["results"][0]["price"] == pytest.approx(350_000 * 1.25)
    listed = api.get("/api/v1/insights/datasets/").json()
    assert [d["id"] for d in listed] == [body["id"]]


def test_index_fit_backtest_and_forecasts_through_the_api(
    api: APIClient, analyst: User, punks_dataset: SalesDataset
) -> None:
    api.force_authenticate(analyst)
    base = f"/api/v1/insights/datasets/{punks_dataset.pk}"

    index = api.get(f"{base}/index/", {"method": "repeat_sales", "freq": "M"}).json()
    assert index["method"] == "repeat_sales"
    assert index["index"][0]["index"] == 100
    assert len(index["forecast"]) == 4
    too_few = api.get(f"{base}/index/", {"artist": "Rare Hand", "method": "hedonic"})
    assert too_few.status_code == 400
    assert "2 sales" in too_few.json()["error"]["message"]

    queued = api.post(f"{base}/models/", {"until": "2020-09-01", "kind": "hedonic"})
    assert queued.status_code == 202
    model = PriceModel.objects.get(pk=queued.json()["id"])
    tasks.fit_model.run(str(model.job_id))

    detail = api.get(f"/api/v1/insights/models/{model.pk}/").json()
    assert detail["state"] == "ready"
    assert {row["model"] for row in detail["backtest"]["rows"]} == {
        "hedonic",
        "estimate midpoint",
        "rescaled estimate",
    }
    forecasts = api.get(f"/api/v1/insights/models/{model.pk}/forecasts/").json()
    assert len(forecasts) == detail["metrics"]["n"]
    assert forecasts[0]["lower"] <= forecasts[0]["predicted_price"] <= forecasts[0]["upper"]
    exported = api.get(f"/api/v1/insights/models/{model.pk}/forecasts.csv")
    assert exported.status_code == 200
    assert exported.content.decode().splitlines()[0].startswith("sale_id,artist,title")


@pytest.mark.parametrize("role", [Role.ARTIST, Role.GALLERY])
def test_other_roles_are_refused(
    api: APIClient, make_user: Callable[..., User], role: Role
) -> None:
    api.force_authenticate(make_user(role))

    response = api.get("/api/v1/insights/datasets/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
