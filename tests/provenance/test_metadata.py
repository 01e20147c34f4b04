"""Canonical JSON (RFC 8785 for what we accept) and the ERC-721 metadata of a work."""

from __future__ import annotations

import json
import math
import struct

import pytest

from provenance.errors import InvalidMetadata, ProvenanceError
from provenance.hashing import content_hash_hex
from provenance.ipfs import cid_v1
from provenance.metadata import (
    MAX_ROYALTY_BPS,
    METADATA_SCHEMA,
    Lineage,
    canonical_json,
    metadata_uri,
    work_metadata,
)
from tests.helpers import REPO

PAINTING = (
    REPO.parent
    / "shared"
    / "data"
    / "paintings"
    / "utagawa_hiroshige"
    / "utagawa_hiroshige_0001_11-mishima.jpg"
)
# EIP-55's own examples (ethereum/EIPs EIPS/eip-55.md): lower case in, mixed-case checksum out.
CREATOR = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
RECEIVER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def image_bytes() -> bytes:
    """A real painting's file bytes; fails the test plainly when the shared data is missing."""
    if not PAINTING.is_file():
        pytest.fail(f"the shared paintings are missing: expected {PAINTING} (see ../shared/data)")
    return PAINTING.read_bytes()


def lineage(**changes: object) -> Lineage:
    """A generated work's lineage, with `changes` applied."""
    values: dict[str, object] = {
        "model_hash": bytes.fromhex("11" * 32),
        "dataset_hash": bytes.fromhex("22" * 32),
        "config_hash": bytes.fromhex("33" * 32),
        "seed": 42,
        "model_name": "FastGAN hokusai-256",
        "truncation": 0.7,
    }
    values.update(changes)
    return Lineage(**values)  # type: ignore[arg-type]


def metadata(**changes: object) -> dict[str, object]:
    """A generated work's metadata, with `changes` to the arguments applied."""
    arguments: dict[str, object] = {
        "name": "Mishima after Hiroshige",
        "description": "Generated in the Atelier studio.",
        "image": image_bytes(),
        "creator": CREATOR.lower(),
        "royalty_receiver": RECEIVER.lower(),
        "royalty_bps": 500,
        "lineage": lineage(),
    }
    arguments.update(changes)
    return work_metadata(**arguments)  # type: ignore[arg-type]


# --- canonical_json: RFC 8785 vectors -----------------------------------------------------------

# cyberphone/json-canonicalization testdata/input/values.json -> testdata/output/values.json
# (the reference implementation of RFC 8785; the same sample is RFC 8785 section 3.2.2).
JCS_VALUES_INPUT = r"""{
  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
  "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
JCS_VALUES_OUTPUT = (
    r"""{"escaping":"€$\u000f\nA'B\"\\\\\"/","literals":[null,true,false],"""
    r""""numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}"""
)

# cyberphone/json-canonicalization testdata/input/weird.json -> testdata/output/weird.json: keys
# sort by UTF-16 code units, so U+1F602 (a surrogate pair, D83D DE02) comes before U+FB33.
JCS_WEIRD_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}"""
JCS_WEIRD_OUTPUT = (
    '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f602":"Smiley",'
    '"\ufb33":"Hebrew Letter Dalet With Dagesh"}'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(JCS_VALUES_INPUT, JCS_VALUES_OUTPUT), (JCS_WEIRD_INPUT, JCS_WEIRD_OUTPUT)],
    ids=["values", "weird"],
)
def test_canonical_json_matches_the_jcs_reference_files(text: str, expected: str) -> None:
    assert canonical_json(json.loads(text)) == expected.encode("utf-8")


# RFC 8785 appendix B, "Number Serialization Samples": IEEE 754 bits -> JCS text. Our one change:
# a float with an integral value in plain notation keeps ".0" (the third column where it differs).
RFC8785_NUMBERS = [
    ("0000000000000000", "0", "0.0"),
    ("8000000000000000", "0", "0.0"),
    ("0000000000000001", "5e-324", None),
    ("8000000000000001", "-5e-324", None),
    ("7fefffffffffffff", "1.7976931348623157e+308", None),
    ("ffefffffffffffff", "-1.7976931348623157e+308", None),
    ("4340000000000000", "9007199254740992", "9007199254740992.0"),
    ("c340000000000000", "-9007199254740992", "-9007199254740992.0"),
    ("4430000000000000", "295147905179352830000", "295147905179352830000.0"),
    ("44b52d02c7e14af5", "9.999999999999997e+22", None),
    ("44b52d02c7e14af6", "1e+23", None),
    ("44b52d02c7e14af7", "1.0000000000000001e+23", None),
    ("444b1ae4d6e2ef4e", "999999999999999700000", "999999999999999700000.0"),
    ("444b1ae4d6e2ef4f", "999999999999999900000", "999999999999999900000.0"),
    ("444b1ae4d6e2ef50", "1e+21", None),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7", None),
    ("3eb0c6f7a0b5ed8d", "0.000001", None),
    ("41b3de4355555553", "333333333.3333332", None),
    ("41b3de4355555554", "333333333.33333325", None),
    ("41b3de4355555555", "333333333.3333333", None),
    ("41b3de4355555556", "333333333.3333334", None),
    ("41b3de4355555557", "333333333.33333343", None),
    ("becbf647612f3696", "-0.0000033333333333333333", None),
    ("43143ff3c1cb0959", "1424953923781206.2", None),
]


@pytest.mark.parametrize(("bits", "jcs", "ours"), RFC8785_NUMBERS)
def test_floats_are_written_as_jcs_writes_them(bits: str, jcs: str, ours: str | None) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]

    text = canonical_json(value).decode()

    assert text == (ours or jcs)
    assert json.loads(text) == value
    assert isinstance(json.loads(text), float)


def test_ints_are_plain_digits_and_bools_are_not_ints() -> None:
    assert (
        canonical_json([0, -1, 2**53 - 1, -(2**53 - 1)])
        == b"[0,-1,9007199254740991,-9007199254740991]"
    )
    assert canonical_json([True, False, None]) == b"[true,false,null]"
    assert canonical_json([1, 1.0, 0.5]) == b"[1,1.0,0.5]"


def test_objects_are_sorted_and_compact_at_every_depth() -> None:
    value = {"b": [{"z": 1, "a": (2, 3)}], "a": {"y": "", "x": {}}, "": []}

    assert canonical_json(value) == b'{"":[],"a":{"x":{},"y":""},"b":[{"a":[2,3],"z":1}]}'


def test_canonical_json_is_a_fixed_point() -> None:
    once = canonical_json(metadata())

    assert canonical_json(json.loads(once)) == once


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, r"\$: nan is not a finite number"),
        ({"a": [1, math.inf]}, r"\$\.a\[1\]: inf is not a finite number"),
        ({"seed": 2**53}, r"\$\.seed: 9007199254740992 is outside .* pass it as a decimal string"),
        ([-(2**64)], r"outside"),
        ({"image": b"\x89PNG"}, r"\$\.image: a bytes has no JSON form"),
        ({1, 2}, r"a set has no JSON form"),
        ({1: "one"}, r"object keys must be strings; got 1"),
        ("\ud800", r"lone surrogate"),
        ({"\udfff": 1}, r"lone surrogate"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message) as refused:
        canonical_json(value)

    assert isinstance(refused.value, ProvenanceError)


# --- work_metadata ------------------------------------------------------------------------------


def test_metadata_points_at_the_image_and_records_its_hash() -> None:
    data = image_bytes()

    work = metadata()

    assert work["name"] == "Mishima after Hiroshige"
    assert work["image"] == "ipfs://" + cid_v1(data)
    assert str(work["image"]).startswith("ipfs://bafkrei")  # a 40 KB JPEG is a single raw block
    properties = work["properties"]
    assert isinstance(properties, dict)
    assert properties["schema"] == METADATA_SCHEMA
    assert properties["contentHash"] == content_hash_hex(data)
    assert properties["creator"] == CREATOR
    assert properties["royalty"] == {"receiver": RECEIVER, "bps": 500}


def test_metadata_carries_the_generation_lineage() -> None:
    work = metadata(lineage=lineage(seed=2**255 + 1))

    properties = work["properties"]
    assert isinstance(properties, dict)
    assert properties["generation"] == {
        "modelHash": "0x" + "11" * 32,
        "datasetHash": "0x" + "22" * 32,
        "configHash": "0x" + "33" * 32,
        "seed": str(2**255 + 1),  # a uint256: a decimal string, as in the typed data
        "modelName": "FastGAN hokusai-256",
        "truncation": 0.7,
    }
    assert work["attributes"] == [
        {"trait_type": "Origin", "value": "Generated"},
        {"trait_type": "Model", "value": "FastGAN hokusai-256"},
        {"trait_type": "Seed", "value": str(2**255 + 1)},
        {"trait_type": "Truncation", "value": 0.7, "display_type": "number"},
    ]


def test_an_uploaded_work_has_an_all_zero_generation() -> None:
    work = metadata(lineage=None)

    properties = work["properties"]
    assert isinstance(properties, dict)
    assert properties["generation"] == {
        "modelHash": "0x" + "00" * 32,
        "datasetHash": "0x" + "00" * 32,
        "configHash": "0x" + "00" * 32,
        "seed": "0",
    }
    assert work["attributes"] == [{"trait_type": "Origin", "value": "Uploaded"}]


def test_a_whole_number_truncation_stays_a_float() -> None:
    work = metadata(lineage=lineage(truncation=1))

    assert b'"truncation":1.0' in canonical_json(work)


def test_metadata_is_a_pure_function_of_its_arguments() -> None:
    assert canonical_json(metadata()) == canonical_json(metadata())
    assert metadata_uri(metadata()) == metadata_uri(metadata())
    assert metadata_uri(metadata()) != metadata_uri(metadata(image=image_bytes() + b"\x00"))
    assert metadata_uri(metadata()) != metadata_uri(metadata(royalty_bps=501))


def test_metadata_uri_is_the_cid_of_the_canonical_bytes() -> None:
    work = metadata(external_url="https://atelier.example/works/1")

    uri = metadata_uri(work)

    assert uri == "ipfs://" + cid_v1(canonical_json(work))
    assert uri.startswith("ipfs://bafkrei")
    assert work["external_url"] == "https://atelier.example/works/1"


def test_the_canonical_form_of_a_work_is_pinned() -> None:
    # Any change to this text changes every work's metadataURI: change it only on purpose.
    work = work_metadata(
        name="Étude n° 1",
        description="Line one\nline two",
        image=b"not really an image",
        creator=CREATOR,
        royalty_receiver=RECEIVER,
        royalty_bps=250,
        lineage=lineage(seed=7, truncation=0.5),
    )

    expected = (
        '{"attributes":[{"trait_type":"Origin","value":"Generated"},'
        '{"trait_type":"Model","value":"FastGAN hokusai-256"},{"trait_type":"Seed","value":"7"},'
        '{"display_type":"number","trait_type":"Truncation","value":0.5}],'
        '"description":"Line one\\nline two",'
        '"image":"ipfs://' + cid_v1(b"not really an image") + '",'
        '"name":"Étude n° 1",'
        '"properties":{"contentHash":"' + content_hash_hex(b"not really an image") + '",'
        '"creator":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",'
        '"generation":{"configHash":"0x' + "33" * 32 + '","datasetHash":"0x' + "22" * 32 + '",'
        '"modelHash":"0x' + "11" * 32 + '","modelName":"FastGAN hokusai-256","seed":"7",'
        '"truncation":0.5},'
        '"royalty":{"bps":250,"receiver":"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"},'
        '"schema":"atelier-work/1"}}'
    )
    assert canonical_json(work) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"royalty_bps": MAX_ROYALTY_BPS + 1}, "royalty_bps must be an integer from 0 to 5000"),
        ({"royalty_bps": -1}, "royalty_bps"),
        ({"royalty_bps": True}, "royalty_bps"),
        ({"creator": "0x1234"}, "creator must be a 0x-prefixed 20-byte hex address; got '0x1234'"),
        ({"royalty_receiver": "alice.eth"}, "royalty_receiver must be"),
        ({"name": "  "}, "name must not be empty"),
        ({"image": b""}, "image is empty"),
    ],
)
def test_bad_metadata_arguments_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message):
        metadata(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_hash": b"\x11" * 31}, "model_hash must be 32 bytes"),
        ({"config_hash": "0x" + "33" * 32}, "config_hash must be 32 bytes"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*256\)"),
        ({"seed": 2**256}, "seed must be"),
        ({"model_name": ""}, "model_name must name the model"),
        ({"truncation": math.nan}, "truncation must be a finite number above 0"),
        ({"truncation": 0.0}, "truncation must be"),
    ],
)
def test_bad_lineage_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message):
        lineage(**changes)
