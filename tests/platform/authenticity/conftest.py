"""Authenticity fixtures: studio works made from real paintings, copies of them as galleries see."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from authenticity.fingerprints import matcher_forget
from django.core.files.base import ContentFile
from PIL import Image
from studio.models import Dataset, DatasetState, GanModel, TrainingRun, Work

from accounts.models import User
from tests.helpers import REPO
from tests.platform.registry.conftest import RegistryChain, registry_chain  # noqa: F401

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"


def painting(name: str) -> Path:
    """A shared painting by file name (its folder is the artist's)."""
    folder = re.split(r"_\d{4}_", name, maxsplit=1)[0]
    path = PAINTINGS / folder / name
    if not path.is_file():
        pytest.fail(f"the shared paintings are missing: expected {path}")
    return path


def monets(count: int) -> list[Path]:
    """The first `count` Monet paintings."""
    folder = PAINTINGS / "claude_monet"
    if not folder.is_dir():
        pytest.fail(f"the shared paintings are missing: expected {folder}")
    return sorted(folder.glob("*.jpg"))[:count]


def png(image: Image.Image) -> bytes:
    """PNG bytes of an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_copy(data: bytes, *, scale: float = 1.0, quality: int = 70) -> bytes:
    """What a gallery often holds: the image resized and recompressed as JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _fresh_matcher() -> Iterator[None]:
    """Each test's database starts empty: so does the process's matcher."""
    matcher_forget()
    yield
    matcher_forget()


@pytest.fixture
def make_painting_work(db: None) -> Callable[..., Work]:
    """A studio work whose image is a shared painting (PNG), with its whole lineage."""

    def make(owner: User, path: Path, seed: int = 7, mark: str = "") -> Work:
        dataset, _ = Dataset.objects.get_or_create(
            owner=owner,
            name="Impressions",
            defaults={
                "resolution": 256,
                "state": DatasetState.READY,
                "manifest_hash": hashlib.sha256(b"impressions").hexdigest(),
                "image_count": 300,
            },
        )
        run = TrainingRun.objects.create(
            owner=owner,
            dataset=dataset,
            name=f"Impressions {seed}",
            preset="sketch",
            config={"resolution": 256, "steps": 400, "seed": 0},
            step=400,
        )
        model = GanModel.objects.create(
            run=run,
            owner=owner,
            weights_sha256=hashlib.sha256(f"weights-{seed}-{owner.pk}".encode()).hexdigest(),
            card={"step": 400},
        )
        data = png(Image.open(path).convert("RGB"))
        work = Work(
            owner=owner,
            model=model,
            seed=seed,
            sha256=hashlib.sha256(data).hexdigest(),
            mark=mark,
        )
        work.image.save(f"work-{seed}.png", ContentFile(data), save=False)
        work.save()
        return work

    return make
