"""Global image codes as rows of uint64 words: the 64-bit pHash and a 256-bit PDQ-style hash.

A code with `bits` bits is a numpy array of `bits // 64` uint64 words, first word most significant,
so Hamming distances are `np.bitwise_count(a ^ b).sum()` and many codes stack into an (n, words)
array that `HashIndex` searches. `pdq256` follows the published PDQ recipe (Facebook, 2019): luma,
a box-filtered 64x64 thumbnail, the 16x16 lowest DCT frequencies without the DC row and column,
each bit "above the median"; it is not bit-compatible with the reference code, which uses Jarosz
tent filters. On the shared paintings it survives every photometric and scaling transform of the
robustness benchmark with more margin than pHash64 (see bench/matching_robustness.py).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from provenance.hashing import phash

Codes = npt.NDArray[np.uint64]
"""Codes as uint64 words: shape (words,) for one code, (n, words) for many."""

PDQ_BITS: Final = 256
PHASH_BITS: Final = 64

_PDQ_THUMBNAIL: Final = 64
_PDQ_LOW: Final = 16


def phash64(image: Image.Image) -> Codes:
    """The 64-bit pHash of `provenance.hashing` as a one-word code, shape (1,)."""
    return np.array([phash(image)], dtype=np.uint64)


def pdq256(image: Image.Image) -> Codes:
    """256-bit PDQ-style DCT hash: 64x64 luma, 16x16 low frequencies against their median; (4,)."""
    gray = image.convert("L").resize((_PDQ_THUMBNAIL, _PDQ_THUMBNAIL), Image.Resampling.BOX)
    pixels = np.asarray(gray, dtype=np.float64)  # (64, 64)
    low = _PDQ_DCT @ pixels @ _PDQ_DCT.T  # (16, 16)
    return pack_bits(low > np.median(low))


def pack_bits(bits: npt.NDArray[np.bool_]) -> Codes:
    """Booleans (a multiple of 64, row-major) into uint64 words, the first bit most significant."""
    flat = bits.reshape(-1)
    if flat.size % 64:
        raise ValueError(f"a code needs a multiple of 64 bits; got {flat.size}")
    return np.packbits(flat).view(">u8").astype(np.uint64)


def hamming_distances(codes: Codes, code: Codes) -> npt.NDArray[np.int64]:
    """Hamming distances of each row of `codes` (n, words) to `code`, (words,) or (n, words)."""
    distances = np.zeros(len(codes), dtype=np.int64)
    # Word by word: several times faster than XOR-ing whole rows and summing along axis 1.
    for word in range(codes.shape[1]):
        distances += np.bitwise_count(codes[:, word] ^ code[..., word])
    return distances


def _dct_rows(size: int, first: int, count: int) -> npt.NDArray[np.float64]:
    """Rows `first`..`first + count - 1` of the orthonormal DCT-II matrix of order `size`."""
    k = np.arange(first, first + count)[:, None]
    n = np.arange(size)[None, :]
    matrix: npt.NDArray[np.float64] = np.sqrt(2.0 / size) * np.cos(
        np.pi * k * (2 * n + 1) / (2 * size)
    )
    return matrix


_PDQ_DCT: Final = _dct_rows(_PDQ_THUMBNAIL, 1, _PDQ_LOW)  # (16, 64), DC row left out
