"""Uploading a portfolio: files and zips are taken or refused per file, with the reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from studio.models import Dataset, DatasetState
from studio.services import dataset_folder, dataset_prepare

from accounts.models import User
from core.models import Job, JobState
from core.progress import run_job
from tests.platform.studio.conftest import png

pytestmark = pytest.mark.django_db


def _prepare(dataset: Dataset) -> Dataset:
    """Run the dataset's job here, in-process (the worker tests run it on a real worker)."""
    assert dataset.job is not None
    run_job(
        dataset.job.pk, lambda progress: dataset_prepare(dataset_id=dataset.pk, progress=progress)
    )
    dataset.refresh_from_db()
    return dataset


def test_a_zip_upload_is_prepared_with_a_per_file_report(
    client: Client, artist: User, portfolio_zip: Callable[..., SimpleUploadedFile]
) -> None:
    client.force_login(artist)

    response = client.post(
        reverse("studio:dataset-new"),
        {"name": "Fuji", "resolution": "64", "images": [portfolio_zip(12)]},
    )

    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("studio:dataset", args=[dataset.pk])
    assert dataset.job is not None
    assert (dataset.job.kind, dataset.job.task_name) == ("dataset", "studio.prepare_dataset")
    dataset = _prepare(dataset)
    assert (dataset.state, dataset.image_count, dataset.refused_count) == (
        DatasetState.READY,
        12,
        2,
    )
    refused = {item["name"]: item["reason"] for item in dataset.report["refused"]}
    assert set(refused) == {"fuji.zip/fuji/broken.jpg", "fuji.zip/fuji/zz-copy.jpg"}
    assert "duplicate" in refused["fuji.zip/fuji/zz-copy.jpg"]
    assert len(dataset.manifest_hash) == 64
    page = client.get(reverse("studio:dataset", args=[dataset.pk])).content.decode()
    assert "broken.jpg" in page
    assert "Start training" in page


def test_loose_files_are_taken_too(client: Client, artist: User) -> None:
    client.force_login(artist)
    files = [SimpleUploadedFile(f"{n}.png", png((n * 20, 90, 200))) for n in range(9)]

    client.post(
        reverse("studio:dataset-new"), {"name": "Squares", "resolution": "64", "images": files}
    )

    dataset = _prepare(Dataset.objects.get())
    assert dataset.image_count == 9
    assert [item["name"] for item in dataset.report["accepted"]][:2] == ["0.png", "1.png"]


def test_an_upload_with_nothing_usable_fails_with_the_reasons(client: Client, artist: User) -> None:
    client.force_login(artist)
    junk = SimpleUploadedFile("notes.txt", b"just text")
    client.post(
        reverse("studio:dataset-new"), {"name": "Junk", "resolution": "64", "images": [junk]}
    )
    dataset = Dataset.objects.get()

    dataset = _prepare(dataset)

    assert dataset.state == DatasetState.FAILED
    assert dataset.job is not None
    job = Job.objects.get(pk=dataset.job.pk)
    assert job.state == JobState.FAILED
    assert "notes.txt" in job.error


def test_an_upload_without_files_is_a_400_and_stores_nothing(client: Client, artist: User) -> None:
    client.force_login(artist)

    response = client.post(reverse("studio:dataset-new"), {"name": "Empty", "resolution": "64"})

    assert response.status_code == 400
    assert not Dataset.objects.exists()
    assert not Job.objects.exists()


def test_the_api_takes_a_multipart_upload(
    api: APIClient, artist: User, portfolio_zip: Callable[..., SimpleUploadedFile]
) -> None:
    api.force_authenticate(artist)

    response = api.post(
        reverse("api:studio-datasets"),
        {"name": "Fuji", "resolution": 64, "files": [portfolio_zip(9)]},
        format="multipart",
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["name"], body["state"], body["resolution"]) == ("Fuji", "preparing", 64)
    dataset = _prepare(Dataset.objects.get(pk=body["id"]))
    detail = api.get(reverse("api:studio-dataset", args=[dataset.pk])).json()
    assert detail["image_count"] == 9
    assert detail["state"] == "ready"


def test_other_roles_cannot_use_the_studio(
    client: Client, api: APIClient, gallery_user: User
) -> None:
    client.force_login(gallery_user)
    api.force_authenticate(gallery_user)

    assert client.get(reverse("studio:index")).status_code == 403
    assert api.get(reverse("api:studio-datasets")).status_code == 403


def test_an_artist_sees_only_their_own_datasets(
    client: Client, make_user: Callable[..., User], artist: User
) -> None:
    other = make_user()
    client.force_login(other)
    client.post(
        reverse("studio:dataset-new"),
        {
            "name": "Mine",
            "resolution": "64",
            "images": [SimpleUploadedFile("a.png", png((1, 2, 3)))],
        },
    )
    dataset = Dataset.objects.get()
    client.force_login(artist)

    assert client.get(reverse("studio:dataset", args=[dataset.pk])).status_code == 404
    assert b"Mine" not in client.get(reverse("studio:index")).content
    assert dataset_folder(dataset).is_dir()  # stored for its owner, untouched


def test_the_generate_form_takes_seeds_or_a_count_of_random_ones() -> None:
    from studio.forms import GenerateForm

    by_seeds = GenerateForm({"seeds": "0-2,7", "truncation": "0.7"})
    at_random = GenerateForm({"random": "5", "truncation": "1"})
    both = GenerateForm({"seeds": "1", "random": "2", "truncation": "1"})
    neither = GenerateForm({"truncation": "1"})

    assert by_seeds.is_valid()
    assert by_seeds.cleaned_data["seeds"] == [0, 1, 2, 7]
    assert at_random.is_valid()
    assert len(set(at_random.cleaned_data["seeds"])) == 5
    assert not both.is_valid()
    assert not neither.is_valid()
    assert "Give either seeds" in str(neither.errors)
