"""Sign-In with Ethereum (EIP-4361): build, parse and verify the message that links a wallet.

Written against the EIP's ABNF with eth-account doing the EIP-191 recovery: the `siwe` packages pin
an older web3 and eth-account and would break web3 8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct

from provenance.eip712 import checksum_address, signature_bytes
from provenance.errors import InvalidSignature, InvalidSiweMessage

PREAMBLE = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DOMAIN = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/?#]+$", re.IGNORECASE)
_FIELDS = (
    ("URI", "uri"),
    ("Version", "version"),
    ("Chain ID", "chain_id"),
    ("Nonce", "nonce"),
    ("Issued At", "issued_at"),
    ("Expiration Time", "expiration_time"),
    ("Not Before", "not_before"),
    ("Request ID", "request_id"),
)


def _timestamp(value: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSiweMessage(f"{what} is not an RFC 3339 time: {value!r}") from None
    if moment.tzinfo is None:
        raise InvalidSiweMessage(f"{what} has no time zone: {value!r}")
    return moment


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SiweMessage:
    """One EIP-4361 message; `text()` is exactly what the wallet signs with personal_sign."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _DOMAIN.match(self.domain):
            raise InvalidSiweMessage(f"not an RFC 3986 authority: {self.domain!r}")
        if not _ADDRESS.match(self.address) or checksum_address(self.address) != self.address:
            raise InvalidSiweMessage(
                f"the address must be EIP-55 checksummed, as EIP-4361 requires: {self.address!r}"
            )
        if self.statement is not None and "\n" in self.statement:
            raise InvalidSiweMessage("the statement must be one line")
        if self.version != "1":
            raise InvalidSiweMessage(f"unsupported SIWE version {self.version!r} (only 1)")
        if not _NONCE.match(self.nonce):
            raise InvalidSiweMessage("the nonce must be at least 8 letters or digits")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidSiweMessage(f"the chain id must be a number, not {self.chain_id!r}")
        _timestamp(self.issued_at, "Issued At")
        for value, what in (
            (self.expiration_time, "Expiration Time"),
            (self.not_before, "Not Before"),
        ):
            if value is not None:
                _timestamp(value, what)

    @classmethod
    def create(
        cls,
        *,
        domain: str,
        address: str,
        uri: str,
        chain_id: int,
        nonce: str,
        statement: str | None = None,
        issued_at: datetime,
        expires_at: datetime | None = None,
    ) -> SiweMessage:
        """A message for `address` to sign, with times as datetimes."""
        return cls(
            domain=domain,
            address=checksum_address(address),
            uri=uri,
            chain_id=chain_id,
            nonce=nonce,
            statement=statement,
            issued_at=_rfc3339(issued_at),
            expiration_time=_rfc3339(expires_at) if expires_at else None,
        )

    def text(self) -> str:
        """The message text, laid out as the EIP's ABNF says."""
        lines = [f"{self.domain}{PREAMBLE}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        lines += [f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}"]
        lines += [f"Nonce: {self.nonce}", f"Issued At: {self.issued_at}"]
        for label, name in _FIELDS[5:]:
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{label}: {value}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str) -> SiweMessage:
        """Parse a message strictly; any deviation from the ABNF is an InvalidSiweMessage."""
        lines = text.split("\n")
        if len(lines) < 8 or not lines[0].endswith(PREAMBLE):
            raise InvalidSiweMessage("not a Sign-In with Ethereum message (no EIP-4361 preamble)")
        domain, address = lines[0][: -len(PREAMBLE)], lines[1]
        if lines[2] != "":
            raise InvalidSiweMessage("expected an empty line after the address")
        position, statement = 3, None
        if not lines[3].startswith("URI: "):
            statement, position = lines[3], 5
            if len(lines) <= 5 or lines[4] != "":
                raise InvalidSiweMessage("expected an empty line after the statement")
        body = lines[position:]
        resources: list[str] = []
        if "Resources:" in body:
            at = body.index("Resources:")
            body, listed = body[:at], body[at + 1 :]
            for line in listed:
                if not line.startswith("- "):
                    raise InvalidSiweMessage(f"a resource line must start with '- ': {line!r}")
                resources.append(line[2:])
        values: dict[str, str] = {}
        for line in body:
            label, separator, value = line.partition(": ")
            if not separator or label not in dict(_FIELDS) or label in values:
                raise InvalidSiweMessage(f"unexpected line in the message: {line!r}")
            values[label] = value
        for required in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
            if required not in values:
                raise InvalidSiweMessage(f"the message lacks `{required}:`")
        try:
            chain_id = int(values["Chain ID"])
        except ValueError:
            raise InvalidSiweMessage(f"Chain ID is not a number: {values['Chain ID']!r}") from None
        message = cls(
            domain=domain,
            address=address,
            statement=statement,
            uri=values["URI"],
            version=values["Version"],
            chain_id=chain_id,
            nonce=values["Nonce"],
            issued_at=values["Issued At"],
            expiration_time=values.get("Expiration Time"),
            not_before=values.get("Not Before"),
            request_id=values.get("Request ID"),
            resources=tuple(resources),
        )
        if message.text() != text:
            raise InvalidSiweMessage("the message is not in canonical EIP-4361 layout")
        return message

    def with_nonce(self, nonce: str) -> SiweMessage:
        """The same message with another nonce."""
        return replace(self, nonce=nonce)


def verify_siwe(
    text: str,
    signature: str | bytes,
    *,
    domain: str,
    nonce: str,
    chain_id: int | None = None,
    now: datetime | None = None,
) -> SiweMessage:
    """Check a signed SIWE message for this site and nonce; returns it, or says what is wrong."""
    message = SiweMessage.parse(text)
    if message.domain != domain:
        raise InvalidSiweMessage(f"the message is for {message.domain!r}, not this site {domain!r}")
    if message.nonce != nonce:
        raise InvalidSiweMessage("the nonce is not the one this site issued (replayed or stale)")
    if chain_id is not None and message.chain_id != chain_id:
        raise InvalidSiweMessage(f"the message is for chain {message.chain_id}, not {chain_id}")
    moment = now or datetime.now(UTC)
    if message.expiration_time and _timestamp(message.expiration_time, "Expiration Time") <= moment:
        raise InvalidSiweMessage(f"the message expired at {message.expiration_time}")
    if message.not_before and _timestamp(message.not_before, "Not Before") > moment:
        raise InvalidSiweMessage(f"the message is not valid before {message.not_before}")
    try:
        raw = signature_bytes(signature)
        signer = Account.recover_message(encode_defunct(text=text), signature=raw)
    except (InvalidSignature, ValueError) as error:
        raise InvalidSiweMessage(f"the signature is invalid: {error}") from error
    if signer != message.address:
        raise InvalidSiweMessage(f"signed by {signer}, not by {message.address}")
    return message
