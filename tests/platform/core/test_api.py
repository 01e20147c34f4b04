"""The API's one error format, its schema and local docs, and the jobs endpoints."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core.models import Job, JobState

pytestmark = pytest.mark.django_db


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == response.status_code  # type: ignore[attr-defined]
    return body["error"]


def test_unauthenticated_calls_get_401_in_the_error_format(api: APIClient) -> None:
    response = api.get(reverse("api:me"))

    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"


def test_an_unknown_api_address_is_a_json_404(api: APIClient) -> None:
    response = api.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert _error(response)["message"] == "No API endpoint at /api/v1/nothing-here/."


def test_validation_errors_name_the_field(api: APIClient, staff: User) -> None:
    api.force_authenticate(staff)

    response = api.post(reverse("api:selftest"), {"queue": "tpu"}, format="json")

    error = _error(response)
    assert response.status_code == 400
    assert error["code"] == "invalid"
    assert "queue" in str(error["message"])
    assert "tpu" in str(error["message"])
    assert not Job.objects.exists()


def test_a_role_without_the_right_gets_403(api: APIClient, artist: User) -> None:
    api.force_authenticate(artist)

    response = api.post(reverse("api:selftest"), {"queue": "default"}, format="json")

    assert response.status_code == 403
    assert _error(response)["code"] == "permission_denied"


def test_a_job_of_someone_else_is_a_404_and_cannot_be_cancelled(
    api: APIClient, artist: User, staff: User
) -> None:
    job = Job.objects.create(kind="selftest", owner=staff)
    api.force_authenticate(artist)

    assert api.get(reverse("api:job-detail", args=[job.pk])).status_code == 404
    response = api.post(reverse("api:job-cancel", args=[job.pk]))

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    job.refresh_from_db()
    assert not job.cancel_requested


def test_cancelling_an_ended_job_is_a_409(api: APIClient, artist: User) -> None:
    job = Job.objects.create(kind="selftest", owner=artist, state=JobState.SUCCEEDED)
    api.force_authenticate(artist)

    response = api.post(reverse("api:job-cancel", args=[job.pk]))

    assert response.status_code == 409
    assert "already ended" in str(_error(response)["message"])


def test_the_job_endpoint_returns_progress_and_log(api: APIClient, artist: User) -> None:
    job = Job.objects.create(
        kind="selftest",
        owner=artist,
        state=JobState.RUNNING,
        progress=0.25,
        message="step 1",
        log=["a"],
    )
    api.force_authenticate(artist)

    body = api.get(reverse("api:job-detail", args=[job.pk])).json()

    assert (body["state"], body["progress"], body["message"], body["log"]) == (
        "running",
        0.25,
        "step 1",
        ["a"],
    )
    assert body["is_final"] is False
    assert [j["id"] for j in api.get(reverse("api:job-list")).json()["results"]] == [str(job.pk)]


def test_the_schema_is_served_and_swagger_ui_uses_local_assets(client: Client) -> None:
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json")
    docs = client.get(reverse("api-docs")).content.decode()

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/me/", "/api/v1/jobs/{job_id}/", "/api/v1/auth/token/"} <= set(paths)
    assert "bearerToken" in schema.json()["components"]["securitySchemes"]
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower()
    assert "https://" not in docs
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
