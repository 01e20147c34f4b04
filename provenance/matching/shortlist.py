"""`KeypointShortlist`: which registered works share keypoints with a query, at any registry size.

Each work contributes its first `per_work` ORB descriptors (`local_features` lists the strongest
of each part of the image first, so the first few are spread over it and a crop keeps some). A
descriptor's 256 bits are cut into eight 32-bit substrings; for each substring position the
shortlist keeps the (substring value, row) pairs sorted by value, so the descriptors sharing a
whole substring with a query descriptor are found by binary search (`np.searchsorted`), in time
that grows with the logarithm of the registry, not with its size. A query descriptor votes once
for every work it shares at least one substring with; the works with most votes are the
shortlist that the caller checks geometrically.

Why whole 32-bit substrings: a copy's descriptor differs from the original's in about 10 to 30 of
256 bits, so one of its eight substrings survives intact with a fair chance (at 20 flipped bits,
each substring with probability 0.875**20 = 0.07, one of eight 0.44), and a crop still keeps
dozens of voting descriptors; while a random 32-bit value is shared by almost nothing (at 10M
works x 128 descriptors, 0.3 entries on average), so votes need no distance check and the full
descriptors need not be in memory. Values shared by more than `max_bucket` entries (flat patches,
repeated textures: ORB's bits are far from uniform) are stop words and cast no vote.

How many descriptors a work keeps trades memory for crop recall. The whole Matcher on the shared
paintings (bench/matching_robustness.py: 300 registered, 836 unregistered) found 25% crops at
93.7% / 97.7% / 99.0% with 64 / 128 / 256 a work, 10% crops at 98.7% / 100% / 100%, 5-degree
rotations at 100% each, with no false match. The default, 128, meets the goals (99% under a 10%
crop, 90% under a 25% one) at 8 bytes per descriptor and position (uint32 value, uint32 row):
8 KiB a work, 8 GiB for a million.

New rows go to a small sorted delta that is searched beside the base and folded into it once it
reaches an eighth of its size, so adding one work at a time does not re-sort the registry.
Not safe to `add` while another thread searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from provenance.matching.local import DESCRIPTOR_BYTES

SUBSTRING_BYTES: Final = 4
"""Bytes per substring: eight 32-bit substrings per 256-bit ORB descriptor."""

POSITIONS: Final = DESCRIPTOR_BYTES // SUBSTRING_BYTES

PER_WORK: Final = 128
"""Default number of descriptors a work contributes (its first, in `local_features` order)."""

MAX_BUCKET: Final = 256
"""Default largest number of entries sharing one substring value that still votes."""

_FOLD_FRACTION: Final = 8  # fold the delta into the base once it holds base / 8 entries
_MIN_FOLD: Final = 65_536

Rows = npt.NDArray[np.uint32]


@dataclass
class _Sorted:
    """One level: for each position, substring values sorted, and the row of each entry."""

    values: npt.NDArray[np.uint32]  # (POSITIONS, n)
    rows: Rows  # (POSITIONS, n)

    @classmethod
    def empty(cls) -> _Sorted:
        return cls(np.empty((POSITIONS, 0), np.uint32), np.empty((POSITIONS, 0), np.uint32))

    @classmethod
    def of(cls, values: npt.NDArray[np.uint32], rows: Rows) -> _Sorted:
        """Entries `values` (n, POSITIONS) of `rows` (n,), sorted position by position.

        Each position sorts (value << 32 | row) as one uint64 key: one contiguous sort, no
        gather, and equal values keep their rows in ascending order, as a stable sort would.
        """
        level = cls(
            np.empty((POSITIONS, len(values)), np.uint32),
            np.empty((POSITIONS, len(values)), np.uint32),
        )
        low = rows.astype(np.uint64)
        for position in range(POSITIONS):  # one position at a time keeps the sort's memory small
            keys = (values[:, position].astype(np.uint64) << np.uint64(32)) | low
            keys.sort()
            level.values[position] = keys >> np.uint64(32)
            level.rows[position] = keys.astype(np.uint32)  # the low 32 bits
        return level

    def __len__(self) -> int:
        return int(self.values.shape[1])

    def merged(self, later: _Sorted) -> _Sorted:
        """Both levels as one, in one linear merge per position; `later` holds the newer rows."""
        if not len(self):
            return later
        level = _Sorted(
            np.empty((POSITIONS, len(self) + len(later)), np.uint32),
            np.empty((POSITIONS, len(self) + len(later)), np.uint32),
        )
        for position in range(POSITIONS):
            # Equal values keep the older entries first, as one stable sort of both would.
            where = np.searchsorted(self.values[position], later.values[position], side="right")
            level.values[position] = np.insert(self.values[position], where, later.values[position])
            level.rows[position] = np.insert(self.rows[position], where, later.rows[position])
        return level


def _pairs(
    levels: Sequence[_Sorted], queries: npt.NDArray[np.uint32], max_bucket: int
) -> tuple[npt.NDArray[np.int64], Rows]:
    """(query descriptor, row) for each entry sharing a substring with a query descriptor.

    A substring value held by more than `max_bucket` entries, counted over all levels, is a stop
    word and gives no pair.
    """
    found_queries, found_rows = [], []
    labels = np.arange(len(queries), dtype=np.int64)
    for position in range(POSITIONS):
        keys = queries[:, position]
        spans = []
        for level in levels:
            column = level.values[position]
            starts = np.searchsorted(column, keys, side="left")
            spans.append((level, starts, np.searchsorted(column, keys, side="right") - starts))
        total = sum(lengths for _, _, lengths in spans)
        voting = (total > 0) & (total <= max_bucket)
        for level, starts, lengths in spans:
            starts, lengths = starts[voting], lengths[voting]
            # Flatten the slices [start, start + length) without a Python loop.
            offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            found_rows.append(level.rows[position][offsets + np.arange(int(lengths.sum()))])
            found_queries.append(np.repeat(labels[voting], lengths))
    return np.concatenate(found_queries), np.concatenate(found_rows)


class KeypointShortlist:
    """Rows (registered works) voted for by the keypoint descriptors of a query."""

    def __init__(self, *, per_work: int = PER_WORK, max_bucket: int = MAX_BUCKET) -> None:
        """An empty shortlist keeping `per_work` descriptors a work."""
        if per_work < 1 or max_bucket < 1:
            raise ValueError(
                f"per_work and max_bucket must be 1 or more; got {per_work} and {max_bucket}"
            )
        self.per_work = per_work
        self.max_bucket = max_bucket
        self._base = _Sorted.empty()
        self._delta = _Sorted.empty()
        self._pending_values: list[npt.NDArray[np.uint32]] = []
        self._pending_rows: list[Rows] = []
        self._rows = 0

    def __len__(self) -> int:
        """Number of rows (works) added."""
        return self._rows

    @property
    def nbytes(self) -> int:
        """Bytes held by the sorted entries (the pending ones not counted)."""
        return sum(level.values.nbytes + level.rows.nbytes for level in (self._base, self._delta))

    def add(self, descriptors: npt.NDArray[np.uint8]) -> int:
        """Add one work's descriptors (n, 32), in `local_features` order; returns its row."""
        return self.add_many([descriptors]).start

    def add_many(self, works: Sequence[npt.NDArray[np.uint8]]) -> range:
        """Add works' descriptors ((n, 32) each, `local_features` order); returns their rows."""
        kept = []
        for descriptors in works:
            if descriptors.ndim != 2 or descriptors.shape[1:] != (DESCRIPTOR_BYTES,):
                raise ValueError(
                    f"descriptors must be (n, {DESCRIPTOR_BYTES}) uint8; got {descriptors.shape}"
                )
            kept.append(np.asarray(descriptors[: self.per_work], dtype=np.uint8))
        rows = range(self._rows, self._rows + len(kept))
        if rows.stop > 1 << 32:
            raise ValueError(f"a shortlist holds fewer than 2**32 works; got {rows.stop:,}")
        if kept:
            counts = [len(descriptors) for descriptors in kept]
            self._pending_values.append(_substrings(np.concatenate(kept)))
            self._pending_rows.append(np.repeat(np.asarray(rows, dtype=np.uint32), counts))
        self._rows = rows.stop
        return rows

    def top(self, descriptors: npt.NDArray[np.uint8], count: int) -> list[tuple[int, int]]:
        """Up to `count` (row, votes) with the most votes, most first, then lowest row."""
        if len(descriptors) == 0 or self._rows == 0:
            return []
        self._fold_pending()
        queries = _substrings(np.asarray(descriptors, dtype=np.uint8))
        levels = [level for level in (self._base, self._delta) if len(level)]
        return self._ranked([_pairs(levels, queries, self.max_bucket)], count)

    def top_linear(self, descriptors: npt.NDArray[np.uint8], count: int) -> list[tuple[int, int]]:
        """The same answer as `top`, by scanning every entry (the baseline)."""
        if len(descriptors) == 0 or self._rows == 0:
            return []
        self._fold_pending()
        queries = _substrings(np.asarray(descriptors, dtype=np.uint8))
        found = []
        for position in range(POSITIONS):
            values = np.concatenate([self._base.values[position], self._delta.values[position]])
            rows = np.concatenate([self._base.rows[position], self._delta.rows[position]])
            keys = np.sort(queries[:, position])
            # One pass over every stored value: is it one of the query's keys?
            where = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
            hit = np.flatnonzero(keys[where] == values)
            shared, sizes = np.unique(values[hit], return_counts=True)
            voting = np.isin(values[hit], shared[sizes <= self.max_bucket])
            hit = hit[voting]
            labels = np.argsort(queries[:, position], kind="stable")
            starts = np.searchsorted(keys, values[hit], side="left")
            lengths = np.searchsorted(keys, values[hit], side="right") - starts
            offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            found.append(
                (labels[offsets + np.arange(int(lengths.sum()))], np.repeat(rows[hit], lengths))
            )
        return self._ranked(found, count)

    def _ranked(
        self, found: list[tuple[npt.NDArray[np.int64], Rows]], count: int
    ) -> list[tuple[int, int]]:
        """Votes from (query descriptor, row) pairs: one per descriptor and work, most first."""
        if not found:
            return []
        labels = np.concatenate([pair[0] for pair in found])
        rows = np.concatenate([pair[1] for pair in found]).astype(np.int64)
        # A query descriptor votes once per work, however many substrings it shares with it.
        pairs = np.unique(labels * self._rows + rows)
        voted, votes = np.unique(pairs % self._rows, return_counts=True)
        order = np.lexsort((voted, -votes))[:count]
        return list(zip(voted[order].tolist(), votes[order].tolist(), strict=True))

    def _fold_pending(self) -> None:
        """Sort the rows added since the last search into the delta; fold a large delta."""
        if not self._pending_values:
            return
        values, rows = np.concatenate(self._pending_values), np.concatenate(self._pending_rows)
        self._pending_values, self._pending_rows = [], []  # freed before the sort's copies
        fresh = _Sorted.of(values, rows)
        del values, rows
        self._delta = self._delta.merged(fresh)
        if len(self._delta) >= max(len(self._base) // _FOLD_FRACTION, _MIN_FOLD) or not len(
            self._base
        ):
            self._base, self._delta = self._base.merged(self._delta), _Sorted.empty()


def _substrings(descriptors: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """Each descriptor's eight 32-bit substrings, (n, POSITIONS) uint32."""
    return np.ascontiguousarray(descriptors).view(">u4").astype(np.uint32).reshape(-1, POSITIONS)
