"""Certify and mint on a real anvil: kept keys, wallet signatures, idempotent mints, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from registry import tasks
from registry.models import (
    Certificate,
    CertificateState,
    ChainTransaction,
    MintState,
    Wallet,
    WalletKind,
)
from registry.onchain import platform_signer
from registry.services import (
    certificate_attach_signature,
    certificate_export,
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
)
from studio.models import Work

from accounts.models import User
from core.errors import Conflict, InvalidInput, Unavailable
from core.models import Job
from provenance.certificate import SignedCertificate
from provenance.chain import Chain
from provenance.keys import Signer
from tests.platform.registry.conftest import ANVIL_KEY, RegistryChain, painting_png

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


def _run_mint_in_process(certificate: Certificate, owner: User) -> Any:
    """Request the mint and run its task body here (the worker path has its own test)."""
    mint = mint_request(certificate=certificate, owner=owner)
    tasks.mint.run(str(mint.job_id))
    mint.refresh_from_db()
    return mint


def test_a_custodial_key_certifies_and_mints_a_studio_work_with_its_lineage(
    registry_chain: RegistryChain, artist: User, make_work: Callable[..., Work]
) -> None:
    work = make_work(artist, seed=11)
    wallet = wallet_custodial_get_or_create(owner=artist)
    assert wallet.keystore is not None
    assert wallet.keystore["crypto"]["kdf"] == "scrypt"

    certificate = certificate_prepare(owner=artist, wallet=wallet, work=work, royalty_bps=750)
    certificate = certificate_sign_custodial(certificate=certificate, owner=artist)
    mint = _run_mint_in_process(certificate, artist)

    assert mint.state == MintState.CONFIRMED, mint.error
    record = registry_chain.chain.lookup(bytes.fromhex(certificate.content_hash))
    assert record is not None
    assert record.token_id == mint.token_id
    assert record.owner == record.creator == wallet.address
    assert record.royalty_bps == 750
    assert record.token_uri == certificate.metadata_uri
    assert record.generation_hash.hex() == certificate.generation_hash
    lineage = certificate.typed_data["message"]["generation"]
    assert lineage["modelHash"] == "0x" + work.model.weights_sha256
    assert lineage["seed"] == str(work.seed)
    assert ChainTransaction.objects.filter(tx_hash=mint.tx_hash, state="confirmed").exists()


def test_asking_to_mint_again_gives_the_same_mint_and_one_token(
    registry_chain: RegistryChain, artist: User, make_work: Callable[..., Work]
) -> None:
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(owner=artist, wallet=wallet, work=make_work(artist))
    certificate = certificate_sign_custodial(certificate=certificate, owner=artist)
    first = _run_mint_in_process(certificate, artist)

    again = mint_request(certificate=certificate, owner=artist)
    tasks.mint.run(str(again.job_id))  # the task run twice (a redelivery) changes nothing

    assert again.pk == first.pk
    assert registry_chain.chain.contract.functions.totalMinted().call() == 1
    assert ChainTransaction.objects.count() == 1


def test_a_browser_wallet_signature_is_checked_before_it_is_stored(
    registry_chain: RegistryChain, artist: User
) -> None:
    own = Account.create()
    wallet = Wallet.objects.create(owner=artist, address=own.address, kind=WalletKind.LINKED)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, image=painting_png(3), image_name="scan.png"
    )

    forged = Account.create().sign_message(encode_typed_data(full_message=certificate.typed_data))
    with pytest.raises(InvalidInput, match="not by the creator"):
        certificate_attach_signature(
            certificate=certificate, owner=artist, signature=forged.signature.to_0x_hex()
        )
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.DRAFT
    assert certificate.signature == ""

    signed = own.sign_message(encode_typed_data(full_message=certificate.typed_data))
    certificate = certificate_attach_signature(
        certificate=certificate, owner=artist, signature=signed.signature.to_0x_hex()
    )
    mint = _run_mint_in_process(certificate, artist)
    assert mint.state == MintState.CONFIRMED, mint.error

    exported = json.loads(certificate_export(certificate))
    recovered = Account.recover_message(
        encode_typed_data(full_message=exported["typed_data"]), signature=exported["signature"]
    )
    assert recovered == own.address
    assert SignedCertificate.from_json(exported).certificate.creator == own.address


def test_the_same_image_twice_and_broken_images_are_refused_with_nothing_stored(
    registry_chain: RegistryChain, artist: User
) -> None:
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate_prepare(owner=artist, wallet=wallet, image=painting_png(4), image_name="a.png")

    with pytest.raises(Conflict, match="already certified"):
        certificate_prepare(owner=artist, wallet=wallet, image=painting_png(4), image_name="b.png")
    with pytest.raises(InvalidInput, match=r"broken\.png"):
        certificate_prepare(
            owner=artist, wallet=wallet, image=b"\x89PNG not really", image_name="broken.png"
        )
    assert Certificate.objects.count() == 1


def test_a_mint_refused_by_the_contract_fails_with_the_reason_and_mints_nothing(
    registry_chain: RegistryChain, artist: User, settings: Any
) -> None:
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, image=painting_png(5), image_name="late.png"
    )
    certificate = certificate_sign_custodial(certificate=certificate, owner=artist)
    ours = registry_chain.chain.contract_address
    # The platform switched to another contract since: the certificate names the old one.
    settings.CHAIN_CONTRACT_ADDRESS = registry_chain.chain.deploy(
        Signer.from_key_dangerously(ANVIL_KEY)
    )
    registry_chain.chain.use_contract(ours)

    mint = _run_mint_in_process(certificate, artist)

    assert mint.state == MintState.FAILED
    assert "names contract" in mint.error
    job = Job.objects.get(pk=mint.job_id)
    assert job.state == "failed"
    assert "names contract" in job.error
    assert registry_chain.chain.contract.functions.totalMinted().call() == 0


def test_a_mint_waits_for_a_node_that_is_down_and_still_makes_exactly_one_token(
    registry_chain: RegistryChain, artist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, image=painting_png(6), image_name="storm.png"
    )
    certificate = certificate_sign_custodial(certificate=certificate, owner=artist)
    mint = mint_request(certificate=certificate, owner=artist)
    registry_chain.node.stop()  # its state (the contract) is saved and comes back on restart
    waits: list[str] = []

    def restart_while_waiting(seconds: float) -> None:
        waits.append("waited")
        if not registry_chain.node.running:
            registry_chain.node.start()

    monkeypatch.setattr("registry.services._pause", restart_while_waiting)
    tasks.mint.run(str(mint.job_id))

    mint.refresh_from_db()
    assert waits, "the mint never met the node being down"
    assert mint.state == MintState.CONFIRMED, mint.error
    chain = Chain.connect(registry_chain.node.rpc_url, registry_chain.chain.contract_address)
    assert chain.contract.functions.totalMinted().call() == 1
    assert chain.token_of_content(bytes.fromhex(certificate.content_hash)) == mint.token_id


def test_a_minting_account_without_funds_fails_clearly_and_spends_no_nonce(
    registry_chain: RegistryChain, artist: User, settings: Any, tmp_path: Any
) -> None:
    poor = tmp_path / "poor.key"
    poor.write_text(Account.create().key.hex())
    settings.CHAIN_SIGNER_KEY_FILE = str(poor)
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, image=painting_png(8), image_name="poor.png"
    )
    certificate = certificate_sign_custodial(certificate=certificate, owner=artist)

    mint = _run_mint_in_process(certificate, artist)

    assert mint.state == MintState.FAILED
    assert "insufficient funds" in mint.error.lower() or "cannot pay" in mint.error.lower()
    assert registry_chain.chain.contract.functions.totalMinted().call() == 0
    assert not ChainTransaction.objects.exclude(state="failed").exists()


def test_production_refuses_a_plain_hex_minting_key(settings: Any, tmp_path: Any) -> None:
    key_file = tmp_path / "minter.key"
    key_file.write_text(ANVIL_KEY)
    settings.CHAIN_SIGNER_KEY_FILE = str(key_file)
    settings.CHAIN_SIGNER_PASSWORD_FILE = None
    settings.PRODUCTION = True

    with pytest.raises(Unavailable, match="keystore v3"):
        platform_signer()
