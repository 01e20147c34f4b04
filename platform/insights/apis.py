"""API endpoints of the insights app, under /api/v1/insights/ (analysts only)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import signed_in
from accounts.models import Role, User
from core.api import HasRole
from insights.models import PriceModel, SalesDataset
from insights.selectors import (
    dataset_get,
    dataset_list,
    forecast_rows,
    model_get,
    sale_list,
)
from insights.serializers import (
    DatasetCreateSerializer,
    FitSerializer,
    ForecastSerializer,
    IndexQuerySerializer,
    IndexSerializer,
    LotsForecastResultSerializer,
    LotsForecastSerializer,
    PriceModelSerializer,
    SalesDatasetSerializer,
    SaleSerializer,
)
from insights.services import (
    IndexView,
    import_commit,
    index_for,
    mapping_from_dict,
    model_fit_request,
    upcoming_forecast,
    upcoming_import,
    upload_discard,
    upload_save,
)
from insights.views import forecasts_csv_response, id_param


class InsightsApi(APIView):
    """Base: analysts (and staff) only."""

    permission_classes = [HasRole.of(Role.ANALYST)]


class SalePagination(PageNumberPagination):
    """100 lots a page; `?page_size=` up to 1000."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class DatasetListApi(InsightsApi):
    """Your datasets; POST (multipart) imports an export with a mapping, all rows or none (201)."""

    parser_classes = [MultiPartParser]

    @extend_schema(responses=SalesDatasetSerializer(many=True))
    def get(self, request: Request) -> Response:
        datasets = dataset_list(user=signed_in(request))
        return Response(SalesDatasetSerializer(datasets, many=True).data)

    @extend_schema(request=DatasetCreateSerializer, responses={201: SalesDatasetSerializer})
    def post(self, request: Request) -> Response:
        serializer = DatasetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = signed_in(request)
        mapping = mapping_from_dict(data["mapping"])
        upload = upload_save(owner=user, upload=data["file"])
        try:
            dataset = import_commit(
                owner=user,
                name=data["name"],
                path=upload.path,
                mapping=mapping,
                base_currency=data["base_currency"],
                rates=data["rates"],
                source_name=upload.name,
            )
        finally:
            upload_discard(upload=upload)
        return Response(SalesDatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(InsightsApi):
    """One dataset with its import report."""

    @extend_schema(responses=SalesDatasetSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_get(user=signed_in(request), dataset_id=dataset_id)
        return Response(SalesDatasetSerializer(dataset).data)


class SaleListApi(InsightsApi):
    """A dataset's lots by date, paginated (`?page=`, `?page_size=`)."""

    @extend_schema(responses=SaleSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_get(user=signed_in(request), dataset_id=dataset_id)
        paginator = SalePagination()
        page = paginator.paginate_queryset(sale_list(dataset=dataset), request, view=self)
        return paginator.get_paginated_response(SaleSerializer(page, many=True).data)


class IndexApi(InsightsApi):
    """A price index (repeat sales or hedonic) of the dataset or one artist, with a forecast."""

    @extend_schema(parameters=[IndexQuerySerializer], responses=IndexSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        query = IndexQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        column = data["segment_column"].strip()
        view = index_for(
            dataset=dataset_get(user=signed_in(request), dataset_id=dataset_id),
            artist=data["artist"].strip() or None,
            segment=(column, data["segment_value"]) if column else None,
            method=data["method"],
            freq=data["freq"],
            horizon=data["horizon"],
        )
        body = IndexSerializer(_index_body(view))  # type: ignore[arg-type]
        return Response(body.data)


def _index_body(view: IndexView) -> dict[str, Any]:
    result = view.result
    index = [
        {
            "period": str(period),
            "index": row["index"],
            "lower": row["lower"],
            "upper": row["upper"],
            "n": int(row["n"]),
        }
        for period, row in result.table.iterrows()
    ]
    forecast = (
        []
        if view.forecast is None
        else [
            {
                "period": str(period),
                "index": row["forecast"],
                "lower": row["lower"],
                "upper": row["upper"],
            }
            for period, row in view.forecast.iterrows()
        ]
    )
    return {
        "subject": view.subject,
        "method": result.method,
        "freq": result.freq,
        "n_observations": result.n_observations,
        "notes": list(result.notes),
        "index": index,
        "forecast": forecast,
        "forecast_note": view.forecast_note,
    }


class FitApi(InsightsApi):
    """Fit a price model on the sales before `until` and backtest it there (a job, 202)."""

    @extend_schema(request=FitSerializer, responses={202: PriceModelSerializer})
    def post(self, request: Request, dataset_id: int) -> Response:
        serializer = FitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        model = model_fit_request(
            owner=user,
            dataset=dataset_get(user=user, dataset_id=dataset_id),
            **serializer.validated_data,
        )
        return Response(PriceModelSerializer(model).data, status=status.HTTP_202_ACCEPTED)


class ModelDetailApi(InsightsApi):
    """One price model: state, job, metrics and the backtest table beside the baselines."""

    @extend_schema(responses=PriceModelSerializer)
    def get(self, request: Request, model_id: int) -> Response:
        model = model_get(user=signed_in(request), model_id=model_id)
        return Response(PriceModelSerializer(model).data)


class ForecastListApi(InsightsApi):
    """A model's forecasts: its held-out lots, or (`?dataset=ID`) an upcoming sale's lots.

    POST forecasts an upcoming sale: an upcoming-lots dataset by id, or a multipart export
    (file, name, mapping, rates) imported in the model's currency; all of it or nothing (201).
    """

    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        parameters=[OpenApiParameter("dataset", int, required=False)],
        responses=ForecastSerializer(many=True),
    )
    def get(self, request: Request, model_id: int) -> Response:
        user = signed_in(request)
        model = model_get(user=user, model_id=model_id)
        dataset = _dataset_param(request, user)
        rows = ForecastSerializer(forecast_rows(model=model, dataset=dataset), many=True)  # type: ignore[arg-type]
        return Response(rows.data)

    @extend_schema(request=LotsForecastSerializer, responses={201: LotsForecastResultSerializer})
    def post(self, request: Request, model_id: int) -> Response:
        serializer = LotsForecastSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = signed_in(request)
        model = model_get(user=user, model_id=model_id)
        if "dataset" in data:
            dataset = dataset_get(user=user, dataset_id=data["dataset"])
            upcoming_forecast(owner=user, model=model, dataset=dataset)
        else:
            dataset = _lots_import(user, model, data)
        body = {"dataset": dataset, "forecasts": forecast_rows(model=model, dataset=dataset)}
        result = LotsForecastResultSerializer(body)  # type: ignore[arg-type]
        return Response(result.data, status=status.HTTP_201_CREATED)


def _lots_import(user: User, model: PriceModel, data: dict[str, Any]) -> SalesDataset:
    mapping = mapping_from_dict(data["mapping"])
    upload = upload_save(owner=user, upload=data["file"])
    try:
        return upcoming_import(
            owner=user,
            model=model,
            name=data["name"],
            path=upload.path,
            mapping=mapping,
            rates=data["rates"],
            source_name=upload.name,
        )
    finally:
        upload_discard(upload=upload)


def _dataset_param(request: Request, user: User) -> SalesDataset | None:
    dataset_id = id_param(request.query_params, "dataset")
    return None if dataset_id is None else dataset_get(user=user, dataset_id=dataset_id)


class ForecastCsvApi(InsightsApi):
    """The same forecasts as a CSV file (`?dataset=ID` for an upcoming sale's lots)."""

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR},
        parameters=[
            OpenApiParameter("model_id", int, OpenApiParameter.PATH),
            OpenApiParameter("dataset", int, required=False),
        ],
    )
    def get(self, request: Request, model_id: int) -> HttpResponse:
        user = signed_in(request)
        model = model_get(user=user, model_id=model_id)
        dataset = _dataset_param(request, user)
        return forecasts_csv_response(model.pk, forecast_rows(model=model, dataset=dataset))
