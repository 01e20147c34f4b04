"""The memorization check: a generated work's distance to its nearest training image."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from registry.models import Certificate
from registry.selectors import certificate_report
from registry.services import certificate_prepare, wallet_custodial_get_or_create
from studio import tasks as studio_tasks
from studio.models import Dataset, GanModel, TrainingRun, Work
from studio.services import dataset_create, dataset_folder

from accounts.models import User
from core.errors import InvalidInput
from gan.data import load_prepared
from tests.platform.authenticity.conftest import monets, png

pytestmark = pytest.mark.django_db


def _work_on(dataset: Dataset, owner: User, image: Image.Image, seed: int) -> Work:
    run = TrainingRun.objects.create(
        owner=owner, dataset=dataset, name="Fuji", preset="sketch", config={"steps": 1}
    )
    model = GanModel.objects.create(
        run=run, owner=owner, weights_sha256=hashlib.sha256(b"w%d" % seed).hexdigest(), card={}
    )
    data = png(image)
    work = Work(owner=owner, model=model, seed=seed, sha256=hashlib.sha256(data).hexdigest())
    work.image.save(f"w{seed}.png", ContentFile(data), save=False)
    work.save()
    return work


def test_a_work_that_copies_a_training_image_is_refused_and_others_show_their_distance(
    artist: User, portfolio_zip: Callable[..., SimpleUploadedFile], settings: Any
) -> None:
    settings.CHAIN_CONTRACT_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # signs offline
    dataset = dataset_create(owner=artist, name="Fuji", resolution=64, uploads=[portfolio_zip(12)])
    studio_tasks.prepare_dataset.run(str(dataset.job_id))
    dataset = Dataset.objects.get(pk=dataset.pk)
    prepared = load_prepared(dataset_folder(dataset) / "prepared")
    copied = Image.fromarray(prepared.images[4].permute(1, 2, 0).numpy())
    copy = _work_on(dataset, artist, copied, seed=1)
    fresh = _work_on(dataset, artist, Image.open(monets(1)[0]).convert("RGB").resize((64, 64)), 2)
    wallet = wallet_custodial_get_or_create(owner=artist)

    with pytest.raises(InvalidInput) as refused:
        certificate_prepare(owner=artist, wallet=wallet, work=copy, royalty_bps=0)

    assert f"near-copy of the training image {prepared.names[4]!r}" in refused.value.message
    assert "0 of 256 hash bits apart" in refused.value.message
    assert not Certificate.objects.exists()

    certificate = certificate_prepare(owner=artist, wallet=wallet, work=fresh, royalty_bps=0)
    memorization = certificate_report(certificate, with_chain=False)["lineage"]["memorization"]
    assert memorization["checked"]
    assert not memorization["near_copy"]
    assert memorization["distance"] > memorization["threshold"]
    assert memorization["nearest"] in prepared.names
