"""Fixtures for platform tests: people of each role, API clients, real workers and a real chain."""

from __future__ import annotations

import ctypes
import io
import shutil
import signal
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.services import user_create
from provenance.node import AnvilNode
from tests.helpers import REPO, child_env, database_url, stop, wait_until

PASSWORD = "correct horse battery staple"
REDIS_URL = "redis://127.0.0.1:6379/15"
PAINTINGS = REPO.parent / "shared" / "data" / "paintings"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()


@pytest.fixture(autouse=True)
def _own_media_root(settings: Any, tmp_path: Path) -> None:
    """Each test stores its files (uploads, runs, works) in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Create a person of a role, with PASSWORD."""

    def make(role: Role = Role.ARTIST, username: str | None = None) -> User:
        return user_create(
            username=username or f"{role}-{uuid.uuid4().hex[:6]}",
            email="someone@example.org",
            password=PASSWORD,
            role=role,
        )

    return make


@pytest.fixture
def artist(make_user: Callable[..., User]) -> User:
    return make_user(Role.ARTIST)


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user(Role.STAFF)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@contextmanager
def running_worker(
    broker_url: str, log_dir: Path, *, queues: str = "default,gpu,chain", **extra_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on the test database, consuming `queues` from `broker_url`."""
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    env = child_env(
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=broker_url,
        ATELIER_VAR_DIR=str(settings.VAR_DIR),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        **extra_env,
    )
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queues,
        "--pool",
        "solo",
        "--without-mingle",
        "--without-gossip",
        "--purge",
        "--loglevel",
        "INFO",
        "--hostname",
        f"test-{uuid.uuid4().hex[:6]}@%h",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # a killed test run leaves no worker behind
        )
    try:
        wait_until(
            lambda: "ready." in log_path.read_text() or process.poll() is not None,
            timeout=60,
            what="the Celery worker to start",
        )
        assert process.poll() is None, f"the worker exited at start:\n{log_path.read_text()}"
        yield process
    finally:
        stop(process)
        print(log_path.read_text())  # shown by pytest when a test fails


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the test process dies, however it dies."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@pytest.fixture
def filesystem_worker(transactional_db: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on the embedded filesystem broker (the one the test process publishes to)."""
    assert settings.CELERY_BROKER_URL.startswith("filesystem://")
    queue_dir = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    shutil.rmtree(queue_dir, ignore_errors=True)  # messages a killed earlier run left behind
    queue_dir.mkdir(parents=True)
    with running_worker(settings.CELERY_BROKER_URL, tmp_path) as process:
        yield process


@pytest.fixture
def redis_worker(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    """A worker on Redis (127.0.0.1:6379, database 15); yields the broker URL to publish to."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        pytest.fail(f"Redis is not running on 127.0.0.1:6379 ({error}); start it, see README.")
    with running_worker(REDIS_URL, tmp_path):
        yield REDIS_URL


@pytest.fixture(scope="session")
def anvil() -> Iterator[str]:
    """A real local EVM node (anvil, from node_modules) with chain id 31337; yields its RPC URL."""
    with AnvilNode(project_root=REPO, chain_id=31337) as node:
        yield node.rpc_url


@pytest.fixture
def hokusai() -> list[Path]:
    """Hokusai's 36 views of Mount Fuji (real JPEGs from ../shared/data)."""
    folder = PAINTINGS / "katsushika_hokusai"
    if not folder.is_dir():
        pytest.fail(f"the shared paintings are missing: expected {folder} (see ../shared/data)")
    return sorted(folder.glob("*.jpg"))


@pytest.fixture
def portfolio_zip(hokusai: list[Path]) -> Callable[..., SimpleUploadedFile]:
    """A zip of the first `count` Hokusai prints plus a broken file and a duplicate."""

    def make(count: int = 12) -> SimpleUploadedFile:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in hokusai[:count]:
                archive.writestr(f"fuji/{path.name}", path.read_bytes())
            archive.writestr("fuji/broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
            archive.writestr("fuji/zz-copy.jpg", hokusai[0].read_bytes())  # sorted last
            archive.writestr("__MACOSX/._fuji", b"junk")
        return SimpleUploadedFile("fuji.zip", buffer.getvalue(), content_type="application/zip")

    return make
