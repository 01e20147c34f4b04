"""Pages of the insights app: import with a mapping step, datasets with index charts, models."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import role_required, signed_in
from accounts.models import Role
from core.errors import InvalidInput
from insights.charts import index_chart
from insights.forms import (
    FitForm,
    ForecastWithForm,
    IndexForm,
    LotsUploadForm,
    MappingForm,
    UploadForm,
)
from insights.models import DatasetPurpose, PriceModel
from insights.selectors import (
    FORECAST_COLUMNS,
    dataset_get,
    dataset_list,
    dataset_summary,
    forecast_list,
    forecast_rows,
    model_get,
    model_list,
    models_for_lots,
    upcoming_list,
)
from insights.services import (
    export_peek,
    import_commit,
    import_preview,
    index_for,
    mapping_build,
    mapping_guess,
    model_fit_request,
    rates_parse,
    segment_columns,
    upcoming_forecast,
    upcoming_import,
    upload_discard,
    upload_get,
    upload_save,
)

SHOWN_FORECASTS = 200


analyst_only = role_required(Role.ANALYST, refusal="Market insights are for analysts.")


@analyst_only
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The analyst's datasets and models, and the way in to import an export."""
    user = signed_in(request)
    context = {"datasets": dataset_list(user=user)[:100], "models": model_list(user=user)[:50]}
    return render(request, "insights/index.html", context)


@analyst_only
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    """Step 1: upload the export (CSV or Excel)."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            upload = upload_save(owner=signed_in(request), upload=form.cleaned_data["file"])
        except InvalidInput as error:
            form.add_error("file", error.message)
        else:
            return redirect("insights:import-map", token=upload.token)
    status = 400 if request.method == "POST" else 200
    return render(request, "insights/import_upload.html", {"form": form}, status=status)


@analyst_only
@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, token: str) -> HttpResponse:
    """Steps 2 and 3: map the columns, check the report, fix and check again, then import."""
    user = signed_in(request)
    upload = upload_get(owner=user, token=token)
    # Upcoming lots to forecast with this model (from its page), else past sales.
    for_model = _model_param(request, user)
    peek = export_peek(path=upload.path)
    initial = {f"col_{field}": header for field, header in mapping_guess(peek.headers).items()}
    initial["name"] = Path(upload.name).stem.replace("_", " ")[:120]
    if for_model is not None:
        initial["base_currency"] = for_model.dataset.base_currency
    form = MappingForm(request.POST or None, headers=peek.headers, initial=initial)
    report: dict[str, Any] | None = None
    rejected = False
    if request.method == "POST" and form.is_valid():
        try:
            mapping = mapping_build(**form.mapping_values())
            rates = rates_parse(form.cleaned_data["rates"])
            base = form.cleaned_data["base_currency"].strip().upper()
            if request.POST.get("action") == "import" and for_model is not None:
                dataset = upcoming_import(
                    owner=user,
                    model=for_model,
                    name=form.cleaned_data["name"],
                    path=upload.path,
                    mapping=mapping,
                    rates=rates,
                    source_name=upload.name,
                )
                upload_discard(upload=upload)
                messages.success(request, f"Forecast {dataset.sales.count()} lots.")
                return redirect("insights:lots", model_id=for_model.pk, dataset_id=dataset.pk)
            if request.POST.get("action") == "import":
                dataset = import_commit(
                    owner=user,
                    name=form.cleaned_data["name"],
                    path=upload.path,
                    mapping=mapping,
                    base_currency=base,
                    rates=rates,
                    source_name=upload.name,
                )
                upload_discard(upload=upload)
                messages.success(request, f"Imported {dataset.sales.count()} sales.")
                return redirect("insights:dataset", dataset_id=dataset.pk)
            report = import_preview(
                owner=user, path=upload.path, mapping=mapping, base_currency=base, rates=rates
            )
        except InvalidInput as error:
            if "problems" in error.details:
                rejected = True
                report = {"problems": error.details["problems"], "message": error.message}
            else:
                form.add_error(None, error.message)
    context = {
        "form": form,
        "peek": peek,
        "upload": upload,
        "report": report,
        "rejected": rejected,
        "for_model": for_model,
    }
    failed = request.method == "POST" and (not form.is_valid() or rejected)
    return render(request, "insights/import_map.html", context, status=400 if failed else 200)


def _model_param(request: HttpRequest, user: Any) -> PriceModel | None:
    """The model named by `?model=` (the mapping step of upcoming lots), or None."""
    model_id = id_param(request.GET, "model")
    return None if model_id is None else model_get(user=user, model_id=model_id)


def id_param(query: Mapping[str, str], name: str) -> int | None:
    """An optional id from the query string; InvalidInput when it is not a whole number."""
    value = query.get(name, "")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{name}={value!r} is not an id.")
    return int(value)


@analyst_only
@require_GET
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """A dataset: counts, artists, an index chart with its forecast, and the fit form."""
    user = signed_in(request)
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    if dataset.purpose == DatasetPurpose.UPCOMING:
        return _upcoming_detail(request, dataset)
    form = IndexForm(request.GET or None, segments=segment_columns(dataset=dataset))
    valid = form.is_valid()
    choice = form.cleaned_data if valid else {"artist": "", "method": "repeat_sales", "freq": "Q"}
    chart, view, index_error = "", None, ""
    try:
        view = index_for(
            dataset=dataset,
            artist=choice["artist"].strip() or None,
            segment=form.segment() if valid else None,
            method=choice["method"],
            freq=choice["freq"],
        )
    except InvalidInput as error:
        index_error = error.message
    else:
        title = f"{view.result.method.replace('_', ' ').title()} index of {view.subject}"
        chart = mark_safe(index_chart(view.result.table, view.forecast, title=title))  # noqa: S308 (escaped in charts)
    summary = dataset_summary(dataset=dataset)
    last = summary["last"]
    fit_form = FitForm(initial={"until": _default_split(summary), "kind": "boosted"})
    context = {
        "dataset": dataset,
        "summary": summary,
        "form": form,
        "view": view,
        "chart": chart,
        "index_rows": _index_rows(view) if view else [],
        "index_error": index_error,
        "fit_form": fit_form,
        "models": model_list(user=user, dataset=dataset),
        "last": last,
    }
    return render(request, "insights/dataset_detail.html", context)


def _upcoming_detail(request: HttpRequest, dataset: Any) -> HttpResponse:
    """An upcoming-lots dataset: its lots, the models that forecast it, and one more."""
    models = models_for_lots(dataset=dataset)
    context = {
        "dataset": dataset,
        "summary": dataset_summary(dataset=dataset),
        "used": models["used"],
        "form": ForecastWithForm(models=models["ready"]),
        "has_ready": models["ready"].exists(),
    }
    return render(request, "insights/dataset_upcoming.html", context)


@analyst_only
@require_POST
def lots_forecast(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Forecast an upcoming-lots dataset with a chosen ready model."""
    user = signed_in(request)
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    form = ForecastWithForm(request.POST, models=models_for_lots(dataset=dataset)["ready"])
    if form.is_valid():
        model = form.cleaned_data["model"]
        try:
            count = upcoming_forecast(owner=user, model=model, dataset=dataset)
        except InvalidInput as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Forecast {count} lots.")
            return redirect("insights:lots", model_id=model.pk, dataset_id=dataset.pk)
    else:
        messages.error(request, "Choose one of your ready models.")
    return redirect("insights:dataset", dataset_id=dataset.pk)


@analyst_only
@require_POST
def lots_upload(request: HttpRequest, model_id: int) -> HttpResponse:
    """Upload an upcoming sale's lots to forecast with this model; mapped on the next page."""
    user = signed_in(request)
    model = model_get(user=user, model_id=model_id)
    form = LotsUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            upload = upload_save(owner=user, upload=form.cleaned_data["file"])
        except InvalidInput as error:
            messages.error(request, error.message)
        else:
            target = reverse("insights:import-map", kwargs={"token": upload.token})
            return redirect(f"{target}?model={model.pk}")
    else:
        messages.error(request, "Choose the file of lots to forecast.")
    return redirect("insights:model", model_id=model.pk)


@analyst_only
@require_GET
def lots_detail(request: HttpRequest, model_id: int, dataset_id: int) -> HttpResponse:
    """A model's forecasts for the lots of an upcoming sale: price, interval, top factors."""
    user = signed_in(request)
    model = model_get(user=user, model_id=model_id)
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    forecasts = forecast_list(model=model, dataset=dataset)
    context = {
        "model": model,
        "dataset": dataset,
        "forecasts": forecasts[:SHOWN_FORECASTS],
        "forecast_count": forecasts.count(),
        "shown": SHOWN_FORECASTS,
    }
    return render(request, "insights/lots_detail.html", context)


def _default_split(summary: dict[str, Any]) -> Any:
    """Hold out the last fifth of the dataset's span by default."""
    first, last = summary["first"], summary["last"]
    if first is None or last is None:
        return None
    return first + (last - first) * 4 / 5


def _index_rows(view: Any) -> list[dict[str, Any]]:
    rows = [
        {"period": str(period), "kind": "index", **row}
        for period, row in view.result.table[["index", "lower", "upper", "n"]].iterrows()
    ]
    if view.forecast is not None:
        rows += [
            {
                "period": str(period),
                "kind": "forecast",
                "index": row["forecast"],
                "lower": row["lower"],
                "upper": row["upper"],
                "n": None,
            }
            for period, row in view.forecast.iterrows()
        ]
    return rows


@analyst_only
@require_POST
def model_new(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Queue a fit; the model page shows its progress, then its backtest and forecasts."""
    user = signed_in(request)
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    form = FitForm(request.POST)
    if form.is_valid():
        try:
            model = model_fit_request(
                owner=user,
                dataset=dataset,
                kind=form.cleaned_data["kind"],
                until=form.cleaned_data["until"],
                coverage=form.cleaned_data["coverage"],
            )
        except InvalidInput as error:
            form.add_error(None, error.message)
        else:
            return redirect("insights:model", model_id=model.pk)
    messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("insights:dataset", dataset_id=dataset.pk)


@analyst_only
@require_GET
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    """A model: fitting progress, then its backtest beside the estimate baselines and forecasts."""
    model = model_get(user=signed_in(request), model_id=model_id)
    rows = model.backtest.get("rows", [])
    context = {
        "model": model,
        "job": model.job,
        "reload_when_done": True,
        "backtest_all": [r for r in rows if r["subset"] == "all"],
        "backtest_estimate": [r for r in rows if r["subset"] == "with_estimate"],
        "attrs": model.backtest.get("attrs", {}),
        "forecasts": forecast_list(model=model)[:SHOWN_FORECASTS],
        "forecast_count": forecast_list(model=model).count(),
        "shown": SHOWN_FORECASTS,
        "upcoming": upcoming_list(model=model),
        "lots_form": LotsUploadForm(),
    }
    return render(request, "insights/model_detail.html", context)


@analyst_only
@require_GET
def forecasts_csv(request: HttpRequest, model_id: int) -> HttpResponse:
    """Every held-out lot's forecast as CSV (`?dataset=ID`: the lots of an upcoming sale)."""
    user = signed_in(request)
    model = model_get(user=user, model_id=model_id)
    dataset_id = id_param(request.GET, "dataset")
    dataset = None if dataset_id is None else dataset_get(user=user, dataset_id=dataset_id)
    return forecasts_csv_response(model.pk, forecast_rows(model=model, dataset=dataset))


def forecasts_csv_response(model_id: int, rows: list[dict[str, Any]]) -> HttpResponse:
    """A CSV download of forecast rows (shared with the API)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FORECAST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="forecasts-model{model_id}.csv"'
    return response
