"""Chains for the provenance tests: an in-process EVM (eth-tester) per test, funded dev accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from provenance.node import AnvilNode
from tests.helpers import REPO

# eth-tester's first ten accounts come from these keys (its defaults); each holds 1,000,000 ether.
TESTER_KEYS = [f"0x{index:064x}" for index in range(1, 11)]


@pytest.fixture
def tester() -> Web3:
    """A fresh in-process EVM (eth-tester on py-evm) with ten funded accounts."""
    return Web3(EthereumTesterProvider())


@pytest.fixture
def tester_accounts() -> list[LocalAccount]:
    """The local accounts whose keys fund eth-tester's default accounts."""
    return [Account.from_key(key) for key in TESTER_KEYS]


# -- a real anvil (provenance.node) ------------------------------------------------------------


@pytest.fixture
def anvil_node(tmp_path: Path) -> Iterator[AnvilNode]:
    """A real anvil from node_modules on a free port, chain id 31337, its state in tmp_path."""
    if not (REPO / "node_modules" / ".bin" / "anvil").exists():
        pytest.fail(f"anvil is missing in {REPO / 'node_modules'}; `make install-dev` installs it")
    node = AnvilNode(project_root=REPO, state_path=tmp_path / "anvil-state.json")
    with node:
        yield node
