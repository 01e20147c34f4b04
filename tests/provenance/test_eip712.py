"""EIP-712 conformance: the EIP's own example and eth-account's typed-message fixtures.

The Mail example's values come from the EIP's reference scripts, ethereum/EIPs
`assets/eip-712/Example.js` (commit 68b7c485a712511a095e134d84b21217b0eb5a04) and
`assets/eip-712/Example.sol` (commit 39f049d28122cd8c36594bcf8361cb7a0a598ae5). The fixtures under
`fixtures/eth_account/` are eth-account's own (see the README there).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils.exceptions import ValidationError

from provenance.eip712 import (
    SECP256K1_N,
    checksum_address,
    encode_type,
    hash_domain,
    hash_struct,
    keccak256,
    recover_signer,
    sign_digest_dangerously,
    signature_bytes,
    type_hash,
    typed_data_digest,
)
from provenance.errors import InvalidSignature, InvalidTypedData

FIXTURES = Path(__file__).parent / "fixtures" / "eth_account"

# ---- the EIP's Mail example -----------------------------------------------------------------

MAIL_EXAMPLE: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}
MAIL_ENCODE_TYPE = "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
MAIL_TYPE_HASH = "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"
MAIL_ENCODE_DATA = (
    "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"
    "fc71e5fa27ff56c350aa531bc129ebdf613b772b6604664f5d8dbe21b85eb0c8"
    "cd54f074a4af31b4411ff6a60c9719dbd559c221c8ac3492d9d872b041d703d1"
    "b5aadf3154a261abdd9086fc627b61efca26ae5702701d05cd2305f7c52a2fc8"
)
MAIL_STRUCT_HASH = "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
MAIL_DOMAIN_SEPARATOR = "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
MAIL_DIGEST = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
COW_KEY = keccak256(b"cow")  # Example.js: privateKey = ethUtil.sha3('cow')
COW_ADDRESS = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"
MAIL_V = 28
MAIL_R = 0x4355C47D63924E8A72E509B65029052EB6C299D53A04E167C5775FD466751C9D
MAIL_S = 0x07299936D304C153F6443DFA05F40FF007D72911B6F72307F996231605B91562


def test_mail_example_encode_type_and_type_hash_match_the_eip() -> None:
    assert encode_type("Mail", MAIL_EXAMPLE["types"]) == MAIL_ENCODE_TYPE
    assert type_hash("Mail", MAIL_EXAMPLE["types"]).hex() == MAIL_TYPE_HASH


def test_mail_example_struct_hash_is_the_keccak_of_the_eips_encode_data() -> None:
    struct_hash = hash_struct("Mail", MAIL_EXAMPLE["types"], MAIL_EXAMPLE["message"])

    assert struct_hash.hex() == MAIL_STRUCT_HASH
    assert keccak256(bytes.fromhex(MAIL_ENCODE_DATA)) == struct_hash


def test_mail_example_domain_separator_matches_the_eip() -> None:
    assert hash_domain(MAIL_EXAMPLE["domain"], MAIL_EXAMPLE["types"]).hex() == MAIL_DOMAIN_SEPARATOR
    # Without EIP712Domain in `types`, the fields come from the domain's keys, in the EIP's order.
    assert hash_domain(MAIL_EXAMPLE["domain"]).hex() == MAIL_DOMAIN_SEPARATOR


def test_mail_example_digest_matches_the_eip() -> None:
    assert typed_data_digest(MAIL_EXAMPLE).hex() == MAIL_DIGEST


def test_signing_the_mail_example_with_cows_key_gives_the_eips_signature() -> None:
    signature = sign_digest_dangerously(typed_data_digest(MAIL_EXAMPLE), COW_KEY)

    assert signature == MAIL_R.to_bytes(32, "big") + MAIL_S.to_bytes(32, "big") + bytes([MAIL_V])
    assert recover_signer(bytes.fromhex(MAIL_DIGEST), signature) == COW_ADDRESS
    assert Account.from_key(COW_KEY).address == COW_ADDRESS


# ---- eth-account's fixtures -----------------------------------------------------------------


def _load(name: str) -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return cases


VALID = {
    **_load("valid_for_all"),
    **_load("valid_py_and_ethers"),
    **_load("valid_py_and_metamask"),
}
INVALID = {**_load("invalid"), **_load("one_arg_invalid")}

# Valid for eth-account, but one of ethers and MetaMask disagrees (the case name says which and
# how), so there is no common answer to follow; we refuse rather than guess. Each with our reason.
REFUSED_WHERE_IMPLEMENTATIONS_DISAGREE = {
    # MetaMask hashes a struct name with a space as an empty string.
    "valid_space_in_custom_type_metamask_returns_empty_string_if_non_alphanum_in_custom_type": (
        "struct name 'Per son' is not a valid identifier"
    ),
    # MetaMask needs primaryType; eth-account and ethers guess it from the types.
    "valid_missing_primary_type_key_metamask_requires_primary_type_key": "primaryType",
    "valid_missing_primary_type_key_and_eip712domain_type_metamask_needs_primarytype": (
        "primaryType"
    ),
    # ethers refuses a number for a string; eth-account and MetaMask hash its decimal text.
    "valid_int_value_for_string_type_ethers_handles_mismatched_type_and_value_differently": (
        "Mail.contents must be a string, not 12345"
    ),
    # ethers refuses null for a struct; eth-account and MetaMask hash zeros.
    "valid_null_value_for_custom_type_ethers_requires_non_null": (
        "Mail.to must be an object for struct Person"
    ),
    # ethers refuses recursive types; the message also leaves Person.friend out, which eth-account
    # fills with zeros and we refuse (a missing field is an error, never a zero).
    "valid_eip712_example_ethers_does_not_accept_recursive_custom_types": (
        "Mail.from.friend lacks the field(s) friend"
    ),
}
ACCEPTED = {
    case: message
    for case, message in VALID.items()
    if case not in REFUSED_WHERE_IMPLEMENTATIONS_DISAGREE
}

# What our error says for each invalid message (eth-account refuses each of them as well).
INVALID_REASONS = {
    "invalid_data_field_name_does_not_match_type_field_name": (
        "Mail.from lacks the field(s) hello wallet"
    ),
    "invalid_char_string_invalid_for_int_type": (
        "Mail.to.balance must be an integer for uint256, not 'how do you do?'"
    ),
    "invalid_single_array_value_for_nested_array_type": (
        "Mail.to has 1 items; person[2][][4] fixes 4"
    ),
    "invalid_bad_uint_field_type_in_types_passed_an_int": (
        "Person.balance has type 'uint25689', which is neither a Solidity type nor a struct"
    ),
    "invalid_undefined_field_type_in_types": (
        "Mail.from has type 'Hello Person', which is neither a Solidity type nor a struct"
    ),
    "invalid_bad_uint_field_type_in_types_passed_a_string": (
        "Person.balance has type 'uint25689', which is neither a Solidity type nor a struct"
    ),
    "invalid_custom_typed_used_but_not_defined": (
        "Mail.attachments has type 'Attachment[]', which is neither a Solidity type nor a struct"
    ),
    "invalid_string_array_value_for_nested_string_array_type": (
        "Mail.from.nicknames[0] must be an array for string[], not 'bovine'"
    ),
    "one_arg_invalid_domain_value_not_in_domain_types": (
        "the domain has salt, which `types.EIP712Domain` does not declare"
    ),
    "one_arg_invalid_domain_type_not_in_domain_values": "EIP712Domain lacks the field(s) salt",
    "one_arg_invalid_non_primary_type_for_primary_type": "Person lacks the field(s) name, wallet",
    "one_arg_invalid_undefined_type_for_primary_type": (
        "primaryType 'Horse' is not a struct defined in `types`"
    ),
}


def _eth_account_digest(message: dict[str, Any]) -> bytes:
    return bytes(_hash_eip191_message(encode_typed_data(full_message=copy.deepcopy(message))))


def _key_for(case: str) -> bytes:
    return keccak256(case.encode())


def test_every_fixture_case_is_accounted_for() -> None:
    assert set(REFUSED_WHERE_IMPLEMENTATIONS_DISAGREE) <= set(VALID) - set(_load("valid_for_all"))
    assert set(INVALID_REASONS) == set(INVALID)
    assert len(ACCEPTED) == 11


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_valid_fixture_digest_matches_eth_account(case: str) -> None:
    message = ACCEPTED[case]

    assert typed_data_digest(message) == _eth_account_digest(message)


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_valid_fixture_signed_by_us_recovers_the_signer_and_matches_eth_account(case: str) -> None:
    key = _key_for(case)
    digest = typed_data_digest(ACCEPTED[case])

    signature = sign_digest_dangerously(digest, key)

    assert recover_signer(digest, signature) == Account.from_key(key).address
    theirs = Account.sign_typed_data(key, full_message=copy.deepcopy(ACCEPTED[case]))
    assert signature == bytes(theirs.signature)  # both sign deterministically (RFC 6979)


@pytest.mark.parametrize("case", sorted(REFUSED_WHERE_IMPLEMENTATIONS_DISAGREE))
def test_valid_fixture_where_implementations_disagree_is_refused_with_the_reason(
    case: str,
) -> None:
    message = VALID[case]
    assert len(_eth_account_digest(message)) == 32  # eth-account does accept it

    with pytest.raises(InvalidTypedData) as raised:
        typed_data_digest(message)

    assert REFUSED_WHERE_IMPLEMENTATIONS_DISAGREE[case] in str(raised.value)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_fixture_is_refused_naming_the_problem(case: str) -> None:
    with pytest.raises((ValueError, ValidationError)):  # what the fixture says: eth-account refuses
        _eth_account_digest(INVALID[case])

    with pytest.raises(InvalidTypedData) as raised:
        typed_data_digest(INVALID[case])

    assert INVALID_REASONS[case] in str(raised.value)


# ---- the encoder's edges --------------------------------------------------------------------


def _single_field(type_name: str, value: Any) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Box": [{"name": "value", "type": type_name}],
        },
        "primaryType": "Box",
        "domain": {"name": "edge cases"},
        "message": {"value": value},
    }


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("uint256", 2**256 - 1),
        ("uint256", 2**255),
        ("uint256", str(2**256 - 1)),
        ("uint256", "0xff"),
        ("int8", -128),
        ("int256", -(2**255)),
        ("int64", "-1"),
        ("uint96", 5000),
        ("bool", True),
        ("bytes", "0x"),
        ("bytes", "0x00ff"),
        ("bytes32", "0x" + "ab" * 32),
        ("bytes1", "0x7f"),
        ("string", ""),
        ("string", "Ünïcødé ✓"),
        ("address", "0x" + "AB" * 20),
        ("uint8[]", []),
        ("uint8[2][]", [[1, 2], [3, 4], [5, 6]]),
        ("bytes32[1]", ["0x" + "01" * 32]),
    ],
)
def test_edge_values_hash_as_eth_account_hashes_them(type_name: str, value: Any) -> None:
    message = _single_field(type_name, value)

    assert typed_data_digest(message) == _eth_account_digest(message)


@pytest.mark.parametrize(
    ("type_name", "value", "reason"),
    [
        ("uint256", 2**256, "out of range for uint256"),
        ("uint8", 256, "out of range for uint8"),
        ("uint8", -1, "out of range for uint8"),
        ("int8", 128, "out of range for int8"),
        ("uint256", True, "must be an integer"),
        ("uint256", 1.5, "must be an integer"),
        ("uint256", "twelve", "must be an integer"),
        ("bool", 2, "must be true or false"),
        ("bytes4", "0x0102030405", "too many for bytes4"),
        ("bytes", "00ff", "must be 0x-prefixed hex"),
        ("bytes", "0xzz", "is not valid hex"),
        ("address", "0x1234", "20-byte 0x-hex address"),
        ("address", "0xcD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "fails its EIP-55 checksum"),
        ("string", None, "must be a string"),
        ("uint8[2]", [1], "has 1 items; uint8[2] fixes 2"),
        ("uint8[]", 7, "must be an array"),
        ("uint8[0]", [], "a fixed array cannot have length 0"),
        ("uint7", 1, "neither a Solidity type nor a struct"),
        ("bytes33", "0x00", "neither a Solidity type nor a struct"),
        ("uint8[", 1, "malformed type 'uint8['"),
        ("uint8[2]x", [1, 2], "malformed type"),
    ],
)
def test_edge_values_out_of_their_type_are_refused_with_the_reason(
    type_name: str, value: Any, reason: str
) -> None:
    with pytest.raises(InvalidTypedData, match=re.escape(reason)):
        typed_data_digest(_single_field(type_name, value))


def test_struct_names_that_shadow_solidity_types_or_repeat_fields_are_refused() -> None:
    shadowing = _single_field("uint8", 1)
    shadowing["types"]["uint256"] = [{"name": "x", "type": "uint8"}]
    repeated = _single_field("uint8", 1)
    repeated["types"]["Box"].append({"name": "value", "type": "uint16"})

    with pytest.raises(InvalidTypedData, match="shadows a Solidity type"):
        typed_data_digest(shadowing)
    with pytest.raises(InvalidTypedData, match="declares the field 'value' twice"):
        typed_data_digest(repeated)


def test_typed_data_without_its_parts_is_refused() -> None:
    for part in ("types", "primaryType", "domain"):
        message = _single_field("uint8", 1)
        del message[part]
        with pytest.raises(InvalidTypedData, match=part):
            typed_data_digest(message)
    with pytest.raises(InvalidTypedData, match="unknown EIP712Domain field"):
        hash_domain({"name": "x", "flavour": "vanilla"})


def test_primary_type_eip712domain_signs_the_domain_alone() -> None:
    # MetaMask's eth_signTypedData_v4 allows it (eth-account does not): 0x1901 ‖ separator.
    message = {**_single_field("uint8", 1), "primaryType": "EIP712Domain"}
    separator = hash_domain(message["domain"], message["types"])

    assert typed_data_digest(message) == keccak256(b"\x19\x01" + separator)


def test_checksum_address_matches_eip55() -> None:
    lower = COW_ADDRESS.lower()

    assert checksum_address(lower) == COW_ADDRESS
    assert checksum_address(bytes.fromhex(lower[2:])) == COW_ADDRESS
    with pytest.raises(InvalidTypedData, match="20 bytes"):
        checksum_address("0x1234")


# ---- signatures -----------------------------------------------------------------------------

_MAIL_SIGNATURE = MAIL_R.to_bytes(32, "big") + MAIL_S.to_bytes(32, "big") + bytes([MAIL_V])


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (_MAIL_SIGNATURE[:64], "this one has 64"),
        (_MAIL_SIGNATURE + b"\0", "this one has 66"),
        ("0x" + "zz" * 65, "not hex"),
        (_MAIL_SIGNATURE[:64] + bytes([29]), "v must be 27 or 28, not 29"),
        (
            MAIL_R.to_bytes(32, "big") + (SECP256K1_N - MAIL_S).to_bytes(32, "big") + bytes([27]),
            "lower half order",
        ),
        (MAIL_R.to_bytes(32, "big") + bytes(32) + bytes([28]), "lower half order"),
    ],
)
def test_malformed_signatures_are_refused_with_the_reason(
    signature: str | bytes, reason: str
) -> None:
    with pytest.raises(InvalidSignature, match=re.escape(reason)):
        recover_signer(bytes.fromhex(MAIL_DIGEST), signature)


def test_high_s_twin_is_refused_although_it_recovers_the_same_key() -> None:
    # (r, n - s) with v flipped is the textbook malleated twin; eth-keys still recovers Cow from it.
    twin = MAIL_R.to_bytes(32, "big") + (SECP256K1_N - MAIL_S).to_bytes(32, "big") + bytes([27])
    assert Account._recover_hash(bytes.fromhex(MAIL_DIGEST), signature=twin) == COW_ADDRESS

    with pytest.raises(InvalidSignature, match="EIP-2"):
        signature_bytes(twin)


def test_signature_as_hex_with_or_without_0x_and_v_as_0_or_1_recovers_the_same_signer() -> None:
    digest = bytes.fromhex(MAIL_DIGEST)
    yellow_paper_v = _MAIL_SIGNATURE[:64] + bytes([MAIL_V - 27])

    for signature in (
        _MAIL_SIGNATURE,
        "0x" + _MAIL_SIGNATURE.hex(),
        _MAIL_SIGNATURE.hex(),
        yellow_paper_v,
    ):
        assert recover_signer(digest, signature) == COW_ADDRESS


def test_a_signature_with_r_zero_recovers_no_key() -> None:
    signature = bytes(32) + MAIL_S.to_bytes(32, "big") + bytes([27])

    with pytest.raises(InvalidSignature, match="no public key recovers"):
        recover_signer(bytes.fromhex(MAIL_DIGEST), signature)


def test_our_signatures_are_always_low_s_and_recover() -> None:
    for index in range(64):
        key = keccak256(b"low-s %d" % index)
        digest = keccak256(b"digest %d" % index)
        signature = sign_digest_dangerously(digest, key)
        assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2
        assert signature[64] in (27, 28)
        assert recover_signer(digest, signature) == Account.from_key(key).address


def test_signing_anything_but_a_32_byte_digest_is_refused() -> None:
    with pytest.raises(InvalidTypedData, match="a digest is 32 bytes, not 31"):
        sign_digest_dangerously(b"\1" * 31, COW_KEY)
