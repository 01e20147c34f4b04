"""Registry fixtures: a real anvil with AtelierWorks deployed, the platform signer, studio works."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from PIL import Image
from studio.models import Dataset, DatasetState, GanModel, TrainingRun, Work

from accounts.models import Role, User
from provenance.chain import Chain
from provenance.keys import Signer
from provenance.node import ANVIL_DEV_KEY as ANVIL_KEY
from provenance.node import AnvilNode
from tests.helpers import REPO
from tests.platform.conftest import running_worker


@dataclass
class RegistryChain:
    """A running anvil with the contract deployed; the settings that point the platform at it."""

    node: AnvilNode
    chain: Chain
    env: dict[str, str]


@pytest.fixture
def registry_chain(settings: Any, tmp_path: Path) -> Iterator[RegistryChain]:
    """anvil (chain id 31337) with AtelierWorks deployed; settings (and `env`, for workers) set."""
    if not (REPO / "node_modules" / ".bin" / "anvil").exists():
        pytest.fail("anvil is missing under node_modules; `make install-dev` runs npm ci")
    key_file = tmp_path / "signer.key"
    key_file.write_text(ANVIL_KEY)
    with AnvilNode(project_root=REPO, state_path=tmp_path / "anvil-state.json") as node:
        chain = Chain.connect(node.rpc_url)
        address = chain.deploy(Signer.from_key_dangerously(ANVIL_KEY))
        env = {
            "CHAIN_RPC_URL": node.rpc_url,
            "CHAIN_ID": "31337",
            "CHAIN_CONTRACT_ADDRESS": address,
            "CHAIN_SIGNER_KEY_FILE": str(key_file),
            "CHAIN_STUCK_AFTER_SECONDS": "30",
        }
        settings.CHAIN_RPC_URL = node.rpc_url
        settings.CHAIN_ID = 31337
        settings.CHAIN_CONTRACT_ADDRESS = address
        settings.CHAIN_SIGNER_KEY_FILE = str(key_file)
        settings.CHAIN_SIGNER_PASSWORD_FILE = None
        settings.CHAIN_STUCK_AFTER_SECONDS = 30
        yield RegistryChain(node=node, chain=chain, env=env)


@pytest.fixture
def chain_worker(
    registry_chain: RegistryChain, transactional_db: None, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker on the `chain` queue (filesystem broker), pointed at `registry_chain`."""
    assert django_settings.CELERY_BROKER_URL.startswith("filesystem://")
    queue_dir = Path(str(django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
    shutil.rmtree(queue_dir, ignore_errors=True)  # messages a killed earlier run left behind
    queue_dir.mkdir(parents=True)
    with running_worker(
        django_settings.CELERY_BROKER_URL, tmp_path, queues="chain", **registry_chain.env
    ) as process:
        yield process


def painting_png(seed: int, size: int = 64) -> bytes:
    """A small PNG whose pixels depend on `seed` (distinct bytes for each seed)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def artist(make_user: Callable[..., User]) -> User:
    return make_user(Role.ARTIST)


@pytest.fixture
def make_work(db: None) -> Callable[..., Work]:
    """A studio work with its whole lineage (dataset, run, model) as the studio records it."""

    def make(owner: User, seed: int = 7) -> Work:
        dataset = Dataset.objects.create(
            owner=owner,
            name="Fuji",
            resolution=64,
            state=DatasetState.READY,
            manifest_hash=hashlib.sha256(b"manifest").hexdigest(),
            image_count=36,
        )
        run = TrainingRun.objects.create(
            owner=owner,
            dataset=dataset,
            name="Fuji sketch",
            preset="sketch",
            config={"resolution": 64, "steps": 400, "seed": 0},
            step=400,
        )
        model = GanModel.objects.create(
            run=run,
            owner=owner,
            weights_sha256=hashlib.sha256(f"weights-{seed}-{owner.pk}".encode()).hexdigest(),
            card={"step": 400},
        )
        data = painting_png(seed)
        work = Work(owner=owner, model=model, seed=seed, sha256=hashlib.sha256(data).hexdigest())
        work.image.save(f"work-{seed}.png", ContentFile(data), save=False)
        work.save()
        return work

    return make
