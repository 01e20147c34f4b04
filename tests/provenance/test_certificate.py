"""Certificates: the fast digest against the generic encoder and eth-account, export, tampering."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from provenance.certificate import (
    CERTIFICATE_TYPEHASH,
    FORMAT,
    GENERATION_TYPEHASH,
    MAX_ROYALTY_BPS,
    TYPES,
    Certificate,
    Domain,
    Generation,
    SignedCertificate,
    sign_certificate,
    verify_certificate,
)
from provenance.eip712 import (
    SECP256K1_N,
    checksum_address,
    hash_struct,
    keccak256,
    sign_digest_dangerously,
    type_hash,
    typed_data_digest,
)
from provenance.errors import InvalidCertificate, InvalidSignature
from provenance.keys import Signer

CREATOR_KEY = "0x" + "a1" * 32
OTHER_KEY = "0x" + "b2" * 32
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_CONTRACT = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
IMAGE = b"\x89PNG\r\n\x1a\n not really an image, but these exact bytes"
DEADLINE = 2_000_000_000  # 2033-05-18
NOW = 1_750_000_000


@pytest.fixture
def creator() -> Signer:
    """The artist's key."""
    return Signer.from_key_dangerously(CREATOR_KEY)


@pytest.fixture
def domain() -> Domain:
    """A local dev chain's AtelierWorks."""
    return Domain(chain_id=31337, verifying_contract=CONTRACT)


def _certificate(creator: Signer, /, **changes: Any) -> Certificate:
    fields: dict[str, Any] = {
        "creator": creator.address,
        "content_hash": hashlib.sha256(IMAGE).digest(),
        "metadata_uri": "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "royalty_receiver": creator.address,
        "royalty_bps": 750,
        "nonce": 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0,
        "deadline": DEADLINE,
        "generation": Generation(
            model_hash=hashlib.sha256(b"weights").digest(),
            dataset_hash=hashlib.sha256(b"manifest").digest(),
            config_hash=hashlib.sha256(b"config").digest(),
            seed=42,
        ),
    }
    fields.update(changes)
    return Certificate(**fields)


@pytest.fixture
def signed(creator: Signer, domain: Domain) -> SignedCertificate:
    """A certificate signed by its creator, with metadata attached."""
    return sign_certificate(
        _certificate(creator), domain, creator, metadata={"name": "Dusk", "tags": ["gan"]}
    )


# ---- the fast digest against the generic encoder and eth-account ------------------------------


def _random_address(rng: random.Random) -> str:
    return checksum_address(rng.randbytes(20))


def _random_certificate(rng: random.Random) -> tuple[bytes, Certificate, Domain]:
    key = rng.randbytes(32)
    creator = Account.from_key(key).address
    extreme = rng.random() < 0.2  # the ends of each range: zero, 2**255 and up, 2**256 - 1
    generation = (
        Generation()
        if rng.random() < 0.25
        else Generation(
            model_hash=rng.randbytes(32),
            dataset_hash=rng.randbytes(32),
            config_hash=rng.randbytes(32),
            seed=rng.choice([0, 2**256 - 1, 2**255]) if extreme else rng.getrandbits(64),
        )
    )
    text = "".join(rng.choice("abcXYZ019 /:.?=&é✓🎨") for _ in range(rng.randrange(0, 80)))
    certificate = Certificate(
        creator=creator,
        content_hash=rng.randbytes(32),
        generation=generation,
        metadata_uri=rng.choice(["", "ipfs://" + text, text]),
        royalty_receiver=rng.choice([creator, _random_address(rng)]),
        royalty_bps=rng.choice([0, MAX_ROYALTY_BPS]) if extreme else rng.randrange(MAX_ROYALTY_BPS),
        nonce=rng.choice([0, 2**256 - 1]) if extreme else rng.getrandbits(128),
        deadline=rng.choice([0, 2**256 - 1]) if extreme else rng.randrange(2**32),
    )
    domain = Domain(
        chain_id=rng.choice([1, 10, 8453, 31337, 11155111, 2**64, 2**256 - 1]),
        verifying_contract=_random_address(rng),
    )
    return key, certificate, domain


def test_type_hashes_are_the_specs_type_strings() -> None:
    generation = "Generation(bytes32 modelHash,bytes32 datasetHash,bytes32 configHash,uint256 seed)"
    certificate = (
        "Certificate(address creator,bytes32 contentHash,Generation generation,string metadataURI,"
        "address royaltyReceiver,uint96 royaltyBps,uint256 nonce,uint256 deadline)"
    )

    assert keccak256(generation.encode()) == GENERATION_TYPEHASH
    assert keccak256((certificate + generation).encode()) == CERTIFICATE_TYPEHASH
    assert type_hash("Certificate", TYPES) == CERTIFICATE_TYPEHASH


def test_fast_digest_equals_the_generic_encoder_for_random_certificates() -> None:
    rng = random.Random(712)
    for _ in range(300):
        _, certificate, domain = _random_certificate(rng)
        typed_data = certificate.typed_data(domain)

        assert typed_data_digest(typed_data) == certificate.digest(domain)
        assert certificate.generation.struct_hash() == hash_struct(
            "Generation", TYPES, typed_data["message"]["generation"]
        )


def test_eth_account_signs_random_certificates_as_we_do() -> None:
    rng = random.Random(4361)
    for _ in range(25):
        key, certificate, domain = _random_certificate(rng)
        ours = sign_certificate(certificate, domain, Signer.from_key_dangerously(key))

        theirs = Account.sign_typed_data(key, full_message=certificate.typed_data(domain))

        assert ours.signature == bytes(theirs.signature)
        assert ours.digest == bytes(theirs.message_hash)


def test_eth_account_recovers_the_creator_from_the_exported_json() -> None:
    rng = random.Random(2981)
    for _ in range(25):
        key, certificate, domain = _random_certificate(rng)
        exported = json.loads(
            sign_certificate(certificate, domain, Signer.from_key_dangerously(key)).dumps()
        )

        signable = encode_typed_data(full_message=exported["typed_data"])
        signer = Account.recover_message(signable, signature=exported["signature"])

        assert signer == certificate.creator == exported["signer"]


def test_typed_data_follows_the_specs_json_shapes(signed: SignedCertificate) -> None:
    typed = signed.to_json()["typed_data"]
    message = typed["message"]

    assert typed["primaryType"] == "Certificate"
    assert typed["domain"] == {
        "name": "Atelier Works",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": CONTRACT,
    }
    assert [field["name"] for field in typed["types"]["EIP712Domain"]] == [
        "name",
        "version",
        "chainId",
        "verifyingContract",
    ]
    assert isinstance(message["royaltyBps"], int)
    for name in ("nonce", "deadline"):
        assert message[name] == str(int(message[name]))
    assert message["generation"]["seed"] == "42"
    assert re.fullmatch("0x[0-9a-f]{64}", message["contentHash"])
    assert re.fullmatch("0x[0-9a-f]{64}", message["generation"]["modelHash"])
    assert message["creator"] == checksum_address(message["creator"].lower())


# ---- export and import ----------------------------------------------------------------------


def test_round_trip_through_json_keeps_everything(signed: SignedCertificate) -> None:
    text = signed.dumps()

    loaded = SignedCertificate.loads(text)

    assert loaded == signed
    assert loaded.metadata == {"name": "Dusk", "tags": ["gan"]}
    assert loaded.dumps() == text
    assert SignedCertificate.loads(text.encode()) == signed


def test_export_carries_format_digest_signer_and_signature(signed: SignedCertificate) -> None:
    exported = json.loads(signed.dumps())

    assert exported["format"] == FORMAT
    assert exported["digest"] == "0x" + signed.digest.hex()
    assert exported["signer"] == signed.certificate.creator
    assert exported["signature"] == "0x" + signed.signature.hex()
    assert len(signed.signature) == 65


def test_a_signed_certificate_verifies(signed: SignedCertificate, creator: Signer) -> None:
    verdict = verify_certificate(
        signed,
        content=IMAGE,
        chain_id=31337,
        contract=CONTRACT.lower(),
        now=NOW,
        check_deadline=True,
    )

    assert verdict.valid, verdict.problems
    assert verdict.signer == creator.address


def test_a_work_with_no_recorded_generation_certifies(creator: Signer, domain: Domain) -> None:
    certificate = _certificate(creator, generation=Generation())

    signed = sign_certificate(certificate, domain, creator)

    assert not certificate.generation.is_recorded
    assert verify_certificate(SignedCertificate.loads(signed.dumps())).valid


def _edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of the exported JSON: set the dotted `path` under typed_data to `value`."""

    def apply(exported: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = exported["typed_data"]
        for key in parents:
            node = node[key]
        node[last] = value(node[last]) if callable(value) else value

    return apply


def _flip_last_hex_digit(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


# Edits that keep the certificate well formed: it loads, but its signature no longer fits.
SIGNED_FIELD_TAMPERING = {
    "content hash": _edit("message.contentHash", _flip_last_hex_digit),
    "royalty raised": _edit("message.royaltyBps", 5000),
    "royalty receiver": _edit("message.royaltyReceiver", OTHER_CONTRACT),
    "seed": _edit("message.generation.seed", "43"),
    "model hash": _edit("message.generation.modelHash", _flip_last_hex_digit),
    "metadata URI": _edit("message.metadataURI", lambda uri: uri + "x"),
    "nonce": _edit("message.nonce", "1"),
    "deadline extended": _edit("message.deadline", str(2**40)),
    "creator": _edit("message.creator", OTHER_CONTRACT),
    "domain chainId": _edit("domain.chainId", 1),
    "domain verifyingContract": _edit("domain.verifyingContract", OTHER_CONTRACT),
}


@pytest.mark.parametrize("tampering", sorted(SIGNED_FIELD_TAMPERING))
def test_tampering_with_a_signed_field_is_reported(
    signed: SignedCertificate, tampering: str
) -> None:
    exported = json.loads(signed.dumps())
    SIGNED_FIELD_TAMPERING[tampering](exported)

    verdict = verify_certificate(SignedCertificate.loads(json.dumps(exported)))

    assert not verdict.valid
    (problem,) = verdict.problems
    assert re.search(r"signed by 0x[0-9a-fA-F]{40}, not by the creator 0x", problem), problem


# Edits that change what the certificate is: it no longer loads, and the error says why.
STRUCTURAL_TAMPERING = {
    "field renamed": (
        _edit("types.Certificate", lambda fields: [{**fields[0], "name": "author"}, *fields[1:]]),
        "EIP-712 types differ from Atelier's",
    ),
    "field type changed": (
        _edit("types.Certificate", lambda fields: [*fields[:5], {**fields[5], "type": "uint256"}]),
        "EIP-712 types differ from Atelier's",
    ),
    "fields reordered": (
        _edit("types.Generation", lambda fields: fields[::-1]),
        "EIP-712 types differ from Atelier's",
    ),
    "field added": (
        _edit("types.Generation", lambda fields: [*fields, {"name": "steps", "type": "uint256"}]),
        "EIP-712 types differ from Atelier's",
    ),
    "domain salt declared": (
        _edit(
            "types.EIP712Domain",
            lambda fields: [*fields, {"name": "salt", "type": "bytes32"}],
        ),
        "EIP-712 types differ from Atelier's",
    ),
    "types missing": (_edit("types", None), "EIP-712 types differ from Atelier's"),
    "primaryType": (_edit("primaryType", "Generation"), "primaryType is 'Generation'"),
    "domain name": (_edit("domain.name", "Other Works"), "domain 'Other Works' v1 is not"),
    "domain version": (_edit("domain.version", "2"), "v2 is not 'Atelier Works' v1"),
    "royalty above the maximum": (
        _edit("message.royaltyBps", 5001),
        "royalty of 5001 basis points is above the 5000",
    ),
    "royalty beyond uint96": (_edit("message.royaltyBps", 2**96), "outside uint96"),
    "content hash short": (
        _edit("message.contentHash", lambda value: value[:-2]),
        "contentHash must be 32 bytes",
    ),
    "creator bad checksum": (
        _edit("message.creator", lambda address: address[:2] + address[2:].swapcase()),
        "creator = 0x",
    ),
    "creator not an address": (_edit("message.creator", "alice.eth"), "creator must be a 0x-hex"),
    "nonce negative": (_edit("message.nonce", "-1"), "nonce must be a decimal or 0x-hex integer"),
    "seed not a number": (_edit("message.generation.seed", "forty-two"), "generation.seed must"),
    "generation missing": (_edit("message.generation", None), "no `generation` struct"),
    "metadataURI not text": (_edit("message.metadataURI", 7), "metadataURI must be text"),
    "chainId not a number": (_edit("domain.chainId", "mainnet"), "domain.chainId must be"),
    "message missing": (_edit("message", None), "no message"),
}


@pytest.mark.parametrize("tampering", sorted(STRUCTURAL_TAMPERING))
def test_structural_tampering_is_refused_when_loading(
    signed: SignedCertificate, tampering: str
) -> None:
    edit, reason = STRUCTURAL_TAMPERING[tampering]
    exported = json.loads(signed.dumps())
    edit(exported)

    with pytest.raises(InvalidCertificate, match=re.escape(reason)):
        SignedCertificate.loads(json.dumps(exported))


def test_exports_that_are_not_certificates_are_refused() -> None:
    with pytest.raises(InvalidCertificate, match="not JSON"):
        SignedCertificate.loads("{not json")
    with pytest.raises(InvalidCertificate, match="a certificate is a JSON object"):
        SignedCertificate.loads("[]")
    with pytest.raises(InvalidCertificate, match="no `typed_data` object"):
        SignedCertificate.loads("{}")


def _high_s_twin(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


@pytest.mark.parametrize(
    ("malform", "reason"),
    [
        (lambda signature: "0x" + signature[:64].hex(), "this one has 64"),
        (lambda signature: "0x" + signature.hex() + "00", "this one has 66"),
        (lambda signature: "0x" + "g" * 130, "not hex"),
        (lambda signature: "0x" + signature[:64].hex() + "1d", "v must be 27 or 28, not 29"),
        (lambda signature: "0x" + _high_s_twin(signature).hex(), "lower half order (EIP-2)"),
        (lambda signature: None, "no `signature`"),
        (lambda signature: list(signature), "no `signature`"),
    ],
)
def test_malformed_signatures_are_refused_when_loading(
    signed: SignedCertificate, malform: Callable[[bytes], Any], reason: str
) -> None:
    exported = json.loads(signed.dumps())
    exported["signature"] = malform(signed.signature)

    with pytest.raises(InvalidCertificate, match=re.escape(reason)):
        SignedCertificate.loads(json.dumps(exported))


def test_a_signature_from_another_key_names_both_addresses(creator: Signer, domain: Domain) -> None:
    certificate = _certificate(creator)
    forger = Signer.from_key_dangerously(OTHER_KEY)
    forged = SignedCertificate(certificate, domain, forger.sign_digest(certificate.digest(domain)))

    verdict = verify_certificate(SignedCertificate.loads(forged.dumps()))

    assert verdict.signer == forger.address
    (problem,) = verdict.problems
    assert f"signed by {forger.address}, not by the creator {creator.address}" in problem


def test_a_signature_that_recovers_no_key_is_reported(creator: Signer, domain: Domain) -> None:
    certificate = _certificate(creator)
    nothing = bytes(32) + (1).to_bytes(32, "big") + bytes([27])  # r = 0 has no curve point

    verdict = verify_certificate(SignedCertificate(certificate, domain, nothing))

    assert verdict.signer is None
    (problem,) = verdict.problems
    assert problem.startswith("the signature is invalid: no public key recovers")


def test_a_signature_over_the_same_certificate_for_another_domain_is_reported(
    creator: Signer, domain: Domain
) -> None:
    certificate = _certificate(creator)
    elsewhere = Domain(chain_id=1, verifying_contract=CONTRACT)
    replayed = SignedCertificate(
        certificate, domain, creator.sign_digest(certificate.digest(elsewhere))
    )

    verdict = verify_certificate(replayed)

    assert not verdict.valid
    assert "not by the creator" in verdict.problems[0]


def test_signing_with_a_key_that_is_not_the_creators_is_refused(
    creator: Signer, domain: Domain
) -> None:
    other = Signer.from_key_dangerously(OTHER_KEY)

    with pytest.raises(InvalidCertificate) as raised:
        sign_certificate(_certificate(creator), domain, other)

    assert str(raised.value) == (
        f"the key signs for {other.address}, but the certificate's creator is {creator.address}"
    )


# ---- verify's arguments ---------------------------------------------------------------------


def test_another_chain_is_reported(signed: SignedCertificate) -> None:
    verdict = verify_certificate(signed, chain_id=1)

    assert verdict.problems == ("the certificate is for chain 31337; this chain is 1",)


def test_another_contract_is_reported(signed: SignedCertificate) -> None:
    verdict = verify_certificate(signed, contract=OTHER_CONTRACT)

    assert verdict.problems == (
        f"the certificate is for contract {CONTRACT}, not {OTHER_CONTRACT}",
    )


def test_a_malformed_contract_argument_is_refused(signed: SignedCertificate) -> None:
    with pytest.raises(InvalidCertificate, match="contract must be a 0x-hex Ethereum address"):
        verify_certificate(signed, contract="AtelierWorks")


def test_an_expired_deadline_is_reported_only_when_asked(signed: SignedCertificate) -> None:
    late = DEADLINE + 1

    assert verify_certificate(signed, now=late).valid
    assert verify_certificate(signed, now=DEADLINE, check_deadline=True).valid
    assert verify_certificate(signed, now=late, check_deadline=True).problems == (
        f"the certificate expired at {DEADLINE} (now {late})",
    )


def test_an_expired_deadline_is_checked_against_the_clock_by_default(
    creator: Signer, domain: Domain
) -> None:
    expired = sign_certificate(_certificate(creator, deadline=1), domain, creator)

    (problem,) = verify_certificate(expired, check_deadline=True).problems

    assert problem.startswith("the certificate expired at 1 (now ")


def test_other_content_bytes_are_reported(signed: SignedCertificate) -> None:
    other = IMAGE + b"\0"

    (problem,) = verify_certificate(signed, content=other).problems

    assert hashlib.sha256(other).hexdigest() in problem
    assert signed.certificate.content_hash.hex() in problem
    assert "not the certified bytes" in problem


def test_every_problem_is_reported_at_once(creator: Signer, domain: Domain) -> None:
    certificate = _certificate(creator, deadline=10)
    forged = SignedCertificate(
        certificate,
        domain,
        Signer.from_key_dangerously(OTHER_KEY).sign_digest(certificate.digest(domain)),
    )

    verdict = verify_certificate(
        forged, content=b"x", chain_id=1, contract=OTHER_CONTRACT, now=11, check_deadline=True
    )

    assert len(verdict.problems) == 5


# ---- construction ---------------------------------------------------------------------------


def test_royalty_above_half_is_refused_at_construction(creator: Signer) -> None:
    assert _certificate(creator, royalty_bps=MAX_ROYALTY_BPS).royalty_bps == 5000

    with pytest.raises(InvalidCertificate, match=r"royalty of 5001 basis points .* \(50%\)"):
        _certificate(creator, royalty_bps=5001)
    with pytest.raises(InvalidCertificate, match="royaltyBps = -1 is outside uint96"):
        _certificate(creator, royalty_bps=-1)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"creator": "0x1234"}, "creator must be a 0x-hex Ethereum address"),
        ({"royalty_receiver": "0x" + "aB" * 20}, "royaltyReceiver = 0x"),
        ({"content_hash": b"\0" * 31}, "contentHash must be 32 bytes"),
        ({"metadata_uri": b"ipfs://x"}, "metadataURI must be text"),
        ({"nonce": 2**256}, f"nonce = {2**256} is outside uint256"),
        ({"deadline": True}, "deadline must be an integer, not True"),
        ({"generation": None}, "generation must be a Generation"),
    ],
)
def test_malformed_fields_are_refused_at_construction(
    creator: Signer, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidCertificate, match=re.escape(reason)):
        _certificate(creator, **changes)


def test_malformed_domains_and_generations_are_refused() -> None:
    with pytest.raises(InvalidCertificate, match="chainId = -1 is outside uint256"):
        Domain(chain_id=-1, verifying_contract=CONTRACT)
    with pytest.raises(InvalidCertificate, match="verifyingContract must be a 0x-hex"):
        Domain(chain_id=1, verifying_contract="0x")
    with pytest.raises(InvalidCertificate, match=r"generation\.model_hash must be 32 bytes"):
        Generation(model_hash=b"short")


def test_addresses_and_hex_values_are_normalised(creator: Signer, domain: Domain) -> None:
    reference = _certificate(creator)
    spelled_as_text = _certificate(
        creator,
        creator=creator.address.lower(),
        content_hash="0x" + reference.content_hash.hex().upper(),
        nonce=hex(reference.nonce),
        generation=Generation(
            model_hash="0x" + reference.generation.model_hash.hex(),  # type: ignore[arg-type]
            dataset_hash=reference.generation.dataset_hash,
            config_hash=reference.generation.config_hash,
            seed="42",  # type: ignore[arg-type]
        ),
    )

    assert spelled_as_text == reference
    assert spelled_as_text.digest(domain) == reference.digest(domain)
    assert Domain(chain_id="31337", verifying_contract=CONTRACT.lower()) == domain  # type: ignore[arg-type]


def test_contract_tuple_follows_the_struct_order(signed: SignedCertificate) -> None:
    certificate = signed.certificate
    generation = certificate.generation

    assert certificate.as_contract_tuple() == (
        certificate.creator,
        certificate.content_hash,
        (generation.model_hash, generation.dataset_hash, generation.config_hash, 42),
        certificate.metadata_uri,
        certificate.royalty_receiver,
        750,
        certificate.nonce,
        DEADLINE,
    )


def test_a_signed_certificate_refuses_a_malformed_signature_at_construction(
    creator: Signer, domain: Domain
) -> None:
    certificate = _certificate(creator)
    signature = sign_digest_dangerously(certificate.digest(domain), bytes.fromhex(CREATOR_KEY[2:]))

    with pytest.raises(InvalidSignature, match="a signature is 65 bytes"):
        SignedCertificate(certificate, domain, signature[:-1])
    assert SignedCertificate(certificate, domain, signature).recovered_signer() == creator.address
