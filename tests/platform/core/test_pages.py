"""The job pages and the self-test button."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from core.models import Job, JobState

pytestmark = pytest.mark.django_db


def test_staff_start_a_selftest_and_land_on_its_progress_page(client: Client, staff: User) -> None:
    client.force_login(staff)

    response = client.post(reverse("core:selftest"), {"queue": "gpu"})

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("core:job-detail", args=[job.pk])
    assert (job.kind, job.queue, job.owner, job.state) == (
        "selftest",
        "gpu",
        staff,
        JobState.PENDING,
    )
    page = client.get(response["Location"]).content.decode()
    assert 'id="job-progress"' in page
    assert reverse("api:job-detail", args=[job.pk]) in page


def test_an_unknown_queue_is_a_400_page_and_stores_nothing(client: Client, staff: User) -> None:
    client.force_login(staff)

    response = client.post(reverse("core:selftest"), {"queue": "tpu"})

    assert response.status_code == 400
    assert "Unknown queue &#x27;tpu&#x27;" in response.content.decode()
    assert not Job.objects.exists()


def test_cancel_from_the_page_stops_a_pending_job(client: Client, artist: User) -> None:
    job = Job.objects.create(kind="selftest", owner=artist)
    client.force_login(artist)

    client.post(reverse("core:job-cancel", args=[job.pk]))

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


def test_someone_elses_job_page_is_a_404(client: Client, artist: User, staff: User) -> None:
    job = Job.objects.create(kind="selftest", owner=staff)
    client.force_login(artist)

    assert client.get(reverse("core:job-detail", args=[job.pk])).status_code == 404
