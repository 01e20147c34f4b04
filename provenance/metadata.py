"""The ERC-721 metadata JSON of a work, in one canonical byte form, and its `ipfs://` URI.

The certificate signs `metadataURI` = `ipfs://<CIDv1 of canonical_json(metadata)>`, so the metadata
must serialise to the same bytes every time and everywhere. `canonical_json` is RFC 8785 (JCS) for
the values it accepts, with one deliberate difference for floats (below):

- objects: keys sorted by their UTF-16 code units (as JCS and JavaScript sort), no whitespace;
  keys must be strings;
- arrays: in the given order (lists and tuples);
- strings: UTF-8, escaping only `"`, `\\` and control characters (`\\n`, `\\u001f`, ...); lone
  surrogates are refused;
- `None`, `True`, `False`: `null`, `true`, `false`;
- ints: plain decimal digits, and only within +-(2**53 - 1), the integers every JSON reader
  (JavaScript included) holds exactly; larger ones (seeds, token ids, wei) must be decimal strings;
- floats: finite only (NaN and infinities are refused), written as JCS writes them (ECMAScript's
  shortest round-trip form: `0.7`, `1e-7`, `1e+21`), except that a float with an integral value
  in plain notation keeps a `.0` (`1.0`, not JCS's `1`). Integer notation thus appears only where
  the value is an int, and `json.loads` gives back the same types.

Anything else (bytes, sets, Decimals, dataclasses) is refused with `InvalidMetadata`, naming where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from eth_utils.address import is_hex_address, to_checksum_address

from provenance.errors import InvalidMetadata
from provenance.hashing import content_hash
from provenance.ipfs import cid_v1

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest int `canonical_json` writes as a number; beyond it, pass a decimal string."""

MAX_ROYALTY_BPS: Final = 5000
"""The contract's cap on royalties: 5,000 basis points (50%)."""

METADATA_SCHEMA: Final = "atelier-work/1"
"""Names the shape of `properties` in the metadata `work_metadata` builds."""

_ZERO_HASH: Final = bytes(32)
_UINT256_LIMIT: Final = 2**256


def canonical_json(value: object) -> bytes:
    """The one byte form of a JSON value: RFC 8785 (JCS), but integral floats keep `.0`."""
    parts: list[str] = []
    _write(value, parts, "$")
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidMetadata(
            f"a string holds a lone surrogate ({error.object[error.start : error.end]!r}), which "
            "is not Unicode text and has no UTF-8 form"
        ) from error


def _write(value: object, parts: list[str], path: str) -> None:
    """Append the canonical form of `value` (found at `path`) to `parts`."""
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        parts.append(_integer(value, path))
    elif isinstance(value, float):
        parts.append(_float(value, path))
    elif isinstance(value, Mapping):
        _write_object(value, parts, path)
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts, f"{path}[{index}]")
        parts.append("]")
    else:
        raise InvalidMetadata(
            f"{path}: a {type(value).__name__} has no JSON form; use a string, number, bool, None, "
            "list or dict"
        )


def _write_object(value: Mapping[object, object], parts: list[str], path: str) -> None:
    """Append an object, members sorted by the UTF-16 code units of their keys."""
    keys: list[str] = []
    for key in value:
        if not isinstance(key, str):
            raise InvalidMetadata(f"{path}: object keys must be strings; got {key!r}")
        keys.append(key)
    try:
        keys.sort(key=lambda key: key.encode("utf-16-be"))
    except UnicodeEncodeError as error:
        raise InvalidMetadata(f"{path}: a key holds a lone surrogate: {error.object!r}") from error
    parts.append("{")
    for index, key in enumerate(keys):
        if index:
            parts.append(",")
        parts.append(json.dumps(key, ensure_ascii=False))
        parts.append(":")
        _write(value[key], parts, f"{path}.{key}")
    parts.append("}")


def _integer(value: int, path: str) -> str:
    """Decimal digits of an int inside JavaScript's safe range."""
    if abs(value) > MAX_SAFE_INTEGER:
        raise InvalidMetadata(
            f"{path}: {value} is outside +-(2**53 - 1), where JSON readers lose integer precision; "
            "pass it as a decimal string"
        )
    return str(int(value))


def _float(value: float, path: str) -> str:
    """ECMAScript Number-to-String of a finite float, with `.0` kept on integral plain forms."""
    if not math.isfinite(value):
        raise InvalidMetadata(f"{path}: {value} is not a finite number and has no JSON form")
    if value == 0:
        return "0.0"
    sign = "-" if value < 0 else ""
    # float.__repr__ is the shortest string that reads back to the same float, as ECMAScript's is.
    decimal = Decimal(float.__repr__(abs(value))).as_tuple()
    digits = "".join(str(digit) for digit in decimal.digits).rstrip("0")
    assert isinstance(decimal.exponent, int)  # a finite Decimal has an int exponent
    # value = 0.<digits> x 10**point, with `digits` free of trailing zeros (ECMAScript's k and n).
    point = len(decimal.digits) + decimal.exponent
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count) + ".0"
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if count > 1 else "")
        text = f"{mantissa}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1)}"
    return sign + text


@dataclass(frozen=True)
class Lineage:
    """How a work was generated: what the certificate's Generation holds, plus the model's name."""

    model_hash: bytes
    dataset_hash: bytes
    config_hash: bytes
    seed: int
    model_name: str
    truncation: float | None = None

    def __post_init__(self) -> None:
        """Refuse values the certificate or the metadata could not carry."""
        for name in ("model_hash", "dataset_hash", "config_hash"):
            digest = getattr(self, name)
            if not isinstance(digest, bytes) or len(digest) != len(_ZERO_HASH):
                raise InvalidMetadata(f"{name} must be 32 bytes (a sha256 digest); got {digest!r}")
        if isinstance(self.seed, bool) or not 0 <= self.seed < _UINT256_LIMIT:
            raise InvalidMetadata(f"seed must be an integer in [0, 2**256); got {self.seed!r}")
        if not self.model_name.strip():
            raise InvalidMetadata("model_name must name the model; got an empty string")
        if self.truncation is not None:
            if not math.isfinite(self.truncation) or self.truncation <= 0:
                raise InvalidMetadata(
                    f"truncation must be a finite number above 0; got {self.truncation!r}"
                )
            object.__setattr__(self, "truncation", float(self.truncation))


def work_metadata(
    *,
    name: str,
    description: str,
    image: bytes,
    creator: str,
    royalty_receiver: str,
    royalty_bps: int,
    lineage: Lineage | None = None,
    external_url: str | None = None,
) -> dict[str, Any]:
    """ERC-721 metadata for a work whose image file is `image`; `lineage` None means uploaded."""
    if not name.strip():
        raise InvalidMetadata("name must not be empty")
    if isinstance(royalty_bps, bool) or not 0 <= royalty_bps <= MAX_ROYALTY_BPS:
        raise InvalidMetadata(
            f"royalty_bps must be an integer from 0 to {MAX_ROYALTY_BPS} (50%); got {royalty_bps!r}"
        )
    if not image:
        raise InvalidMetadata("image is empty; pass the bytes of the image file")
    creator_address = _checksummed("creator", creator)
    receiver_address = _checksummed("royalty_receiver", royalty_receiver)

    attributes: list[dict[str, Any]] = [
        {"trait_type": "Origin", "value": "Generated" if lineage else "Uploaded"}
    ]
    generation: dict[str, Any] = {
        "modelHash": _hex32(lineage.model_hash if lineage else _ZERO_HASH),
        "datasetHash": _hex32(lineage.dataset_hash if lineage else _ZERO_HASH),
        "configHash": _hex32(lineage.config_hash if lineage else _ZERO_HASH),
        "seed": str(lineage.seed if lineage else 0),
    }
    if lineage is not None:
        generation["modelName"] = lineage.model_name
        attributes.append({"trait_type": "Model", "value": lineage.model_name})
        attributes.append({"trait_type": "Seed", "value": str(lineage.seed)})
        if lineage.truncation is not None:
            generation["truncation"] = lineage.truncation
            attributes.append(
                {"trait_type": "Truncation", "value": lineage.truncation, "display_type": "number"}
            )

    metadata: dict[str, Any] = {
        "name": name,
        "description": description,
        "image": "ipfs://" + cid_v1(image),
        "attributes": attributes,
        "properties": {
            "schema": METADATA_SCHEMA,
            "contentHash": _hex32(content_hash(image)),
            "creator": creator_address,
            "royalty": {"receiver": receiver_address, "bps": royalty_bps},
            "generation": generation,
        },
    }
    if external_url is not None:
        metadata["external_url"] = external_url
    canonical_json(metadata)  # fail here, naming the field, rather than at upload time
    return metadata


def metadata_uri(metadata: Mapping[str, Any]) -> str:
    """`ipfs://` + the CID `ipfs add --cid-version 1` gives the file `canonical_json(metadata)`."""
    return "ipfs://" + cid_v1(canonical_json(metadata))


def _checksummed(field: str, address: str) -> str:
    """An address in its EIP-55 mixed-case form, or `InvalidMetadata` naming the field."""
    if not isinstance(address, str) or not is_hex_address(address):
        raise InvalidMetadata(f"{field} must be a 0x-prefixed 20-byte hex address; got {address!r}")
    return str(to_checksum_address(address))


def _hex32(digest: bytes) -> str:
    """A 32-byte digest as 0x-prefixed lowercase hex, as bytes32 values appear in typed data."""
    return "0x" + digest.hex()
