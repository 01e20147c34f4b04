"""The code version recorded with every run and model: a hash of this package's source."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


@cache
def code_version() -> str:
    """SHA-256 (first 16 hex digits) over the gan package's Python sources, in path order.

    A hash rather than a git revision: it is exact for what actually ran, and needs no git on a
    GPU machine that received a copy of the code.
    """
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
