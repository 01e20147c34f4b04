"""The libraries stand without Django, and the repository root never shadows stdlib `platform`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.parametrize(
    "library",
    [
        "gan",
        "market",
        "provenance",
        "provenance.chain",
        "provenance.transactions",
        "provenance.cli",
    ],
)
def test_library_imports_in_a_fresh_interpreter_without_django(library: str) -> None:
    code = (
        f"import sys, {library}; "
        "frameworks = {'django', 'rest_framework', 'celery'}; "
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in frameworks); "
        "print(','.join(leaked))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env={"PATH": ""}
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{library} pulled in {result.stdout.strip()}"


def test_platform_module_from_the_repository_root_is_the_standard_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.system(), platform.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    system, path = result.stdout.split()
    assert system == __import__("platform").system()
    assert not path.startswith(str(REPO)), f"`import platform` found {path}"


def test_platform_folder_is_a_source_root_not_a_package() -> None:
    assert not (REPO / "platform" / "__init__.py").exists()
