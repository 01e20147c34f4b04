"""Verifying images and tokens against the registry: matches, watermark, chain, refusals, log."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from authenticity import tasks as authenticity_tasks
from authenticity.batch import batch_create
from authenticity.models import Fingerprint, Verdict, Verification
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image
from registry import tasks
from registry.models import MintState
from registry.services import (
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
)
from rest_framework.test import APIClient
from studio.models import Work
from studio.services import work_mark

from accounts.models import Role, User
from provenance.watermark import embed
from tests.platform.authenticity.conftest import (
    RegistryChain,
    jpeg_copy,
    monets,
    painting,
    png,
)

pytestmark = pytest.mark.django_db

PISSARRO = "camille_pissarro_0001_the-hill-at-jallais-pontoise-1875.jpg"


def _verify(client: Client, data: bytes, name: str = "copy.jpg") -> dict[str, Any]:
    response = client.post(
        reverse("authenticity:verify"), {"image": SimpleUploadedFile(name, data)}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    page = client.get(response["Location"])
    assert page.status_code == 200
    report: dict[str, Any] = page.context["report"]
    return report


def _registry(make_painting_work: Callable[..., Work], owner: User, count: int) -> list[Work]:
    return [
        make_painting_work(owner, path, seed=seed)
        for seed, path in enumerate(monets(count), start=1)
    ]


@pytest.mark.chain
def test_a_resized_recompressed_copy_of_a_minted_work_names_its_work_artist_token_and_lineage(
    registry_chain: RegistryChain,
    client: Client,
    artist: User,
    make_painting_work: Callable[..., Work],
) -> None:
    works = _registry(make_painting_work, artist, 12)
    work = works[5]
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(owner=artist, wallet=wallet, work=work, royalty_bps=500)
    certificate_sign_custodial(certificate=certificate, owner=artist)
    mint = mint_request(certificate=certificate, owner=artist)
    tasks.mint.run(str(mint.job_id))
    mint.refresh_from_db()
    assert mint.state == MintState.CONFIRMED, mint.error
    with work.image.open("rb") as stored:
        original = stored.read()

    report = _verify(client, jpeg_copy(original, scale=0.5, quality=60))

    assert report["verdict"]["code"] == Verdict.PROBABLE
    assert report["match"]["found"]
    assert report["match"]["method"] in ("hash", "local")
    registered = report["registered"]
    assert registered["work_id"] == work.pk
    assert registered["artist"] == artist.username
    assert registered["lineage"]["seed"] == work.seed
    assert registered["lineage"]["weights_sha256"] == work.model.weights_sha256
    assert registered["lineage"]["dataset_manifest_hash"] == work.model.run.dataset.manifest_hash
    chain = report["certificate"]["chain"]
    assert chain["minted"]
    assert chain["token_id"] == mint.token_id
    assert chain["mint_tx"] == mint.tx_hash
    assert report["certificate"]["signature"]["valid"]
    assert not report["evidence"]["decisive"]  # the file is a copy: nothing about it is exact
    assert any(f"token #{mint.token_id}" in item for item in report["evidence"]["strong"])

    by_token = APIClient().post("/api/v1/verifications", {"token_id": mint.token_id}, format="json")
    assert by_token.status_code == 201, by_token.content.decode()
    exact = by_token.json()
    assert exact["verdict"]["code"] == Verdict.REGISTERED
    assert exact["registered"]["work_id"] == work.pk
    assert f"these exact bytes are minted as token #{mint.token_id}" in " ".join(
        exact["evidence"]["decisive"]
    )

    # The same through a batch: a CSV of token ids, one unknown to the chain.
    gallery = User.objects.create_user(username="gallery-1", role=Role.GALLERY)
    batch = batch_create(
        requested_by=gallery, name="tokens.csv", data=f"token_id\n{mint.token_id}\n999\n".encode()
    )
    authenticity_tasks.verify_batch.run(str(batch.job_id))
    batch.refresh_from_db()
    assert batch.rows[0]["verdict"] == Verdict.REGISTERED
    assert batch.rows[0]["token_id"] == mint.token_id
    assert "Token 999 is not on the chain" in batch.rows[1]["error"]


def test_the_exact_file_is_decisive_and_an_unregistered_painting_gets_no_match(
    client: Client, artist: User, make_painting_work: Callable[..., Work]
) -> None:
    works = _registry(make_painting_work, artist, 12)
    with works[3].image.open("rb") as stored:
        exact = _verify(client, stored.read(), "same.png")

    assert exact["verdict"]["code"] == Verdict.REGISTERED
    assert exact["match"]["method"] == "exact"
    assert exact["registered"]["work_id"] == works[3].pk
    assert exact["evidence"]["decisive"] == ["the file's sha256 equals a registered image's"]

    stranger = _verify(client, painting(PISSARRO).read_bytes(), "pissarro.jpg")
    assert stranger["verdict"]["code"] == Verdict.NO_MATCH
    assert stranger["registered"] is None
    assert not stranger["match"]["found"]
    assert stranger["registry_size"] == 12


def test_a_watermarked_work_is_named_by_its_payload_even_from_a_jpeg(
    client: Client, artist: User, make_painting_work: Callable[..., Work]
) -> None:
    base = make_painting_work(artist, painting(PISSARRO), seed=40)
    mark = work_mark(base.model, kind="image", seed=40, truncation=1.0)
    with base.image.open("rb") as stored:
        marked = png(embed(Image.open(stored).convert("RGB"), mark))
    base.image.save("marked.png", ContentFile(marked), save=False)
    base.sha256 = hashlib.sha256(marked).hexdigest()
    base.mark = f"{mark:012x}"
    base.save()

    report = _verify(client, jpeg_copy(marked, quality=70))

    assert report["watermark"]["found"], report["watermark"]
    assert report["watermark"]["payload"] == f"{mark:012x}"
    assert report["registered"]["work_id"] == base.pk
    assert any("watermark names work" in item for item in report["evidence"]["strong"])


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels over a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _noise_png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    return png(Image.fromarray(pixels))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7 not an image", "not an image in an accepted format"),
        (_bomb_png(30_000, 30_000), "decompression bomb"),
        (_noise_png()[:2000], "damaged or truncated"),
        (b"\xff\xd8" + b"\0" * (26 * 2**20), "at most 25 MiB"),
    ],
    ids=["pdf", "bomb", "truncated", "huge"],
)
def test_files_that_are_not_images_are_refused_with_the_reason_and_nothing_logged(
    client: Client, data: bytes, reason: str
) -> None:
    response = client.post(
        reverse("authenticity:verify"), {"image": SimpleUploadedFile("x.png", data)}
    )

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Verification.objects.exists()


@pytest.mark.parametrize(
    "mode", ["CMYK", "I;16", "RGBA", "P", "L"], ids=["cmyk", "16bit", "alpha", "palette", "gray"]
)
def test_unusual_colour_modes_are_read_and_exif_rotation_is_undone(
    client: Client, artist: User, make_painting_work: Callable[..., Work], mode: str
) -> None:
    work = make_painting_work(artist, painting(PISSARRO), seed=3)
    with work.image.open("rb") as stored:
        image = Image.open(stored).convert("RGB")
    if mode == "I;16":
        variant = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
        assert variant.mode == "I;16"
    else:
        variant = image.convert(mode)
    buffer = io.BytesIO()
    variant.save(buffer, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")

    report = _verify(client, buffer.getvalue(), f"variant.{mode}")

    assert report["registered"]["work_id"] == work.pk, report["match"]

    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter: viewers turn it back
    image.rotate(90, expand=True).save(rotated, format="JPEG", quality=90, exif=exif)
    upright = _verify(client, rotated.getvalue(), "rotated.jpg")
    assert upright["query"]["width"] == image.width
    assert upright["registered"]["work_id"] == work.pk


def test_the_public_endpoint_is_rate_limited_per_address(settings: Any) -> None:
    settings.VERIFY_PER_MINUTE_ANON = 2
    api = APIClient()
    data = png(Image.new("RGB", (96, 96), "white"))
    answers = [
        api.post("/api/v1/verifications", {"image": SimpleUploadedFile("w.png", data)}).status_code
        for _ in range(3)
    ]

    assert answers == [201, 201, 429]
    refused = api.post("/api/v1/verifications", {"image": SimpleUploadedFile("w.png", data)})
    assert "verifications a minute" in refused.json()["error"]["message"]
    assert Verification.objects.count() == 2


def test_every_verification_is_logged_with_who_asked_and_what_was_found_and_has_a_pdf(
    client: Client, make_user: Callable[..., User], make_painting_work: Callable[..., Work]
) -> None:
    gallery = make_user(Role.GALLERY)
    artist = make_user(Role.ARTIST)
    work = make_painting_work(artist, painting(PISSARRO), seed=5)
    api = APIClient()
    api.force_authenticate(gallery)
    with work.image.open("rb") as stored:
        answer = api.post(
            "/api/v1/verifications", {"image": SimpleUploadedFile("a.png", stored.read())}
        )
    assert answer.status_code == 201
    body = answer.json()

    logged = Verification.objects.get(pk=body["id"])
    assert logged.requested_by == gallery
    assert logged.work == work
    assert logged.verdict == Verdict.REGISTERED
    assert len(logged.client) == 64
    assert "127.0.0.1" not in logged.client
    again = api.get(f"/api/v1/verifications/{body['id']}")
    assert again.json() == body

    client.force_login(gallery)
    log = client.get(reverse("authenticity:log")).content.decode()
    assert "a.png" in log
    assert "Registered work" in log
    pdf = client.get(reverse("authenticity:report-pdf", args=[body["id"]]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_the_index_command_fingerprints_every_registered_image_once(
    artist: User, make_painting_work: Callable[..., Work]
) -> None:
    from django.core.management import call_command

    _registry(make_painting_work, artist, 3)
    out = io.StringIO()
    call_command("authenticity_index", stdout=out)
    call_command("authenticity_index", stdout=out)

    assert "Indexed 3 registered images." in out.getvalue()
    assert "Indexed 0 registered images." in out.getvalue()
    assert Fingerprint.objects.count() == 3


def test_works_added_after_a_check_are_indexed_by_the_next_and_the_command_rescans_all(
    artist: User, make_painting_work: Callable[..., Work]
) -> None:
    from authenticity.services import verification_run

    works = _registry(make_painting_work, artist, 3)
    verification_run(image=painting(PISSARRO).read_bytes(), requested_by=None, client="10.0.0.3")
    later = make_painting_work(artist, painting(PISSARRO), seed=40)
    with later.image.open("rb") as stored:
        copy = jpeg_copy(stored.read(), scale=0.5)
    found = verification_run(image=copy, requested_by=None, client="10.0.0.3")
    assert found.work_id == later.pk
    # A fingerprint removed below this process's floor is not looked for by each check...
    Fingerprint.objects.filter(work=works[0]).delete()
    verification_run(image=copy, requested_by=None, client="10.0.0.3")
    assert not Fingerprint.objects.filter(work=works[0]).exists()
    # ... but the index command starts from the first work.
    call_command("authenticity_index", stdout=io.StringIO())
    assert Fingerprint.objects.filter(work=works[0]).exists()
    assert Fingerprint.objects.count() == 4


def test_a_crop_is_found_by_keypoints_read_back_from_the_rows_and_old_prints_are_remade(
    artist: User, make_painting_work: Callable[..., Work]
) -> None:
    from authenticity.fingerprints import matcher_forget
    from authenticity.services import verification_run

    from provenance.matching import WorkPrint

    works = _registry(make_painting_work, artist, 6)
    call_command("authenticity_index", stdout=io.StringIO())
    # The first work's print as an older version wrote it: format 1, keypoints weakest first.
    row = Fingerprint.objects.get(work=works[0])
    old = WorkPrint.from_bytes(bytes(row.print))
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(1),
        content_hash=np.frombuffer(old.content_hash or b"", dtype=np.uint8),
        code=old.code,
        points=old.features.points[::-1],
        descriptors=old.features.descriptors[::-1],
    )
    row.print = buffer.getvalue()
    row.save(update_fields=["print"])
    matcher_forget()
    with works[0].image.open("rb") as stored:
        original = stored.read()
    image = Image.open(io.BytesIO(original)).convert("RGB")
    width, height = image.size
    crop = io.BytesIO()
    image.crop((width // 4, height // 4, width, height)).save(crop, "JPEG", quality=90)
    copy = jpeg_copy(original, scale=0.5)

    before = verification_run(image=copy, requested_by=None, client="10.0.0.2")
    out = io.StringIO()
    call_command("authenticity_index", "--reprint", stdout=out)
    # This process's matcher still holds the removed row, which the hash matches first.
    after = verification_run(image=copy, requested_by=None, client="10.0.0.2")
    verification = verification_run(image=crop.getvalue(), requested_by=None, client="10.0.0.2")

    assert before.work_id == after.work_id == works[0].pk
    assert after.verdict == Verdict.PROBABLE
    assert "Remade 1 print." in out.getvalue()
    assert WorkPrint.from_bytes(bytes(Fingerprint.objects.get(work=works[0]).print)).version == 3
    assert Fingerprint.objects.count() == 6
    report = verification.report
    assert report["match"]["method"] == "local"
    assert report["match"]["inliers"] >= report["match"]["threshold"]
    assert verification.work_id == works[0].pk
    assert verification.verdict == Verdict.PROBABLE


@pytest.mark.django_db(transaction=True)
def test_threads_verifying_at_once_on_a_cold_matcher_all_get_answers(
    make_user: Callable[..., User], make_painting_work: Callable[..., Work]
) -> None:
    # gunicorn threads share one matcher whose indexes are built on the first search: the
    # first searches racing that build once raised IndexError (bench/verification_bench.py).
    from concurrent.futures import ThreadPoolExecutor

    from authenticity.fingerprints import matcher_forget
    from authenticity.services import verification_run
    from django.db import connections

    artist = make_user(Role.ARTIST)
    works = _registry(make_painting_work, artist, 6)
    copies = []
    for work in works:
        with work.image.open("rb") as stored:
            copies.append(jpeg_copy(stored.read(), scale=0.5, quality=70))
    copies += [painting(PISSARRO).read_bytes()] * 2
    call_command("authenticity_index", stdout=io.StringIO())
    matcher_forget()

    def check(data: bytes) -> str:
        try:
            return verification_run(image=data, requested_by=None, client="10.0.0.1").verdict
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(check, copies))

    assert verdicts == [Verdict.PROBABLE] * 6 + [Verdict.NO_MATCH] * 2


def test_an_unsigned_draft_certificate_stays_its_owners_alone(
    client: Client, artist: User, make_painting_work: Callable[..., Work], settings: Any
) -> None:
    settings.CHAIN_CONTRACT_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # signs offline
    work = make_painting_work(artist, painting(PISSARRO), seed=9)
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate_prepare(owner=artist, wallet=wallet, work=work, title="Secret", royalty_bps=0)

    with work.image.open("rb") as stored:
        report = _verify(client, stored.read(), "work.png")

    assert report["registered"]["work_id"] == work.pk
    assert report["certificate"] is None
    assert "Secret" not in str(report)


def test_an_upload_is_found_once_signed_and_a_check_with_nothing_new_asks_one_query(
    artist: User, settings: Any
) -> None:
    from authenticity.fingerprints import fingerprints_sync
    from authenticity.services import verification_run
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.CHAIN_CONTRACT_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # signs offline
    upload = painting(PISSARRO).read_bytes()
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, image=upload, image_name="harvest.jpg", title="Harvest"
    )
    copy = jpeg_copy(upload, scale=0.5)

    draft = verification_run(image=copy, requested_by=None, client="10.0.0.4")
    with CaptureQueriesContext(connection) as nothing_new:
        assert fingerprints_sync() == 0
    certificate_sign_custodial(certificate=certificate, owner=artist)
    signed = verification_run(image=copy, requested_by=None, client="10.0.0.4")

    assert draft.verdict == Verdict.NO_MATCH  # a draft is its owner's alone
    assert len(nothing_new) == 1  # the highest work and the newest signature, together
    assert signed.verdict == Verdict.PROBABLE
    assert signed.certificate_id == certificate.pk
    assert Fingerprint.objects.filter(certificate=certificate).count() == 1
