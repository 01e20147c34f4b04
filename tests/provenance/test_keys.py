"""Key files: keystore v3 and hex keys load, and a Signer never shows its key."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from eth_account import Account

from provenance.eip712 import keccak256, recover_signer
from provenance.errors import InvalidKey
from provenance.keys import Signer, decrypt_keystore, load_key_file

KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = Account.from_key("0x" + KEY_HEX).address
PASSWORD = "correct horse battery staple "  # the trailing space is part of it
FAST_SCRYPT_N = 2**10  # the standard 2**18 takes about a second a file; the format is the same


@pytest.fixture
def signer() -> Signer:
    """A signer with a known key."""
    return Signer.from_key_dangerously("0x" + KEY_HEX)


@pytest.fixture
def keystore_file(signer: Signer, tmp_path: Path) -> Path:
    """The signer's key as a keystore v3 file."""
    path = tmp_path / "artist.json"
    path.write_text(json.dumps(signer.encrypt(PASSWORD, scrypt_n=FAST_SCRYPT_N)))
    return path


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    """The keystore's password as an editor saves it, with a final newline."""
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    return path


def _key_spellings() -> list[str]:
    return [KEY_HEX, KEY_HEX.upper(), "0x" + KEY_HEX]


# ---- keystore v3 ----------------------------------------------------------------------------


def test_keystore_is_scrypt_json_without_the_key(keystore_file: Path) -> None:
    text = keystore_file.read_text()
    keystore = json.loads(text)

    assert keystore["version"] == 3
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert keystore["crypto"]["kdfparams"]["n"] == FAST_SCRYPT_N
    assert keystore["address"].lower() == ADDRESS[2:].lower()
    for spelling in _key_spellings():
        assert spelling.lower() not in text.lower()


def test_keystore_round_trips(keystore_file: Path, password_file: Path, signer: Signer) -> None:
    from_text = decrypt_keystore(keystore_file.read_text(), PASSWORD)
    from_object = decrypt_keystore(json.loads(keystore_file.read_text()), PASSWORD)
    from_file = load_key_file(keystore_file, password_file=password_file)

    assert from_text.address == from_object.address == from_file.address == ADDRESS
    digest = keccak256(b"a certificate")
    assert from_file.sign_digest(digest) == signer.sign_digest(digest)


def test_keystore_written_by_eth_account_with_pbkdf2_loads(tmp_path: Path) -> None:
    path = tmp_path / "pbkdf2.json"
    keystore = Account.encrypt(bytes.fromhex(KEY_HEX), PASSWORD, kdf="pbkdf2", iterations=1000)
    path.write_text(json.dumps(keystore))
    password = tmp_path / "password.txt"
    password.write_text(PASSWORD + "\r\n")

    assert load_key_file(path, password_file=password).address == ADDRESS


def test_each_keystore_has_its_own_salt(signer: Signer) -> None:
    first = signer.encrypt(PASSWORD, scrypt_n=FAST_SCRYPT_N)
    second = signer.encrypt(PASSWORD, scrypt_n=FAST_SCRYPT_N)

    assert first["crypto"]["kdfparams"]["salt"] != second["crypto"]["kdfparams"]["salt"]
    assert first["crypto"]["ciphertext"] != second["crypto"]["ciphertext"]


def test_wrong_password_says_so(keystore_file: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(PASSWORD.strip() + "\n")  # the trailing space is missing

    with pytest.raises(InvalidKey, match="wrong password for this keystore"):
        load_key_file(keystore_file, password_file=wrong)
    with pytest.raises(InvalidKey, match="wrong password"):
        decrypt_keystore(keystore_file.read_text(), "")


def test_an_empty_password_is_refused_when_encrypting(signer: Signer) -> None:
    with pytest.raises(InvalidKey, match="empty password"):
        signer.encrypt("", scrypt_n=FAST_SCRYPT_N)


def test_keystore_without_a_password_file_says_which_flag_to_give(keystore_file: Path) -> None:
    with pytest.raises(InvalidKey, match="is a keystore: give its password with --password-file"):
        load_key_file(keystore_file)


def test_a_missing_password_file_is_named(keystore_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.txt"

    with pytest.raises(InvalidKey, match=f"cannot read the password file {missing}"):
        load_key_file(keystore_file, password_file=missing)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda keystore: keystore["crypto"].pop("mac"), "cannot read this keystore"),
        (lambda keystore: keystore["crypto"].update(kdf="argon2"), "cannot read this keystore"),
        (lambda keystore: keystore["crypto"].pop("kdfparams"), "cannot read this keystore"),
        (lambda keystore: keystore["crypto"].update(ciphertext="zz"), "cannot read this keystore"),
        (lambda keystore: keystore.pop("crypto"), "no `crypto` section"),
    ],
)
def test_a_damaged_keystore_is_refused_with_invalid_key(
    signer: Signer, damage: object, reason: str
) -> None:
    keystore = copy.deepcopy(signer.encrypt(PASSWORD, scrypt_n=FAST_SCRYPT_N))
    damage(keystore)  # type: ignore[operator]

    with pytest.raises(InvalidKey, match=reason):
        decrypt_keystore(keystore, PASSWORD)


def test_keystore_text_that_is_not_json_is_refused(tmp_path: Path, password_file: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"crypto": ')

    with pytest.raises(InvalidKey, match="the keystore is not JSON"):
        load_key_file(path, password_file=password_file)
    with pytest.raises(InvalidKey, match="not a keystore v3 file"):
        decrypt_keystore("[1, 2]", PASSWORD)


# ---- hex key files --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", _key_spellings())
def test_hex_key_file_loads_with_or_without_0x(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "key.hex"
    path.write_text(f"  {spelling}\n")

    assert load_key_file(path).address == ADDRESS


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hunter2\n",
        b"0x" + b"ab" * 31 + b"\n",  # 31 bytes
        b"0x" + b"ab" * 33,  # 33 bytes
        b"0x" + b"zz" * 32,
        b"-----BEGIN EC PRIVATE KEY-----\nMHQCAQEEIA==\n-----END EC PRIVATE KEY-----\n",
        b"\xff\xfe\x00garbage",  # not UTF-8
    ],
)
def test_garbage_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key.txt"
    path.write_bytes(content)

    with pytest.raises(InvalidKey, match=f"{path} is neither a keystore"):
        load_key_file(path)


@pytest.mark.parametrize(
    "key",
    ["0x" + "00" * 32, "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"],
)
def test_hex_that_is_no_secp256k1_key_is_refused_without_echoing_it(
    tmp_path: Path, key: str
) -> None:
    path = tmp_path / "key.hex"
    path.write_text(key)

    with pytest.raises(InvalidKey, match="not a secp256k1 private key") as raised:
        load_key_file(path)

    assert key[2:].lower() not in str(raised.value).lower()


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"

    with pytest.raises(InvalidKey, match=f"cannot read the key file {missing}"):
        load_key_file(missing)


def test_a_directory_is_no_key_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey, match="cannot read the key file"):
        load_key_file(tmp_path)


# ---- the Signer -----------------------------------------------------------------------------


def test_repr_and_str_show_the_address_never_the_key(signer: Signer) -> None:
    for shown in (repr(signer), str(signer), f"{signer}", repr([signer])):
        assert ADDRESS in shown
        for spelling in _key_spellings():
            assert spelling.lower() not in shown.lower()


def test_a_signer_is_never_pickled(signer: Signer) -> None:
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError, match="never pickled"):
        copy.deepcopy(signer)


def test_a_signer_has_no_instance_dict_to_leak_through(signer: Signer) -> None:
    assert not hasattr(signer, "__dict__")
    with pytest.raises(AttributeError):
        signer.key = b"x"  # type: ignore[attr-defined]


def test_sign_digest_matches_eth_account_and_recovers(signer: Signer) -> None:
    digest = keccak256(b"certificate digest")

    signature = signer.sign_digest(digest)

    assert signature == bytes(Account.unsafe_sign_hash(digest, "0x" + KEY_HEX).signature)
    assert recover_signer(digest, signature) == signer.address == ADDRESS


def test_created_signers_are_distinct_and_sign() -> None:
    first, second = Signer.create(), Signer.create()
    digest = keccak256(b"x")

    assert first.address != second.address
    assert recover_signer(digest, first.sign_digest(digest)) == first.address


def test_raw_keys_as_bytes_or_hex_give_the_same_signer() -> None:
    assert Signer.from_key_dangerously(bytes.fromhex(KEY_HEX)).address == ADDRESS
    assert Signer.from_key_dangerously("0x" + KEY_HEX).address == ADDRESS
    with pytest.raises(InvalidKey, match="not a secp256k1 private key"):
        Signer.from_key_dangerously(b"\1" * 31)
