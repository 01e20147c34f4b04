"""`HashIndex`: Hamming-radius search over millions of binary codes by multi-index hashing.

Each code is cut into 16-bit substrings; for every substring position the index keeps the row
numbers sorted by that substring's value plus a 65,537-entry offset table, so all rows with a
given substring value are one slice (an exact-lookup bucket). Two codes within distance r differ
by at most r // m bits in at least one of their m substrings (pigeonhole), so a search looks up
every value within about r // m bits of each query substring, then checks the full distance of only
those rows (Norouzi, Punjani and Fleet, "Fast search in Hamming space with multi-index hashing",
CVPR 2012). The answer is exactly the linear scan's; when the buckets would hold more than a
quarter of the rows (a large radius or a tiny index) the index does the linear scan instead.

Memory: 8 bytes per 64 code bits plus 4 bytes per row and substring (a 64-bit code: 24 bytes per
row; a 256-bit code: 96). Buckets are rebuilt, in one sort per substring, on the first search
after `add`; `save` writes ids and codes only (.npz, no pickle) and `load` rebuilds them.
Not safe to `add` while another thread searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Final

import numpy as np
import numpy.typing as npt

from provenance.matching.codes import Codes, hamming_distances

SUBSTRING_BITS: Final = 16
"""Bits per substring: one exact-lookup table of 2**16 buckets per substring position."""

_BUCKETS: Final = 1 << SUBSTRING_BITS
_LINEAR_FRACTION: Final = 0.25
_FORMAT_VERSION: Final = 1

Ids = npt.NDArray[np.int64]


class HashIndex:
    """Rows of (integer id, binary code) searchable by Hamming radius."""

    def __init__(self, bits: int) -> None:
        """An empty index for codes of `bits` bits (a multiple of 64)."""
        if bits <= 0 or bits % 64:
            raise ValueError(f"codes must have a positive multiple of 64 bits; got {bits}")
        self.bits = bits
        self._words = bits // 64
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._codes: Codes = np.empty((0, self._words), dtype=np.uint64, order="F")
        self._pending_ids: list[Ids] = []
        self._pending_codes: list[Codes] = []
        self._orders: list[npt.NDArray[np.uint32]] = []
        self._starts: list[npt.NDArray[np.int64]] = []
        self._built_rows = -1

    def __len__(self) -> int:
        """Number of rows (codes) held."""
        return len(self._ids) + sum(len(ids) for ids in self._pending_ids)

    @property
    def substrings(self) -> int:
        """Number of 16-bit substrings each code is cut into."""
        return self.bits // SUBSTRING_BITS

    def add(self, ids: Sequence[int] | Ids, codes: Codes) -> None:
        """Append rows: `ids` (n,) integers, `codes` (n, bits // 64) uint64 words."""
        id_array = np.asarray(ids, dtype=np.int64).reshape(-1)
        code_array = np.asarray(codes)
        if code_array.dtype != np.uint64:
            raise TypeError(f"codes must be uint64 words; got dtype {code_array.dtype}")
        code_array = code_array.reshape(-1, self._words)
        if len(id_array) != len(code_array):
            raise ValueError(
                f"{len(id_array)} ids for {len(code_array)} codes of {self.bits} bits; "
                "pass one id per code"
            )
        self._pending_ids.append(id_array.copy())
        self._pending_codes.append(np.ascontiguousarray(code_array))

    def codes(self) -> tuple[Ids, Codes]:
        """Every row's id (n,) and code (n, words), in insertion order."""
        self._merge_pending()
        return self._ids, self._codes

    def search(self, code: Codes, max_distance: int) -> list[tuple[int, int]]:
        """Rows within `max_distance` bits of `code`, as (id, distance), nearest first."""
        query = self._query(code)
        rows = self._candidate_rows(query, max_distance)
        if rows is None:
            return self.search_linear(code, max_distance)
        distances = self._distances(rows, query)
        close = distances <= max_distance
        # A row can sit in several of the query's buckets; deduplicate the few that are close.
        rows, first = np.unique(rows[close], return_index=True)
        return self._answer(rows, distances[close][first])

    def search_linear(self, code: Codes, max_distance: int) -> list[tuple[int, int]]:
        """The same answer as `search`, by scanning every row (the baseline)."""
        query = self._query(code)
        self._merge_pending()
        distances = hamming_distances(self._codes, query)
        rows = np.flatnonzero(distances <= max_distance)
        return self._answer(rows, distances[rows])

    def save(self, path: str | PathLike[str]) -> None:
        """Write ids and codes to an .npz file (no pickle); `load` reads it back."""
        ids, codes = self.codes()
        np.savez(path, version=_FORMAT_VERSION, bits=self.bits, ids=ids, codes=codes)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> HashIndex:
        """An index read from a file `save` wrote."""
        with np.load(path, allow_pickle=False) as stored:
            version = int(stored["version"])
            if version != _FORMAT_VERSION:
                raise ValueError(
                    f"{path} holds a hash index of format {version}; "
                    f"this version reads format {_FORMAT_VERSION}"
                )
            index = cls(int(stored["bits"]))
            index.add(stored["ids"], stored["codes"])
        return index

    def _query(self, code: Codes) -> Codes:
        """One query code as (words,) uint64, checked against this index's width."""
        query = np.asarray(code)
        if query.dtype != np.uint64 or query.size != self._words:
            raise ValueError(
                f"a query must be {self._words} uint64 word(s) ({self.bits} bits); "
                f"got {query.size} of dtype {query.dtype}"
            )
        return query.reshape(self._words)

    def _candidate_rows(self, query: Codes, max_distance: int) -> npt.NDArray[np.int64] | None:
        """Rows in the buckets near each query substring (repeats kept), or None to scan instead."""
        if max_distance < 0:
            raise ValueError(f"max_distance must be 0 or more; got {max_distance}")
        self._build()
        # With r = m * q + a (0 <= a < m), a code within r has one of the first a + 1
        # substrings within q bits or one of the others within q - 1 (Norouzi et al.'s tighter
        # pigeonhole), which skips the widest lookups for the last m - a - 1 substrings.
        whole, extra = divmod(max_distance, self.substrings)
        keys = [
            self._substring(query[None, :], position)[0]
            ^ _masks_within(whole if position <= extra else whole - 1)
            for position in range(self.substrings)
        ]
        sizes = sum(
            int((self._starts[p][k + 1] - self._starts[p][k]).sum()) for p, k in enumerate(keys)
        )
        if sizes > _LINEAR_FRACTION * len(self._ids):
            return None
        return np.concatenate(
            [self._bucket_rows(position, key) for position, key in enumerate(keys)]
        )

    def _bucket_rows(self, position: int, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Rows whose substring at `position` equals any of `keys`."""
        return self._bucket_pairs(position, keys, np.zeros(len(keys), dtype=np.int64))[1]

    def _bucket_pairs(
        self, position: int, keys: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(label of the key, row) for every row whose substring at `position` is one of `keys`."""
        starts = self._starts[position][keys]
        lengths = self._starts[position][keys + 1] - starts
        total = int(lengths.sum())
        # Flatten the slices [start, start + length) without a Python loop.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        rows = self._orders[position][offsets + np.arange(total)].astype(np.int64)
        return np.repeat(labels, lengths), rows

    def _distances(self, rows: npt.NDArray[np.int64], query: Codes) -> npt.NDArray[np.int64]:
        """Hamming distances of `rows` to `query`, (words,) or one code per row (n, words)."""
        distances = np.zeros(len(rows), dtype=np.int64)
        for word in range(self._words):
            # Codes are stored column-major, so each word's gather reads one contiguous column.
            distances += np.bitwise_count(self._codes[rows, word] ^ query[..., word])
        return distances

    def _substring(self, codes: Codes, position: int) -> npt.NDArray[np.int64]:
        """The 16-bit substring at `position` (0 = most significant) of each code; shape (n,)."""
        word, part = divmod(position, 64 // SUBSTRING_BITS)
        shift = np.uint64(64 - SUBSTRING_BITS * (part + 1))
        return ((codes[:, word] >> shift) & np.uint64(_BUCKETS - 1)).astype(np.int64)

    def _answer(
        self, rows: npt.NDArray[np.int64], distances: npt.NDArray[np.int64]
    ) -> list[tuple[int, int]]:
        """(id, distance) pairs sorted by distance, then by insertion order."""
        order = np.lexsort((rows, distances))
        return list(zip(self._ids[rows[order]].tolist(), distances[order].tolist(), strict=True))

    def _merge_pending(self) -> None:
        """Fold rows added since the last search into the main arrays."""
        if self._pending_ids:
            self._ids = np.concatenate([self._ids, *self._pending_ids])
            self._codes = np.asfortranarray(np.concatenate([self._codes, *self._pending_codes]))
            self._pending_ids, self._pending_codes = [], []

    def _build(self) -> None:
        """(Re)build the buckets of every substring position if rows were added."""
        self._merge_pending()
        if self._built_rows == len(self._ids):
            return
        if len(self._ids) >= 1 << 32:
            raise ValueError(f"an index holds fewer than 2**32 rows; got {len(self._ids):,}")
        self._orders, self._starts = [], []
        for position in range(self.substrings):
            values = self._substring(self._codes, position).astype(np.uint16)
            self._orders.append(np.argsort(values, kind="stable").astype(np.uint32))
            counts = np.bincount(values, minlength=_BUCKETS)
            self._starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        self._built_rows = len(self._ids)


def _masks_within(radius: int) -> npt.NDArray[np.int64]:
    """Every 16-bit XOR mask of at most `radius` set bits (none for a negative radius)."""
    return _ALL_MASKS[min(radius, SUBSTRING_BITS) >= _MASK_WEIGHTS]


_ALL_MASKS: Final = np.arange(_BUCKETS, dtype=np.int64)
_MASK_WEIGHTS: Final = np.bitwise_count(_ALL_MASKS)
