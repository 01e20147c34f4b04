"""Studio fixtures (the portfolio fixtures live in tests/platform/conftest.py)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from accounts.models import Role, User


def png(color: tuple[int, int, int], size: int = 96) -> bytes:
    """A small solid-colour PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def gallery_user(make_user: Callable[..., User]) -> User:
    return make_user(Role.GALLERY)
