"""Page addresses of the insights app."""

from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("", views.index, name="index"),
    path("import/", views.import_start, name="import"),
    path("import/<str:token>/", views.import_map, name="import-map"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<int:dataset_id>/fit/", views.model_new, name="model-new"),
    path("models/<int:model_id>/", views.model_detail, name="model"),
    path("models/<int:model_id>/forecasts.csv", views.forecasts_csv, name="forecasts-csv"),
    path("models/<int:model_id>/lots/", views.lots_upload, name="lots-upload"),
    path("models/<int:model_id>/lots/<int:dataset_id>/", views.lots_detail, name="lots"),
    path("datasets/<int:dataset_id>/forecast/", views.lots_forecast, name="lots-forecast"),
]
