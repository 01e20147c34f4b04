"""API addresses of the insights app, under /api/v1/insights/."""

from django.urls import path

from insights import apis

urlpatterns = [
    path("datasets/", apis.DatasetListApi.as_view(), name="insights-datasets"),
    path("datasets/<int:dataset_id>/", apis.DatasetDetailApi.as_view(), name="insights-dataset"),
    path("datasets/<int:dataset_id>/sales/", apis.SaleListApi.as_view(), name="insights-sales"),
    path("datasets/<int:dataset_id>/index/", apis.IndexApi.as_view(), name="insights-index"),
    path("datasets/<int:dataset_id>/models/", apis.FitApi.as_view(), name="insights-fit"),
    path("models/<int:model_id>/", apis.ModelDetailApi.as_view(), name="insights-model"),
    path(
        "models/<int:model_id>/forecasts/",
        apis.ForecastListApi.as_view(),
        name="insights-forecasts",
    ),
    path(
        "models/<int:model_id>/forecasts.csv",
        apis.ForecastCsvApi.as_view(),
        name="insights-forecasts-csv",
    ),
]
