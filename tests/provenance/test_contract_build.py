"""The committed contract artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from provenance.contract import load_artifact
from provenance.errors import ArtifactMissing
from tests.helpers import REPO

CONTRACTS = REPO / "provenance" / "contracts"
COMMITTED = CONTRACTS / "build"
NAMES = ["AtelierWorks", "SmartWallet", "NonReceiver"]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifacts compile.mjs writes now, into a scratch folder."""
    if not (REPO / "node_modules" / "solc").is_dir():
        pytest.fail("solc-js is missing from node_modules; `make test` installs it with npm ci.")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the contracts are compiled with solc-js under node.")
    out = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [node, str(CONTRACTS / "compile.mjs"), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"compile.mjs failed:\n{result.stderr}"
    return out


def test_the_rebuild_writes_exactly_the_committed_artifacts(rebuilt: Path) -> None:
    assert sorted(path.name for path in rebuilt.iterdir()) == sorted(f"{n}.json" for n in NAMES)
    for name in NAMES:
        committed = (COMMITTED / f"{name}.json").read_bytes()
        assert (rebuilt / f"{name}.json").read_bytes() == committed, (
            f"{name}.json is stale: run `npm run compile-contracts` and commit the build"
        )


@pytest.mark.parametrize("name", NAMES)
def test_an_artifact_records_its_compiler_and_the_sources_it_was_built_from(name: str) -> None:
    document = json.loads((COMMITTED / f"{name}.json").read_text())

    assert list(document) == [
        "contractName",
        "abi",
        "bytecode",
        "deployedBytecode",
        "compiler",
        "sourceHashes",
    ]
    assert document["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    package = json.loads((REPO / "package.json").read_text())
    assert document["compiler"]["version"].startswith(package["dependencies"]["solc"] + "+")
    for source, digest in document["sourceHashes"].items():
        path = (
            REPO / "node_modules" / source if source.startswith("@openzeppelin/") else REPO / source
        )
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, source


@pytest.mark.parametrize("name", NAMES)
def test_load_artifact_reads_the_committed_build(name: str) -> None:
    artifact = load_artifact(name)

    assert artifact.name == name
    assert artifact.bytecode.startswith("0x6")
    assert artifact.deployed_bytecode.startswith("0x6")
    assert any(entry["type"] == "function" for entry in artifact.abi)


@pytest.mark.parametrize("name", ["Missing", "../build/AtelierWorks", ""])
def test_load_artifact_of_an_unknown_contract_says_what_to_do(name: str) -> None:
    with pytest.raises(ArtifactMissing, match="contract"):
        load_artifact(name)


def test_load_artifact_defaults_to_atelier_works() -> None:
    assert load_artifact().name == "AtelierWorks"
