"""`python -m provenance` run as a person would: real processes, a real anvil, a real painting."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance.certificate import SignedCertificate
from provenance.chain import Chain
from provenance.keys import Signer
from provenance.node import ANVIL_CHAIN_ID, AnvilNode
from provenance.node import ANVIL_DEV_KEY as ANVIL_KEY
from provenance.rpc import chain_id
from tests.helpers import REPO, free_port, port_open, stop, wait_until

pytestmark = pytest.mark.chain

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
PASSWORD = "correct horse battery staple"
OFFLINE_CHAIN_ID = 1  # mainnet: a chain none of these tests' nodes serve
OFFLINE_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first deployment


@dataclass(frozen=True)
class Keys:
    """A creator's keystore v3 file and its password file; the payer's hex key file (anvil's)."""

    creator: Signer
    keystore: Path
    password: Path
    wrong_password: Path
    payer: Path


def provenance(*args: str | Path | int, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m provenance ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with `code` and said why on one stderr line, with no traceback."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def painting() -> Path:
    """A real painting from the shared data set."""
    found = sorted(PAINTINGS.glob("*/*.jpg"))
    if not found:
        pytest.fail(f"no paintings in {PAINTINGS}: the shared data set is missing")
    return found[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """Key files as the CLI reads them (the keystore's scrypt made cheap for tests)."""
    folder = tmp_path_factory.mktemp("keys")
    creator = Signer.create()
    keystore = folder / "creator.json"
    keystore.write_text(json.dumps(creator.encrypt(PASSWORD, scrypt_n=2**10)))
    password = folder / "password.txt"
    password.write_text(PASSWORD + "\n")
    wrong_password = folder / "wrong.txt"
    wrong_password.write_text("hunter2\n")
    payer = folder / "payer.key"
    payer.write_text(ANVIL_KEY + "\n")
    return Keys(creator, keystore, password, wrong_password, payer)


@pytest.fixture(scope="module")
def offline_certificate(
    painting: Path, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A certificate made without a node, for chain 1 and a fixed contract address."""
    out = tmp_path_factory.mktemp("offline") / "certificate.json"
    result = provenance(
        "certify", painting, "--key", keys.keystore, "--password-file", keys.password,
        "--chain-id", OFFLINE_CHAIN_ID, "--contract", OFFLINE_CONTRACT, "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_deploy_certify_mint_lookup_and_verify_a_painting(
    anvil_node: AnvilNode, painting: Path, keys: Keys, tmp_path: Path
) -> None:
    rpc = anvil_node.rpc_url
    payer = ("--key", keys.payer)
    creator = ("--key", keys.keystore, "--password-file", keys.password)
    deployment_file, certificate = tmp_path / "deployment.json", tmp_path / "certificate.json"

    deployed = provenance("deploy", "--rpc", rpc, *payer, "--out", deployment_file)
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployment_file.read_text())
    contract = deployment["contract"]
    assert json.loads(deployed.stdout) == deployment
    assert deployment["chain_id"] == ANVIL_CHAIN_ID
    assert deployment["block"] >= 1

    unregistered = provenance("lookup", painting, "--rpc", rpc, "--contract", contract)
    assert "not registered" in assert_one_line_error(unregistered, 1)

    certified = provenance(
        "certify", painting, *creator, "--rpc", rpc, "--contract", contract,
        "--royalty-bps", 750, "--name", "Impression", "--out", certificate,
    )  # fmt: skip
    assert certified.returncode == 0, certified.stderr
    signed = SignedCertificate.loads(certificate.read_text())
    assert signed.certificate.creator == keys.creator.address
    assert signed.domain.chain_id == ANVIL_CHAIN_ID
    assert signed.domain.verifying_contract == contract
    assert signed.recovered_signer() == keys.creator.address
    assert signed.metadata is not None
    assert signed.metadata["name"] == "Impression"

    minted = provenance("mint", certificate, "--rpc", rpc, *payer)
    assert minted.returncode == 0, minted.stderr
    receipt = json.loads(minted.stdout)
    assert receipt["token_id"] == 1
    assert receipt["creator"] == keys.creator.address

    again = provenance("mint", certificate, "--rpc", rpc, *payer)
    assert "already used" in assert_one_line_error(again, 1)

    found = provenance("lookup", painting, "--rpc", rpc, "--contract", contract)
    assert found.returncode == 0, found.stderr
    token = json.loads(found.stdout)
    assert token["token_id"] == 1
    assert token["owner"] == token["creator"] == keys.creator.address
    assert token["content_hash"] == "0x" + signed.certificate.content_hash.hex()
    assert token["generation_hash"] == "0x" + signed.certificate.generation.struct_hash().hex()
    assert token["token_uri"] == signed.certificate.metadata_uri
    assert token["royalty"] == {"receiver": keys.creator.address, "bps": 750}
    assert token["mint_tx"] == receipt["tx_hash"]
    assert token["block"] == receipt["block"]
    assert token["confirmations"] >= 1
    assert Chain.connect(rpc, contract).contract.functions.totalMinted().call() == 1

    on_chain = provenance("verify", painting, certificate, "--rpc", rpc)
    assert on_chain.returncode == 0, on_chain.stderr
    for checked in ("content hash", "signature", "chain", "token", "creator"):
        assert f"ok    {checked}:" in on_chain.stdout
    offline = provenance("verify", painting, certificate)
    assert offline.returncode == 0, offline.stderr
    assert "offline" in offline.stdout

    shown = "".join(result.stdout + result.stderr for result in (deployed, certified, minted))
    assert ANVIL_KEY.removeprefix("0x") not in shown
    assert PASSWORD not in shown


def test_verify_names_the_content_hash_of_a_tampered_image(
    painting: Path, offline_certificate: Path, tmp_path: Path
) -> None:
    tampered = tmp_path / painting.name
    data = bytearray(painting.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))

    result = provenance("verify", tampered, offline_certificate)

    assert result.returncode == 1
    assert "FAIL  content hash: mismatch" in result.stderr
    assert "ok    signature:" in result.stdout  # the certificate itself is intact
    assert "Traceback" not in result.stderr


def test_verify_names_the_signer_of_a_replaced_signature(
    painting: Path, offline_certificate: Path, keys: Keys, tmp_path: Path
) -> None:
    exported = json.loads(offline_certificate.read_text())
    forger = Signer.create()
    exported["signature"] = "0x" + forger.sign_digest(bytes.fromhex(exported["digest"][2:])).hex()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(exported))

    result = provenance("verify", painting, forged)

    assert result.returncode == 1
    assert f"signed by {forger.address}, not by the creator {keys.creator.address}" in result.stderr
    assert "ok    content hash:" in result.stdout


def test_certify_offline_without_a_chain_id_says_what_is_missing(
    painting: Path, keys: Keys, tmp_path: Path
) -> None:
    result = provenance(
        "certify", painting, "--key", keys.keystore, "--password-file", keys.password,
        "--contract", OFFLINE_CONTRACT, "--out", tmp_path / "certificate.json",
    )  # fmt: skip

    assert "--chain-id" in assert_one_line_error(result, 2)
    assert not (tmp_path / "certificate.json").exists()


def test_a_wrong_keystore_password_is_said_plainly(
    painting: Path, keys: Keys, tmp_path: Path
) -> None:
    result = provenance(
        "certify", painting, "--key", keys.keystore, "--password-file", keys.wrong_password,
        "--chain-id", OFFLINE_CHAIN_ID, "--contract", OFFLINE_CONTRACT,
        "--out", tmp_path / "certificate.json",
    )  # fmt: skip

    assert "wrong password" in assert_one_line_error(result, 2)
    assert "hunter2" not in result.stderr


def test_mint_on_a_node_of_another_chain_is_refused(
    anvil_node: AnvilNode, offline_certificate: Path, keys: Keys
) -> None:
    result = provenance(
        "mint", offline_certificate, "--rpc", anvil_node.rpc_url, "--key", keys.payer
    )

    message = assert_one_line_error(result, 1)
    assert f"for chain id {OFFLINE_CHAIN_ID}" in message
    assert f"serves chain {ANVIL_CHAIN_ID}" in message


def test_node_serves_until_sigint_and_saves_its_state(tmp_path: Path) -> None:
    state, port, log = tmp_path / "chain" / "state.json", free_port(), tmp_path / "node.log"
    with log.open("wb") as output:
        node = subprocess.Popen(
            [sys.executable, "-m", "provenance", "node", "--state", state, "--port", str(port)],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "Ctrl-C stops the node." in log.read_text(),
            timeout=30,
            what="the node's banner",
        )
        assert chain_id(f"http://127.0.0.1:{port}") == ANVIL_CHAIN_ID

        node.send_signal(signal.SIGINT)
        node.wait(timeout=60)  # stop() may wait out a slow anvil: 15 s, then 15 s for its group
    finally:
        stop(node)  # only if the test failed before it stopped

    shown = log.read_text()
    assert node.returncode == 0, shown
    assert f"anvil listening at http://127.0.0.1:{port} (chain id {ANVIL_CHAIN_ID})" in shown
    assert f"chain saved to {state}" in shown
    assert json.loads(state.read_text())["block"]
    assert not port_open(port)
