"""A dataset's index chart, fitting a model through its task, the backtest and forecasts."""

from __future__ import annotations

import csv
import io
from datetime import date

import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse
from insights import tasks
from insights.models import PriceModel, PriceModelState, SalesDataset
from insights.selectors import FORECAST_COLUMNS, sales_frame
from insights.services import forecasts_for, model_fit_request

from accounts.models import User
from core.models import Job, JobState

pytestmark = pytest.mark.django_db


def test_stored_sales_come_back_as_the_canonical_table(
    punks_dataset: SalesDataset, punks_subset: pd.DataFrame
) -> None:
    sales = sales_frame(dataset=punks_dataset)
    sales = sales[sales["artist"] != "Rare Hand"]
    original = punks_subset.sort_values("sale_date", kind="stable")

    assert list(sales.columns) == list(original.columns)
    assert str(sales["sale_date"].dtype) == "datetime64[ns]"
    for column in ("price", "feature_attr_count", "feature_attr_earring"):
        assert sales[column].sum() == pytest.approx(original[column].sum())
    assert sorted(sales["feature_type"]) == sorted(original["feature_type"])
    assert sorted(sales["item_id"]) == sorted(original["item_id"])


def test_the_dataset_page_draws_an_index_chart_with_a_table_under_it(
    client: Client, analyst: User, punks_dataset: SalesDataset
) -> None:
    client.force_login(analyst)

    page = client.get(
        reverse("insights:dataset", args=[punks_dataset.pk]),
        {"artist": "Larva Labs", "method": "repeat_sales", "freq": "M"},
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert '<svg class="chart"' in html
    assert "<title" in html
    assert "log scale" in html
    assert "95% confidence band (hatched)" in html
    assert 'class="chart-table"' in html
    assert "2020-01" in html
    assert "Forecast (dashed line" in html  # enough quarters for a forecast
    assert "<script" not in html.split('<svg class="chart"')[1].split("</svg>")[0]


def test_an_artist_with_two_sales_gets_the_not_enough_data_message(
    client: Client, analyst: User, punks_dataset: SalesDataset
) -> None:
    client.force_login(analyst)

    page = client.get(
        reverse("insights:dataset", args=[punks_dataset.pk]),
        {"artist": "Rare Hand", "method": "hedonic", "freq": "Y"},
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "Rare Hand" in html
    assert "2 sales" in html
    assert '<svg class="chart"' not in html


def _fit(analyst: User, dataset: SalesDataset, kind: str = "hedonic") -> PriceModel:
    model = model_fit_request(owner=analyst, dataset=dataset, kind=kind, until=date(2020, 9, 1))
    assert model.job is not None
    assert model.job.queue == "default"
    tasks.fit_model.run(str(model.job.pk))
    model.refresh_from_db()
    return model


def test_a_fit_runs_as_a_job_and_its_page_shows_the_backtest_and_exports_forecasts(
    client: Client, analyst: User, punks_dataset: SalesDataset
) -> None:
    model = _fit(analyst, punks_dataset)

    job = Job.objects.get(pk=model.job_id)
    assert job.state == JobState.SUCCEEDED, job.error
    assert model.state == PriceModelState.READY
    rows = {(row["subset"], row["model"]): row for row in model.backtest["rows"]}
    assert set(rows) == {
        (subset, name)
        for subset in ("all", "with_estimate")
        for name in ("hedonic", "estimate midpoint", "rescaled estimate")
    }
    assert rows["all", "hedonic"]["n"] > 100
    assert 0.5 < model.metrics["interval_coverage"] < 1
    assert model.forecasts.count() == rows["all", "hedonic"]["n"]

    client.force_login(analyst)
    page = client.get(reverse("insights:model", args=[model.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<table class="backtest">') == 2
    assert "estimate midpoint" in html
    assert "rescaled estimate" in html
    assert "Held-out lots with a presale estimate" in html
    assert 'class="forecasts"' in html
    assert "Top factors" in html

    csv_response = client.get(reverse("insights:forecasts-csv", args=[model.pk]))
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(csv_response.content.decode())))
    assert list(lines[0]) == list(FORECAST_COLUMNS)
    assert len(lines) == model.forecasts.count()
    first = lines[0]
    assert float(first["lower"]) <= float(first["predicted_price"]) <= float(first["upper"])
    assert first["top_factors"]
    inside = sum(line["inside_interval"] == "True" for line in lines) / len(lines)
    assert inside == pytest.approx(model.metrics["interval_coverage"], abs=0.02)

    lots = sales_frame(dataset=punks_dataset).tail(5)
    forecasts = forecasts_for(model=model, sales=lots)  # loads the hash-checked model file
    assert list(forecasts.index) == list(lots.index)
    assert (forecasts["lower"] <= forecasts["upper"]).all()


def test_a_fit_with_too_few_sales_before_the_date_is_refused(
    client: Client, analyst: User, punks_dataset: SalesDataset
) -> None:
    client.force_login(analyst)

    response = client.post(
        reverse("insights:model-new", args=[punks_dataset.pk]),
        {"until": "2018-01-01", "kind": "hedonic", "coverage": "0.8"},
        follow=True,
    )

    assert "leaves 0 sold lots to learn from" in response.content.decode()
    assert not PriceModel.objects.exists()
