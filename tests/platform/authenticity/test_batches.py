"""Batch checks: a zip of images or a CSV of token ids in, one CSV and one PDF out."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable

import pytest
from authenticity import tasks
from authenticity.models import VerificationBatch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from studio.models import Work

from accounts.models import Role, User
from core.models import Job, JobState
from tests.platform.authenticity.conftest import jpeg_copy, monets, painting

pytestmark = pytest.mark.django_db

PISSARRO = "camille_pissarro_0001_the-hill-at-jallais-pontoise-1875.jpg"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_images_gives_a_row_per_image_and_a_csv_and_pdf(
    client: Client, make_user: Callable[..., User], make_painting_work: Callable[..., Work]
) -> None:
    gallery, artist = make_user(Role.GALLERY), make_user(Role.ARTIST)
    works = [make_painting_work(artist, path, seed=n) for n, path in enumerate(monets(4), 1)]
    with works[1].image.open("rb") as stored:
        copy = jpeg_copy(stored.read(), scale=0.5, quality=60)
    upload = _zip(
        {
            "fair/copy.jpg": copy,
            "fair/pissarro.jpg": painting(PISSARRO).read_bytes(),
            "fair/broken.png": b"\x89PNG\r\n\x1a\nnot really",
            "__MACOSX/._copy.jpg": b"junk",
        }
    )
    client.force_login(gallery)

    sent = client.post(
        reverse("authenticity:batch-new"), {"file": SimpleUploadedFile("fair.zip", upload)}
    )
    assert sent.status_code == 302, sent.content.decode()[:2000]
    batch = VerificationBatch.objects.get()
    assert batch.item_count == 3
    tasks.verify_batch.run(str(batch.job_id))
    batch.refresh_from_db()

    assert Job.objects.get(pk=batch.job_id).state == JobState.SUCCEEDED
    rows = {row["item"]: row for row in batch.rows}
    assert rows["fair/copy.jpg"]["verdict"] == "probable"
    assert rows["fair/copy.jpg"]["work_title"]
    assert rows["fair/pissarro.jpg"]["verdict"] == "no_match"
    assert "cannot be checked" in rows["fair/broken.png"]["error"]
    exported = client.get(reverse("authenticity:batch-csv", args=[batch.pk])).content.decode()
    table = list(csv.DictReader(io.StringIO(exported)))
    assert [row["item"] for row in table] == [
        "fair/copy.jpg",
        "fair/pissarro.jpg",
        "fair/broken.png",
    ]
    assert table[0]["report"].startswith("http://testserver/verify/")
    assert table[2]["error"]
    pdf = client.get(reverse("authenticity:batch-pdf", args=[batch.pk]))
    assert pdf.content.startswith(b"%PDF")
    page = client.get(reverse("authenticity:batch", args=[batch.pk])).content.decode()
    assert "Probably a registered work" in page


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("ids.csv", b"token_id\n1\ntwelve\n3\n-4\n", "line 3: 'twelve' is not a token id"),
        ("ids.csv", b"work,owner\n1,2\n", "needs a token_id column"),
        ("notes.zip", _zip({"a.txt": b"hello"}), "a.txt in the zip is not an image file"),
        ("bomb.zip", _zip({"big.png": b"\0" * (20 * 2**20)}), "refused as a zip bomb"),
        ("empty.zip", _zip({}), "holds nothing to check"),
    ],
    ids=["bad-row", "no-column", "not-images", "zip-bomb", "empty"],
)
def test_a_bad_batch_is_refused_whole_with_the_reason_and_nothing_queued(
    make_user: Callable[..., User], name: str, data: bytes, reason: str
) -> None:
    api = APIClient()
    api.force_authenticate(make_user(Role.GALLERY))

    answer = api.post("/api/v1/verifications/batches", {"file": SimpleUploadedFile(name, data)})

    assert answer.status_code == 400
    assert reason in answer.json()["error"]["message"]
    assert not VerificationBatch.objects.exists()
    assert not Job.objects.exists()


def test_batches_are_for_galleries(api: APIClient, artist: User) -> None:
    api.force_authenticate(artist)
    answer = api.post(
        "/api/v1/verifications/batches", {"file": SimpleUploadedFile("ids.csv", b"1\n")}
    )
    assert answer.status_code == 403
