"""The committed ABI and bytecode of the provenance contracts (`npm run compile-contracts`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from provenance.errors import ArtifactMissing

BUILD_DIR = ("contracts", "build")


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI and its creation and runtime bytecode (0x-prefixed hex)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache  # every Chain loads it: read and parse the file once per process
def load_artifact(name: str = "AtelierWorks") -> Artifact:
    """The committed artifact of contract `name`; ArtifactMissing if it was never built."""
    if not name.isidentifier():
        raise ArtifactMissing(f"{name!r} is not a contract name; expected e.g. 'AtelierWorks'")
    resource = resources.files("provenance").joinpath(*BUILD_DIR, f"{name}.json")
    try:
        document = json.loads(resource.read_text(encoding="utf-8"))
        artifact = Artifact(
            name=str(document["contractName"]),
            abi=list(document["abi"]),
            bytecode=str(document["bytecode"]),
            deployed_bytecode=str(document["deployedBytecode"]),
        )
    except FileNotFoundError as error:
        raise ArtifactMissing(
            f"no artifact for contract {name!r} at provenance/{'/'.join(BUILD_DIR)}/{name}.json;"
            " run `npm run compile-contracts` (and check the package ships contracts/build/*.json)"
        ) from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ArtifactMissing(
            f"the artifact for contract {name!r} is unreadable ({type(error).__name__}: {error});"
            " rebuild it with `npm run compile-contracts`"
        ) from error
    if artifact.name != name:
        raise ArtifactMissing(
            f"the artifact {name}.json holds contract {artifact.name!r}; rebuild the artifacts"
        )
    return artifact
