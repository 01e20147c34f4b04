"""IPFS content identifiers: the CIDv1 that `ipfs add --cid-version 1` prints for a file's bytes.

`cid_v1` reproduces kubo's default importer exactly, without a node: the bytes are cut into fixed
262,144-byte chunks, each chunk is a raw block (codec 0x55), and when there is more than one chunk
they hang from a balanced tree of dag-pb (0x70) nodes of at most 174 links each, every node carrying
UnixFS `Data{Type=File, filesize, blocksizes}`. Multihash sha2-256; the CID string is multibase
base32 (lower case, prefix "b"). A file of one chunk or less, the empty file included, is a single
raw block, so its CID is `cid_v1_raw` of it.

Verified against published vectors (see tests/provenance/test_ipfs.py): kubo's own sharness tests
(the empty file, small text files, a 5 MiB file of 20 chunks and a 100 MiB file of 400 chunks, the
latter a two-level tree) and go-unixfsnode's reference files (1 KiB to 10 MiB).

Only kubo's defaults are reproduced: a node configured otherwise (`Import.UnixFSChunker`,
`Import.UnixFSFileMaxLinks`, or an import profile with bigger chunks or wider nodes), or `ipfs add`
with --chunker, --trickle, --raw-leaves=false or another hash, gives other CIDs for files over
256 KiB (and, for the last two, for every file).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

CHUNK_SIZE = 262_144
"""Bytes per leaf: kubo's default chunker, `size-262144`."""

MAX_LINKS = 174
"""Links per dag-pb node in kubo's balanced layout (8 KiB / 47 bytes per link, rounded down)."""

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
_CID_V1 = 0x01
_UNIXFS_FILE = 2


def cid_v1(data: bytes) -> str:
    """The CID that `ipfs add --cid-version 1` (kubo's defaults) prints for a file of `data`."""
    return _cid_string(_import_file(data, on_block=None).cid)


def cid_v1_raw(data: bytes) -> str:
    """The CID of `data` as one raw block; NOT what `ipfs add` gives for data over 256 KiB."""
    return _cid_string(_cid_bytes(RAW, data))


@dataclass(frozen=True)
class FileDag:
    """A file imported as kubo does: its root CID and every block, keyed by CID string."""

    root: str
    blocks: dict[str, bytes]


def file_dag(data: bytes) -> FileDag:
    """Every block `ipfs add --cid-version 1` would store for `data`, to inspect or export."""
    blocks: dict[str, bytes] = {}

    def keep(cid: bytes, block: bytes) -> None:
        blocks[_cid_string(cid)] = block

    root = _import_file(data, on_block=keep)
    return FileDag(root=_cid_string(root.cid), blocks=blocks)


@dataclass(frozen=True)
class _Node:
    """A block already built: its binary CID, the file bytes under it, and its whole DAG size."""

    cid: bytes
    file_size: int
    dag_size: int


class _BalancedImporter:
    """Kubo's balanced layout (boxo/ipld/unixfs/importer/balanced) over fixed-size raw leaves."""

    def __init__(self, data: bytes, on_block: Callable[[bytes, bytes], None] | None) -> None:
        self._data = memoryview(data)
        self._offset = 0
        self._on_block = on_block

    def done(self) -> bool:
        """Whether every byte has gone into a leaf."""
        return self._offset >= len(self._data)

    def leaf(self) -> _Node:
        """The next chunk as a raw block (an empty one for the empty file)."""
        chunk = self._data[self._offset : self._offset + CHUNK_SIZE]
        self._offset += len(chunk)
        cid = _cid_bytes(RAW, chunk)
        if self._on_block is not None:
            self._on_block(cid, bytes(chunk))
        return _Node(cid=cid, file_size=len(chunk), dag_size=len(chunk))

    def fill(self, children: list[_Node], depth: int) -> _Node:
        """Add subtrees of `depth - 1` (leaves at depth 1) until full or out of data; seal it."""
        while len(children) < MAX_LINKS and not self.done():
            children.append(self.leaf() if depth == 1 else self.fill([], depth - 1))
        return self._branch(children)

    def _branch(self, children: list[_Node]) -> _Node:
        """A dag-pb node linking `children`, with UnixFS File data listing their sizes."""
        file_size = sum(child.file_size for child in children)
        unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, file_size)
        unixfs += b"".join(_field_varint(4, child.file_size) for child in children)
        # dag-pb's canonical form puts every Links entry (field 2) before Data (field 1).
        links = b"".join(
            _field_bytes(
                2,
                _field_bytes(1, child.cid)
                + _field_bytes(2, b"")
                + _field_varint(3, child.dag_size),
            )
            for child in children
        )
        block = links + _field_bytes(1, unixfs)
        cid = _cid_bytes(DAG_PB, block)
        if self._on_block is not None:
            self._on_block(cid, block)
        dag_size = len(block) + sum(child.dag_size for child in children)
        return _Node(cid=cid, file_size=file_size, dag_size=dag_size)


def _import_file(data: bytes, on_block: Callable[[bytes, bytes], None] | None) -> _Node:
    """The root of `data` laid out as kubo does: grow the tree one level at a time."""
    importer = _BalancedImporter(data, on_block)
    root = importer.leaf()
    depth = 1
    while not importer.done():
        root = importer.fill([root], depth)
        depth += 1
    return root


def _cid_bytes(codec: int, block: bytes | memoryview) -> bytes:
    """Binary CIDv1: version, codec, then the sha2-256 multihash of `block`."""
    digest = hashlib.sha256(block).digest()
    return encode_varint(_CID_V1) + encode_varint(codec) + bytes([SHA2_256, len(digest)]) + digest


def _cid_string(cid: bytes) -> str:
    """Multibase base32 lower case without padding, prefix "b"."""
    return "b" + base64.b32encode(cid).decode("ascii").lower().rstrip("=")


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf and multiformats write integers."""
    if value < 0:
        raise ValueError(f"varints are unsigned; got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    """A protobuf varint field (wire type 0)."""
    return encode_varint(number << 3) + encode_varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    """A protobuf length-delimited field (wire type 2)."""
    return encode_varint(number << 3 | 2) + encode_varint(len(value)) + value
