"""Certificates of authorship: EIP-712 typed data an artist signs and the contract mints from.

A certificate binds a creator to the exact bytes of a work (`contentHash`, sha256), to how the
work was made (`generation`: model weights, dataset manifest, training config, seed), to its
metadata (`metadataURI`, an IPFS CID computed locally) and to its royalty. `docs/PROVENANCE_SPEC.md`
fixes the types; `AtelierWorks.sol` hashes them the same way, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from provenance.eip712 import (
    Types,
    checksum_address,
    hash_domain,
    keccak256,
    recover_signer,
    signature_bytes,
    type_hash,
)
from provenance.errors import InvalidCertificate, InvalidSignature

DOMAIN_NAME = "Atelier Works"
DOMAIN_VERSION = "1"
FORMAT = "atelier.certificate/1"
MAX_ROYALTY_BPS = 5000
ZERO_HASH = b"\0" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

GENERATION_FIELDS = [
    {"name": "modelHash", "type": "bytes32"},
    {"name": "datasetHash", "type": "bytes32"},
    {"name": "configHash", "type": "bytes32"},
    {"name": "seed", "type": "uint256"},
]
CERTIFICATE_FIELDS = [
    {"name": "creator", "type": "address"},
    {"name": "contentHash", "type": "bytes32"},
    {"name": "generation", "type": "Generation"},
    {"name": "metadataURI", "type": "string"},
    {"name": "royaltyReceiver", "type": "address"},
    {"name": "royaltyBps", "type": "uint96"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": DOMAIN_FIELDS,
    "Certificate": CERTIFICATE_FIELDS,
    "Generation": GENERATION_FIELDS,
}
MESSAGE_TYPES: Types = {name: fields for name, fields in TYPES.items() if name != "EIP712Domain"}
GENERATION_TYPEHASH = type_hash("Generation", MESSAGE_TYPES)
CERTIFICATE_TYPEHASH = type_hash("Certificate", MESSAGE_TYPES)
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_INTEGER_TEXT = re.compile(r"^(0|[1-9][0-9]*|0x[0-9a-fA-F]+)$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _word(number: int) -> bytes:
    return number.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes.fromhex(address[2:]).rjust(32, b"\0")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _checksum(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InvalidCertificate(f"{what} must be a 0x-hex Ethereum address, not {value!r}")
    checksummed = checksum_address(value)
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and checksummed != value:
        raise InvalidCertificate(f"{what} = {value} fails its EIP-55 checksum (mistyped?)")
    return checksummed


def _hash32(value: Any, what: str) -> bytes:
    if isinstance(value, bytes) and len(value) == 32:
        return value
    if isinstance(value, str) and _HEX32.match(value.lower()):
        return bytes.fromhex(value[2:])
    raise InvalidCertificate(f"{what} must be 32 bytes as 0x-hex, not {value!r}")


def _uint(value: Any, what: str, bits: int = 256) -> int:
    if isinstance(value, bool):
        raise InvalidCertificate(f"{what} must be an integer, not {value!r}")
    if isinstance(value, str) and not _INTEGER_TEXT.match(value):
        raise InvalidCertificate(f"{what} must be a decimal or 0x-hex integer, not {value!r}")
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise InvalidCertificate(f"{what} must be an integer, not {value!r}") from None
    if not 0 <= number < 2**bits:
        raise InvalidCertificate(f"{what} = {number} is outside uint{bits}")
    return number


@dataclass(frozen=True)
class Generation:
    """How a work was made: model weights, dataset manifest and training config hashes, and seed."""

    model_hash: bytes = ZERO_HASH
    dataset_hash: bytes = ZERO_HASH
    config_hash: bytes = ZERO_HASH
    seed: int = 0

    def __post_init__(self) -> None:
        # Store what was checked: a hex string accepted here must not reach struct_hash as text.
        for name in ("model_hash", "dataset_hash", "config_hash"):
            object.__setattr__(self, name, _hash32(getattr(self, name), f"generation.{name}"))
        object.__setattr__(self, "seed", _uint(self.seed, "generation.seed"))

    @property
    def is_recorded(self) -> bool:
        """Whether any lineage is recorded (an uploaded image has none)."""
        return self != Generation()

    def struct_hash(self) -> bytes:
        """EIP-712 hashStruct(Generation): the `generationHash` the contract emits."""
        return keccak256(
            GENERATION_TYPEHASH
            + self.model_hash
            + self.dataset_hash
            + self.config_hash
            + _word(self.seed)
        )

    def to_message(self) -> dict[str, Any]:
        """The Generation struct as `eth_signTypedData_v4` takes it."""
        return {
            "modelHash": _hex(self.model_hash),
            "datasetHash": _hex(self.dataset_hash),
            "configHash": _hex(self.config_hash),
            "seed": str(self.seed),
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Generation:
        """Parse the Generation struct of a typed-data message."""
        return cls(
            model_hash=_hash32(message.get("modelHash"), "generation.modelHash"),
            dataset_hash=_hash32(message.get("datasetHash"), "generation.datasetHash"),
            config_hash=_hash32(message.get("configHash"), "generation.configHash"),
            seed=_uint(message.get("seed"), "generation.seed"),
        )


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain: which chain and which AtelierWorks contract a certificate is for."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "verifying_contract", _checksum(self.verifying_contract, "verifyingContract")
        )
        object.__setattr__(self, "chain_id", _uint(self.chain_id, "chainId"))

    def to_json(self) -> dict[str, Any]:
        """The domain as typed data carries it."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def separator(self) -> bytes:
        """The EIP-712 domain separator."""
        return _separator(self.name, self.version, self.chain_id, self.verifying_contract)


_SEPARATORS: dict[tuple[str, str, int, str], bytes] = {}


def _separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    key = (name, version, chain_id, contract)
    if key not in _SEPARATORS:  # a handful of domains per process: cache them all
        _SEPARATORS[key] = hash_domain(
            {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract},
            {"EIP712Domain": DOMAIN_FIELDS},
        )
    return _SEPARATORS[key]


@dataclass(frozen=True)
class Certificate:
    """The claim an artist signs: this creator made these bytes, this way, with this royalty."""

    creator: str
    content_hash: bytes
    metadata_uri: str
    royalty_receiver: str
    royalty_bps: int
    nonce: int
    deadline: int
    generation: Generation = field(default_factory=Generation)

    def __post_init__(self) -> None:
        object.__setattr__(self, "creator", _checksum(self.creator, "creator"))
        object.__setattr__(
            self, "royalty_receiver", _checksum(self.royalty_receiver, "royaltyReceiver")
        )
        object.__setattr__(self, "content_hash", _hash32(self.content_hash, "contentHash"))
        if not isinstance(self.metadata_uri, str):
            raise InvalidCertificate(f"metadataURI must be text, not {self.metadata_uri!r}")
        object.__setattr__(self, "royalty_bps", _uint(self.royalty_bps, "royaltyBps", 96))
        if self.royalty_bps > MAX_ROYALTY_BPS:
            raise InvalidCertificate(
                f"royalty of {self.royalty_bps} basis points is above the {MAX_ROYALTY_BPS} "
                "(50%) the contract allows"
            )
        object.__setattr__(self, "nonce", _uint(self.nonce, "nonce"))
        object.__setattr__(self, "deadline", _uint(self.deadline, "deadline"))
        if not isinstance(self.generation, Generation):
            raise InvalidCertificate(f"generation must be a Generation, not {self.generation!r}")

    def struct_hash(self) -> bytes:
        """EIP-712 hashStruct(Certificate), computed directly from the fixed layout."""
        return keccak256(
            CERTIFICATE_TYPEHASH
            + _address_word(self.creator)
            + self.content_hash
            + self.generation.struct_hash()
            + keccak256(self.metadata_uri.encode())
            + _address_word(self.royalty_receiver)
            + _word(self.royalty_bps)
            + _word(self.nonce)
            + _word(self.deadline)
        )

    def digest(self, domain: Domain) -> bytes:
        """The 32 bytes the creator signs under `domain`."""
        return keccak256(b"\x19\x01" + domain.separator() + self.struct_hash())

    def to_message(self) -> dict[str, Any]:
        """The Certificate struct as `eth_signTypedData_v4` takes it."""
        return {
            "creator": self.creator,
            "contentHash": _hex(self.content_hash),
            "generation": self.generation.to_message(),
            "metadataURI": self.metadata_uri,
            "royaltyReceiver": self.royalty_receiver,
            "royaltyBps": self.royalty_bps,
            "nonce": str(self.nonce),
            "deadline": str(self.deadline),
        }

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full typed data, exactly what a wallet's `eth_signTypedData_v4` is given."""
        return {
            "types": {name: [dict(item) for item in fields] for name, fields in TYPES.items()},
            "primaryType": "Certificate",
            "domain": domain.to_json(),
            "message": self.to_message(),
        }

    def as_contract_tuple(self) -> tuple[Any, ...]:
        """The Certificate struct as the contract's ABI takes it (for `mintWithSignature`)."""
        generation = self.generation
        return (
            self.creator,
            self.content_hash,
            (
                generation.model_hash,
                generation.dataset_hash,
                generation.config_hash,
                generation.seed,
            ),
            self.metadata_uri,
            self.royalty_receiver,
            self.royalty_bps,
            self.nonce,
            self.deadline,
        )

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Certificate:
        """Parse the Certificate struct of a typed-data message."""
        generation = message.get("generation")
        if not isinstance(generation, Mapping):
            raise InvalidCertificate("the certificate has no `generation` struct")
        return cls(
            creator=message.get("creator"),  # type: ignore[arg-type]  # checked in __post_init__
            content_hash=_hash32(message.get("contentHash"), "contentHash"),
            generation=Generation.from_message(generation),
            metadata_uri=message.get("metadataURI"),  # type: ignore[arg-type]
            royalty_receiver=message.get("royaltyReceiver"),  # type: ignore[arg-type]
            royalty_bps=_uint(message.get("royaltyBps"), "royaltyBps", 96),
            nonce=_uint(message.get("nonce"), "nonce"),
            deadline=_uint(message.get("deadline"), "deadline"),
        )


class DigestSigner(Protocol):
    """Anything that signs a 32-byte digest for one address (a key file, a custodial key, a HSM)."""

    @property
    def address(self) -> str:
        """The signer's checksummed address."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte r ‖ s ‖ v signature of `digest`."""
        ...


@dataclass(frozen=True)
class SignedCertificate:
    """A certificate, its domain and the creator's signature: exported, minted, verified."""

    certificate: Certificate
    domain: Domain
    signature: bytes
    metadata: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature", signature_bytes(self.signature))

    @property
    def digest(self) -> bytes:
        """The EIP-712 digest the signature covers."""
        return self.certificate.digest(self.domain)

    def recovered_signer(self) -> str:
        """The address that signed (valid for plain keys; an EIP-1271 wallet verifies on chain)."""
        return recover_signer(self.digest, self.signature)

    def to_json(self) -> dict[str, Any]:
        """The export: full typed data and signature, checkable by any EIP-712 tool."""
        exported: dict[str, Any] = {
            "format": FORMAT,
            "typed_data": self.certificate.typed_data(self.domain),
            "signature": _hex(self.signature),
            "digest": _hex(self.digest),
            "signer": self.certificate.creator,
        }
        if self.metadata is not None:
            exported["metadata"] = dict(self.metadata)
        return exported

    def dumps(self) -> str:
        """The export as indented JSON text."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, exported: Mapping[str, Any]) -> SignedCertificate:
        """Read an export; refuse anything whose types or domain are not Atelier's."""
        if not isinstance(exported, Mapping):
            raise InvalidCertificate("a certificate is a JSON object")
        typed = exported.get("typed_data")
        if not isinstance(typed, Mapping):
            raise InvalidCertificate("the certificate has no `typed_data` object")
        if typed.get("primaryType") != "Certificate":
            raise InvalidCertificate(
                f"primaryType is {typed.get('primaryType')!r}, not 'Certificate'"
            )
        if _normalised_types(typed.get("types")) != _normalised_types(TYPES):
            raise InvalidCertificate(
                "the certificate's EIP-712 types differ from Atelier's; it was not made for "
                "this contract (or was edited)"
            )
        raw_domain = typed.get("domain")
        if not isinstance(raw_domain, Mapping):
            raise InvalidCertificate("the certificate's typed data has no domain")
        if set(raw_domain) != {field["name"] for field in DOMAIN_FIELDS}:
            raise InvalidCertificate(
                "the domain must hold exactly name, version, chainId and verifyingContract; it "
                f"holds {', '.join(sorted(map(str, raw_domain)))}"
            )
        if (raw_domain.get("name"), raw_domain.get("version")) != (DOMAIN_NAME, DOMAIN_VERSION):
            raise InvalidCertificate(
                f"domain {raw_domain.get('name')!r} v{raw_domain.get('version')} is not "
                f"{DOMAIN_NAME!r} v{DOMAIN_VERSION}"
            )
        domain = Domain(
            chain_id=_uint(raw_domain.get("chainId"), "domain.chainId"),
            verifying_contract=raw_domain.get("verifyingContract"),  # type: ignore[arg-type]
        )
        message = typed.get("message")
        if not isinstance(message, Mapping):
            raise InvalidCertificate("the certificate's typed data has no message")
        expected = {field["name"] for field in CERTIFICATE_FIELDS}
        generation = message.get("generation")
        if set(message) != expected or (
            isinstance(generation, Mapping)
            and set(generation) != {field["name"] for field in GENERATION_FIELDS}
        ):
            raise InvalidCertificate(
                "the certificate's message has missing or extra fields; it was edited or is not "
                "an Atelier certificate"
            )
        certificate = Certificate.from_message(message)
        signature = exported.get("signature")
        if not isinstance(signature, str):
            raise InvalidCertificate("the certificate has no `signature` (0x-hex)")
        try:
            return cls(certificate, domain, signature_bytes(signature), exported.get("metadata"))
        except InvalidSignature as error:
            raise InvalidCertificate(f"malformed signature: {error}") from error

    @classmethod
    def loads(cls, text: str | bytes) -> SignedCertificate:
        """Parse an exported certificate from JSON text."""
        try:
            return cls.from_json(json.loads(text))
        except json.JSONDecodeError as error:
            raise InvalidCertificate(f"the certificate is not JSON: {error}") from error


def _normalised_types(types: Any) -> Any:
    if not isinstance(types, Mapping):
        return None
    try:
        return {
            name: [(item["name"], item["type"]) for item in fields]
            for name, fields in types.items()
        }
    except (TypeError, KeyError):
        return None


def sign_certificate(
    certificate: Certificate,
    domain: Domain,
    signer: DigestSigner,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> SignedCertificate:
    """Sign `certificate` under `domain`; the signer must be the certificate's creator."""
    if signer.address != certificate.creator:
        raise InvalidCertificate(
            f"the key signs for {signer.address}, but the certificate's creator is "
            f"{certificate.creator}"
        )
    signature = signer.sign_digest(certificate.digest(domain))
    return SignedCertificate(certificate, domain, signature, metadata)


@dataclass(frozen=True)
class Verdict:
    """What an offline check of a certificate found; `problems` is empty when it holds."""

    signer: str | None
    problems: tuple[str, ...]

    @property
    def valid(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def verify_certificate(
    signed: SignedCertificate,
    *,
    content: bytes | None = None,
    chain_id: int | None = None,
    contract: str | None = None,
    now: int | None = None,
    check_deadline: bool = False,
) -> Verdict:
    """Check a certificate offline: signature by the creator, the image's bytes, chain, contract."""
    problems: list[str] = []
    certificate = signed.certificate
    signer: str | None = None
    try:
        signer = signed.recovered_signer()
    except InvalidSignature as error:
        problems.append(f"the signature is invalid: {error}")
    else:
        if signer != certificate.creator:
            problems.append(
                f"signed by {signer}, not by the creator {certificate.creator} (a forged or "
                "altered certificate; an EIP-1271 wallet creator is checked on chain instead)"
            )
    if content is not None:
        actual = hashlib.sha256(content).digest()  # the content hash
        if actual != certificate.content_hash:
            problems.append(
                f"the image's sha256 is {_hex(actual)}, the certificate names "
                f"{_hex(certificate.content_hash)}: not the certified bytes"
            )
    if chain_id is not None and chain_id != signed.domain.chain_id:
        problems.append(
            f"the certificate is for chain {signed.domain.chain_id}; this chain is {chain_id}"
        )
    if contract is not None and _checksum(contract, "contract") != signed.domain.verifying_contract:
        problems.append(
            f"the certificate is for contract {signed.domain.verifying_contract}, not {contract}"
        )
    if check_deadline:
        moment = int(time.time()) if now is None else now
        if certificate.deadline < moment:
            problems.append(f"the certificate expired at {certificate.deadline} (now {moment})")
    return Verdict(signer=signer, problems=tuple(problems))
