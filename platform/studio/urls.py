"""Page addresses of the studio."""

from django.urls import path

from studio import views

app_name = "studio"

urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/new/", views.dataset_new, name="dataset-new"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<int:dataset_id>/train/", views.run_new, name="run-new"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_page, name="run-cancel"),
    path("runs/<int:run_id>/resume/", views.run_resume_page, name="run-resume"),
    path("runs/<int:run_id>/samples/<int:step>.png", views.run_sample, name="run-sample"),
    path("models/<int:model_id>/", views.model_detail, name="model"),
    path("works/", views.gallery, name="gallery"),
    path("works/<int:work_id>/image.png", views.work_image, name="work-image"),
    path("works/<int:work_id>/favourite/", views.work_favourite, name="work-favourite"),
]
