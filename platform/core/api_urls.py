"""API addresses of the core app, under /api/v1/."""

from django.urls import path

from core import apis

urlpatterns = [
    path("jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("selftest/", apis.SelftestApi.as_view(), name="selftest"),
]
