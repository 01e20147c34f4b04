"""provenance.node: anvil as a managed child process, its chain kept in a state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from provenance.errors import NodeError
from provenance.node import ANVIL_CHAIN_ID, AnvilNode, find_anvil
from provenance.node import ANVIL_DEV_KEY as ANVIL_KEY
from tests.helpers import REPO

pytestmark = pytest.mark.chain

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def _web3(node: AnvilNode) -> Web3:
    return Web3(HTTPProvider(node.rpc_url, request_kwargs={"timeout": 5}))


def test_node_serves_chain_31337_on_a_port_it_picked(anvil_node: AnvilNode) -> None:
    web3 = _web3(anvil_node)

    assert anvil_node.port != 0
    assert web3.eth.chain_id == ANVIL_CHAIN_ID
    assert anvil_node.dev_accounts()[0] == Account.from_key(ANVIL_KEY).address


def test_find_anvil_prefers_the_npm_platform_binary_over_the_node_wrapper() -> None:
    binary = find_anvil(REPO)

    assert binary.name == "anvil"
    assert "@foundry-rs" in binary.parts
    assert binary.read_bytes()[:4] != b"#!/u", "expected the native binary, not bin.mjs"


def test_balance_after_a_transfer_survives_stop_and_start(tmp_path: Path) -> None:
    state = tmp_path / "chain" / "state.json"
    sender = Account.from_key(ANVIL_KEY)
    node = AnvilNode(project_root=REPO, state_path=state)

    with node:
        web3 = _web3(node)
        raw = sender.sign_transaction(
            {
                "type": 2,
                "chainId": ANVIL_CHAIN_ID,
                "nonce": 0,
                "to": RECIPIENT,
                "value": 12345,
                "gas": 21_000,
                "maxFeePerGas": 3 * 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
        ).raw_transaction
        web3.eth.wait_for_transaction_receipt(web3.eth.send_raw_transaction(raw), timeout=10)
        height = web3.eth.block_number
    assert state.is_file(), "anvil should write its state on SIGTERM"

    with node:  # same object, same port, same state file
        web3 = _web3(node)
        assert web3.eth.get_balance(RECIPIENT) == 12345
        assert web3.eth.get_transaction_count(sender.address) == 1
        assert web3.eth.block_number == height


def test_stop_ends_the_whole_process_group(anvil_node: AnvilNode) -> None:
    group = anvil_node.pid
    assert group is not None
    assert anvil_node.running

    anvil_node.stop()

    assert not anvil_node.running
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_a_node_that_cannot_start_reports_anvils_own_error(tmp_path: Path) -> None:
    broken = tmp_path / "state.json"
    broken.write_text("this is not json")

    with pytest.raises(NodeError, match=r"exited with code \d+ at start(.|\n)*state"):
        AnvilNode(project_root=REPO, state_path=broken).start()


def test_a_port_in_use_is_reported_with_anvils_message(anvil_node: AnvilNode) -> None:
    second = AnvilNode(project_root=REPO, port=anvil_node.port)

    with pytest.raises(NodeError, match=r"(?i)address already in use"):
        second.start()
    assert not second.running


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "started_in_background", [False, True], ids=["foreground", "sigint-ignored"]
)
def test_run_node_prints_url_and_addresses_never_keys_and_stops_on_ctrl_c(
    tmp_path: Path, started_in_background: bool
) -> None:
    # A shell starts background jobs with SIGINT ignored; Ctrl-C must stop the node anyway.
    state = tmp_path / "state.json"
    code = (
        "import sys; from pathlib import Path; from provenance.node import run_node; "
        f"sys.exit(run_node(project_root=Path({str(REPO)!r}), port=0, "
        f"state_path=Path({str(state)!r})))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if started_in_background else None,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines) + rest

    assert process.returncode == 0, output
    assert "http://127.0.0.1:" in output
    assert Account.from_key(ANVIL_KEY).address in output
    assert ANVIL_KEY[2:] not in output.lower()
    assert "test test test" not in output  # nor the mnemonic
    assert "stopped" in output
    assert state.is_file()
