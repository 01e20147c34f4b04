"""API addresses of the verifications, under /api/v1/."""

from django.urls import path

from authenticity import apis

urlpatterns = [
    path("verifications", apis.VerificationListApi.as_view(), name="verifications"),
    path("verifications/batches", apis.BatchListApi.as_view(), name="verification-batches"),
    path(
        "verifications/batches/<uuid:batch_id>",
        apis.BatchDetailApi.as_view(),
        name="verification-batch",
    ),
    path(
        "verifications/<uuid:verification_id>",
        apis.VerificationDetailApi.as_view(),
        name="verification",
    ),
]
