"""API addresses of the studio, under /api/v1/studio/."""

from django.urls import path

from studio import apis

urlpatterns = [
    path("datasets/", apis.DatasetListApi.as_view(), name="studio-datasets"),
    path("datasets/<int:dataset_id>/", apis.DatasetDetailApi.as_view(), name="studio-dataset"),
    path("runs/", apis.RunListApi.as_view(), name="studio-runs"),
    path("runs/<int:run_id>/", apis.RunDetailApi.as_view(), name="studio-run"),
    path("runs/<int:run_id>/cancel/", apis.RunCancelApi.as_view(), name="studio-run-cancel"),
    path("runs/<int:run_id>/resume/", apis.RunResumeApi.as_view(), name="studio-run-resume"),
    path("models/", apis.ModelListApi.as_view(), name="studio-models"),
    path("models/<int:model_id>/generate/", apis.GenerateApi.as_view(), name="studio-generate"),
    path(
        "models/<int:model_id>/interpolate/",
        apis.InterpolateApi.as_view(),
        name="studio-interpolate",
    ),
    path("works/", apis.WorkListApi.as_view(), name="studio-works"),
    path(
        "works/<int:work_id>/favourite/",
        apis.WorkFavouriteApi.as_view(),
        name="studio-work-favourite",
    ),
]
