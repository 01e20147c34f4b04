"""Page addresses of the core app."""

from django.urls import path

from core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/", views.job_list_page, name="job-list"),
    path("jobs/<uuid:job_id>/", views.job_detail_page, name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel_page, name="job-cancel"),
    path("ops/selftest/", views.selftest_page, name="selftest"),
]
