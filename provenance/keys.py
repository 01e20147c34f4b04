"""Keys that sign certificates: keystore v3 (scrypt) and hex key files, never shown or logged."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from provenance.eip712 import sign_digest_dangerously
from provenance.errors import InvalidKey

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
# Geth's "standard" scrypt cost (n = 2**18): about a second to unlock, which is the point.
STANDARD_SCRYPT_N = 2**18


class Signer:
    """A secp256k1 key that signs digests and transactions; its repr and str never hold the key."""

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @classmethod
    def from_key_dangerously(cls, private_key: str | bytes) -> Signer:
        """Wrap a raw private key (hex or 32 bytes); outside tests and dev chains use a keystore."""
        try:
            return cls(Account.from_key(private_key))
        except (ValueError, TypeError) as error:
            raise InvalidKey(f"not a secp256k1 private key ({type(error).__name__})") from None

    @classmethod
    def create(cls) -> Signer:
        """A new random key (from the operating system's randomness)."""
        return cls(Account.create())

    @property
    def address(self) -> str:
        """The checksummed address of this key."""
        return str(self._account.address)

    @property
    def account(self) -> LocalAccount:
        """The eth-account object, for signing transactions."""
        return self._account

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte r ‖ s ‖ v signature over a 32-byte EIP-712 digest."""
        return sign_digest_dangerously(digest, bytes(self._account.key))

    def encrypt(self, password: str, *, scrypt_n: int = STANDARD_SCRYPT_N) -> dict[str, Any]:
        """This key as a keystore v3 JSON object, encrypted with scrypt under `password`."""
        if not password:
            raise InvalidKey("refusing to encrypt a key with an empty password")
        return dict(Account.encrypt(self._account.key, password, kdf="scrypt", iterations=scrypt_n))

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer is never pickled: it would write the key in plain text")


def decrypt_keystore(keystore: dict[str, Any] | str, password: str) -> Signer:
    """Unlock a keystore v3 JSON (object or text) with its password."""
    try:
        document = json.loads(keystore) if isinstance(keystore, str) else keystore
    except json.JSONDecodeError as error:
        raise InvalidKey(f"the keystore is not JSON: {error}") from None
    if not isinstance(document, dict) or "crypto" not in {k.lower() for k in document}:
        raise InvalidKey("not a keystore v3 file (no `crypto` section)")
    try:
        secret = Account.decrypt(document, password)
    except ValueError as error:
        if "MAC mismatch" in str(error):
            raise InvalidKey("wrong password for this keystore") from None
        raise InvalidKey(f"cannot read this keystore: {error}") from None
    except (KeyError, TypeError, NotImplementedError) as error:
        # A damaged keystore (a field missing, an unknown kdf) fails inside eth-keyfile this way.
        raise InvalidKey(
            f"cannot read this keystore: {type(error).__name__} {error} (a damaged file?)"
        ) from None
    return Signer(Account.from_key(secret))


def load_key_file(path: Path, *, password_file: Path | None = None) -> Signer:
    """A signer from KEYFILE: keystore v3 JSON (password from `password_file`) or a hex key."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise InvalidKey(f"cannot read the key file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidKey(f"{path} is neither a keystore JSON nor a hex key") from None
    if text.startswith("{"):
        if password_file is None:
            raise InvalidKey(f"{path} is a keystore: give its password with --password-file")
        try:
            password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise InvalidKey(
                f"cannot read the password file {password_file}: {error.strerror}"
            ) from None
        return decrypt_keystore(text, password)
    if _HEX_KEY.match(text):
        return Signer.from_key_dangerously(text)
    raise InvalidKey(f"{path} is neither a keystore v3 JSON nor a 32-byte hex private key")
