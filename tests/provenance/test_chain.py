"""provenance.chain on an in-process EVM: deploy, mint, look up, and every refusal, said plainly."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from provenance.certificate import (
    Certificate,
    Domain,
    Generation,
    SignedCertificate,
    sign_certificate,
)
from provenance.chain import Chain
from provenance.errors import (
    ChainUnavailable,
    InsufficientFunds,
    InvalidCertificate,
    InvalidSignature,
    MintRefused,
)
from provenance.keys import Signer
from tests.helpers import free_port
from tests.provenance.conftest import TESTER_KEYS
from tests.provenance.contract_helpers import deploy

DEPLOYER = Signer.from_key_dangerously(TESTER_KEYS[0])
CREATOR = Signer.from_key_dangerously(TESTER_KEYS[1])
PAYER = Signer.from_key_dangerously(TESTER_KEYS[2])
STRANGER = Signer.from_key_dangerously(TESTER_KEYS[3])
URI = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
LINEAGE = Generation(
    model_hash=bytes.fromhex("11" * 32),
    dataset_hash=bytes.fromhex("22" * 32),
    config_hash=bytes.fromhex("33" * 32),
    seed=42,
)


@pytest.fixture
def chain() -> Chain:
    """A fresh in-process EVM with AtelierWorks deployed."""
    chain = Chain.in_process()
    chain.deploy(DEPLOYER)
    return chain


def _chain_time(chain: Chain) -> int:
    return int(chain.web3.eth.get_block("latest")["timestamp"])


def _certificate(
    chain: Chain,
    *,
    creator: str = CREATOR.address,
    content: bytes | None = None,
    nonce: int | None = None,
    deadline: int | None = None,
    generation: Generation | None = None,
) -> Certificate:
    return Certificate(
        creator=creator,
        content_hash=content if content is not None else secrets.token_bytes(32),
        generation=generation or Generation(),
        metadata_uri=URI,
        royalty_receiver=STRANGER.address,
        royalty_bps=750,
        nonce=nonce if nonce is not None else secrets.randbits(128),
        deadline=deadline if deadline is not None else _chain_time(chain) + 3600,
    )


def _signed(chain: Chain, **fields: Any) -> SignedCertificate:
    return sign_certificate(_certificate(chain, **fields), chain.domain(), CREATOR)


def _total_minted(chain: Chain) -> int:
    return int(chain.contract.functions.totalMinted().call())


# ---- deploy, mint, look up ----------------------------------------------------------------------


def test_deploy_gives_a_contract_with_code_and_nothing_minted(chain: Chain) -> None:
    assert chain.web3.eth.get_code(chain.contract_address)  # type: ignore[arg-type]
    assert chain.domain() == Domain(
        chain_id=chain.chain_id, verifying_contract=chain.contract_address
    )
    assert _total_minted(chain) == 0


def test_mint_gives_the_creator_token_one_whoever_pays(chain: Chain) -> None:
    signed = _signed(chain, generation=LINEAGE)

    receipt = chain.mint(signed, PAYER)

    assert receipt.token_id == 1
    assert receipt.creator == CREATOR.address
    assert receipt.content_hash == signed.certificate.content_hash
    assert receipt.generation_hash == LINEAGE.struct_hash()
    assert receipt.block_number == chain.block_number()
    assert _total_minted(chain) == 1


def test_lookup_returns_the_token_record(chain: Chain) -> None:
    signed = _signed(chain, generation=LINEAGE)
    receipt = chain.mint(signed, PAYER)

    record = chain.lookup(signed.certificate.content_hash)

    assert record is not None
    assert record.token_id == 1
    assert record.owner == CREATOR.address
    assert record.creator == CREATOR.address
    assert record.content_hash == signed.certificate.content_hash
    assert record.generation_hash == LINEAGE.struct_hash()
    assert record.token_uri == URI
    assert (record.royalty_receiver, record.royalty_bps) == (STRANGER.address, 750)
    assert record.mint_tx == receipt.tx_hash
    assert record.mint_block == receipt.block_number
    assert record.confirmations == 1


def test_confirmations_count_the_blocks_since_the_mint(chain: Chain) -> None:
    first = _signed(chain)
    chain.mint(first, PAYER)
    chain.mint(_signed(chain), PAYER)

    record = chain.lookup(first.certificate.content_hash)

    assert record is not None
    assert record.confirmations == 2


def test_lookup_of_content_never_minted_is_none(chain: Chain) -> None:
    assert chain.lookup(secrets.token_bytes(32)) is None
    assert chain.token_of_content(secrets.token_bytes(32)) is None


def test_registrations_lists_every_mint_oldest_first(chain: Chain) -> None:
    certificates = [_signed(chain) for _ in range(3)]
    receipts = [chain.mint(signed, PAYER) for signed in certificates]

    events = chain.registrations()

    assert [event.token_id for event in events] == [1, 2, 3]
    assert [event.tx_hash for event in events] == [receipt.tx_hash for receipt in receipts]
    assert [event.content_hash for event in events] == [
        signed.certificate.content_hash for signed in certificates
    ]
    assert {event.creator for event in events} == {CREATOR.address}
    assert chain.registrations(from_block=receipts[2].block_number) == events[2:]


def test_mint_records_the_nonce_as_used(chain: Chain) -> None:
    signed = _signed(chain)
    assert not chain.nonce_used(CREATOR.address, signed.certificate.nonce)

    chain.mint(signed, PAYER)

    assert chain.nonce_used(CREATOR.address, signed.certificate.nonce)


# ---- signatures: keys and EIP-1271 wallets ------------------------------------------------------


def test_is_valid_signature_accepts_the_creators_key_and_refuses_another(chain: Chain) -> None:
    signed = _signed(chain)
    forged = SignedCertificate(
        signed.certificate, signed.domain, STRANGER.sign_digest(signed.digest)
    )

    assert chain.is_valid_signature(signed)
    assert not chain.is_valid_signature(forged)


def test_an_eip1271_wallet_creator_signs_through_its_owner(chain: Chain) -> None:
    wallet = deploy(chain.web3, "SmartWallet", CREATOR.address).address
    certificate = _certificate(chain, creator=wallet)
    domain = chain.domain()
    by_owner = SignedCertificate(
        certificate, domain, CREATOR.sign_digest(certificate.digest(domain))
    )
    by_stranger = SignedCertificate(
        certificate, domain, STRANGER.sign_digest(certificate.digest(domain))
    )

    assert chain.is_valid_signature(by_owner)
    assert not chain.is_valid_signature(by_stranger)
    receipt = chain.mint(by_owner, PAYER)
    assert receipt.creator == wallet
    record = chain.token(receipt.token_id)
    assert record.owner == wallet


# ---- refusals: each one says why, and nothing is minted -----------------------------------------


def test_a_certificate_for_another_chain_id_is_refused(chain: Chain) -> None:
    certificate = _certificate(chain)
    domain = Domain(chain_id=chain.chain_id + 1, verifying_contract=chain.contract_address)
    signed = sign_certificate(certificate, domain, CREATOR)

    with pytest.raises(
        InvalidCertificate, match=rf"chain id {chain.chain_id + 1}.*{chain.chain_id}"
    ):
        chain.mint(signed, PAYER)
    assert _total_minted(chain) == 0


def test_a_certificate_for_another_contract_is_refused(chain: Chain) -> None:
    other = STRANGER.address  # any address that is not this chain's AtelierWorks
    signed = sign_certificate(_certificate(chain), Domain(chain.chain_id, other), CREATOR)

    with pytest.raises(InvalidCertificate, match=f"names contract {other}"):
        chain.mint(signed, PAYER)
    assert _total_minted(chain) == 0


def test_an_expired_certificate_is_refused(chain: Chain) -> None:
    deadline = _chain_time(chain) - 1
    signed = _signed(chain, deadline=deadline)

    with pytest.raises(MintRefused, match=f"expired at {deadline}") as refused:
        chain.mint(signed, PAYER)
    assert refused.value.name == "CertificateExpired"
    assert _total_minted(chain) == 0


def test_a_replayed_nonce_is_refused(chain: Chain) -> None:
    first = _signed(chain)
    chain.mint(first, PAYER)
    replay = _signed(chain, nonce=first.certificate.nonce)  # new content, same nonce

    with pytest.raises(MintRefused, match="already used") as refused:
        chain.mint(replay, PAYER)
    assert refused.value.name == "NonceAlreadyUsed"
    assert refused.value.arguments[1] == first.certificate.nonce
    assert _total_minted(chain) == 1


def test_the_same_certificate_twice_is_refused_as_a_replay(chain: Chain) -> None:
    signed = _signed(chain)
    chain.mint(signed, PAYER)

    with pytest.raises(MintRefused, match="already used"):
        chain.mint(signed, PAYER)
    assert _total_minted(chain) == 1


def test_a_signature_by_someone_else_is_refused(chain: Chain) -> None:
    certificate = _certificate(chain)
    domain = chain.domain()
    forged = SignedCertificate(
        certificate, domain, STRANGER.sign_digest(certificate.digest(domain))
    )

    with pytest.raises(MintRefused, match=f"not by the creator {CREATOR.address}") as refused:
        chain.mint(forged, PAYER)
    assert refused.value.name == "InvalidCertificateSignature"
    assert _total_minted(chain) == 0


def test_the_same_content_twice_is_refused(chain: Chain) -> None:
    content = secrets.token_bytes(32)
    chain.mint(_signed(chain, content=content), PAYER)
    again = _signed(chain, content=content)  # a fresh nonce: only the content repeats

    with pytest.raises(MintRefused, match="already registered as token #1") as refused:
        chain.mint(again, PAYER)
    assert refused.value.name == "ContentAlreadyRegistered"
    assert _total_minted(chain) == 1


def test_malformed_signature_bytes_are_refused_before_any_chain_call(chain: Chain) -> None:
    signed = _signed(chain)
    exported = signed.to_json()
    exported["signature"] = "0x" + "ab" * 64  # 64 bytes: no v

    with pytest.raises(InvalidSignature, match="65 bytes"):
        SignedCertificate(signed.certificate, signed.domain, signed.signature[:64])
    with pytest.raises(InvalidCertificate, match="malformed signature"):
        SignedCertificate.from_json(exported)
    assert _total_minted(chain) == 0


def test_a_royalty_above_half_is_refused_when_the_certificate_is_made(chain: Chain) -> None:
    with pytest.raises(InvalidCertificate, match="5000"):
        Certificate(
            creator=CREATOR.address,
            content_hash=secrets.token_bytes(32),
            metadata_uri=URI,
            royalty_receiver=CREATOR.address,
            royalty_bps=5001,
            nonce=1,
            deadline=_chain_time(chain) + 60,
        )


def test_a_payer_without_funds_is_told_so_and_nothing_is_minted(chain: Chain) -> None:
    broke = Signer.create()
    signed = _signed(chain)

    with pytest.raises(InsufficientFunds, match=f"{broke.address} cannot pay.*balance 0 wei"):
        chain.mint(signed, broke)
    assert _total_minted(chain) == 0
    assert chain.lookup(signed.certificate.content_hash) is None


def test_a_node_that_is_down_is_unavailable_naming_its_host() -> None:
    port = free_port()

    with pytest.raises(ChainUnavailable, match=rf"127\.0\.0\.1:{port}") as unavailable:
        Chain.connect(f"http://127.0.0.1:{port}/secret-api-key", timeout=2)
    assert "secret-api-key" not in str(unavailable.value)  # URL paths often hold API keys
