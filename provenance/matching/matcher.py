"""`Matcher`: which registered work an image is a copy of, or no match.

Three checks, cheapest first, the first that answers wins:
1. exact: the sha256 of the file bytes equals a registered file's (only when both were bytes);
2. hash: a registered work's 256-bit PDQ-style hash is within `hash_threshold` bits;
3. local: ORB keypoints, shortlisted by descriptor votes (`KeypointShortlist`), then verified by a
   RANSAC similarity transform with at least `min_inliers` inliers (this finds crops and
   rotations).
Each answer is a frozen `Match` that names the method, its measured distance or inliers, and the
threshold that accepted it. The default thresholds come from bench/matching_robustness.py.

Memory per registered work: the hash index's 96 bytes, the shortlist's 8 KiB, and, unless a
`fetch_features` function is given, the work's keypoints (about 20 KiB for 500): a platform that
stores its prints passes one, and only the shortlisted works' keypoints are read per query.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from provenance.errors import ProvenanceError
from provenance.hashing import DEFAULT_MAX_PIXELS, content_hash, open_image
from provenance.matching.codes import PDQ_BITS, pdq256
from provenance.matching.index import HashIndex
from provenance.matching.local import (
    DESCRIPTOR_BYTES,
    MAX_FEATURES,
    WORKING_SIDE,
    LocalFeatures,
    geometric_inliers,
    local_features,
)
from provenance.matching.prints import WorkPrint, print_image
from provenance.matching.shortlist import PER_WORK, KeypointShortlist

WorkId = int | str
"""A work's id as the caller gives it."""

Method = Literal["exact", "hash", "local"]
"""How a match was found."""

METHODS: Final[tuple[Method, ...]] = ("exact", "hash", "local")

_FORMAT_VERSION: Final = 1
_BATCH: Final = 4096  # works stored per batch by add_many


class DuplicateWork(ProvenanceError):
    """A work id registered twice."""


@dataclass(frozen=True)
class MatcherConfig:
    """Thresholds and sizes of a `Matcher`."""

    hash_threshold: int = 31
    """Largest PDQ-style Hamming distance (of 256 bits) accepted as the same work.

    31 is PDQ's published default. On the shared paintings JPEG 50 and resized copies stay
    within 26 bits and different paintings are 90 or more apart; colour and gamma shifts can
    reach 60 and are left to local features. A larger radius costs index speed: 16-bit
    substrings searched within 2 bits or more each (radius 32 and up) visit many more buckets.
    """
    min_inliers: int = 24
    """Fewest RANSAC inliers accepted as the same work by local features.

    Over 9,196 distractor queries (bench/matching_robustness.py) the most voted unregistered
    work reached 16 inliers at most; 25% crops of registered works kept 50 or more in 99%.
    """
    shortlist: int = 3
    """Registered works, most voted first, whose keypoints are checked geometrically."""
    min_votes: int = 3
    """Fewest shortlist votes for a work to be checked geometrically at all.

    Of 1,125 crops, rotations and quarter-size copies of 300 shared paintings that verified, 3
    had fewer than 3 votes (none fewer than 2); of 300 unregistered paintings, 65% then have no
    work to check instead of 14% (0.5 RANSAC checks a query instead of 2.1, about 5 ms each).
    """
    shortlist_keypoints: int = PER_WORK
    """Descriptors of each registered work (its first, in `local_features` order) that vote."""
    query_votes: int = MAX_FEATURES
    """Descriptors of a query (its first, in `local_features` order) that vote in the
    shortlist; the geometric check uses them all. Each costs binary searches in every
    position of the shortlist."""
    max_features: int = MAX_FEATURES
    """Most ORB keypoints kept per image."""
    query_side: int = WORKING_SIDE
    """Longer side a query is scaled to for its keypoints (registered prints: `WORKING_SIDE`).

    The geometric check fits a similarity transform, scale included, so a query at another size
    than its original's print is still found; but 384 px queries against 512 px prints lost
    rotations and colour shifts (bench/matching_robustness.py), so both sides use one size.
    """
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Largest image decoded (see `provenance.hashing.open_image`)."""

    def __post_init__(self) -> None:
        """Refuse thresholds outside their range."""
        if not 0 <= self.hash_threshold < PDQ_BITS // 2:
            raise ValueError(
                f"hash_threshold must be in 0..{PDQ_BITS // 2 - 1} bits; got {self.hash_threshold}"
            )
        for name in (
            "min_inliers",
            "shortlist",
            "min_votes",
            "shortlist_keypoints",
            "max_features",
            "query_side",
            "query_votes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more; got {getattr(self, name)}")


@dataclass(frozen=True)
class Match:
    """A registered work an image was matched to, how, and by what margin."""

    work_id: WorkId
    method: Method
    distance: int | None
    """Hamming distance for "hash" (0 for "exact"); None for "local"."""
    inliers: int | None
    """Geometrically consistent keypoint matches for "local"; None otherwise."""
    threshold: int
    """The threshold the evidence passed: max distance for "hash", min inliers for "local"."""
    score: float
    """Confidence in 0..1: 1 - distance/128 for hashes, inliers / fewer keypoints for local."""


class Matcher:
    """Registered works, searchable by exact bytes, global hash and local features."""

    def __init__(
        self,
        config: MatcherConfig | None = None,
        *,
        fetch_features: Callable[[Sequence[WorkId]], Mapping[WorkId, LocalFeatures]] | None = None,
    ) -> None:
        """An empty matcher; with `fetch_features`, keypoints are read from there when checked.

        `fetch_features(work_ids)` returns the keypoints each work was added with, by id (a work
        that is gone is left out); the matcher then keeps only its hash and shortlist entries in
        memory and asks once per query, for the shortlisted works.
        """
        self.config = config or MatcherConfig()
        self._fetch_features = fetch_features
        self._work_ids: list[WorkId] = []
        self._rows: dict[WorkId, int] = {}
        self._content_hashes: dict[bytes, int] = {}
        self._hashes = HashIndex(PDQ_BITS)
        self._shortlist = KeypointShortlist(per_work=self.config.shortlist_keypoints)
        self._features: list[LocalFeatures] = []

    def __len__(self) -> int:
        """Number of registered works."""
        return len(self._work_ids)

    def __contains__(self, work_id: object) -> bool:
        """Whether `work_id` is registered."""
        return work_id in self._rows

    def register(self, work_id: WorkId, image: bytes | Image.Image) -> None:
        """Store what identifies a work: sha256 (bytes only), PDQ-style hash, ORB keypoints."""
        if work_id in self._rows:
            raise DuplicateWork(f"work {work_id!r} is already registered; use a new id")
        config = self.config
        self.add(
            work_id,
            print_image(image, max_features=config.max_features, max_pixels=config.max_pixels),
        )

    def add(self, work_id: WorkId, work_print: WorkPrint) -> None:
        """Register a work from its stored print (`provenance.matching.prints.print_image`)."""
        self.add_many([(work_id, work_print)])

    def add_many(self, prints: Iterable[tuple[WorkId, WorkPrint]]) -> int:
        """Register works from their prints, a batch at a time (a registry's start-up); how many.

        A duplicate id raises `DuplicateWork`; the works before its batch stay registered.
        """
        added, items = 0, iter(prints)
        while batch := list(itertools.islice(items, _BATCH)):
            ids = [work_id for work_id, _ in batch]
            repeated = [work_id for work_id in ids if work_id in self._rows]
            if repeated or len(set(ids)) != len(ids):
                twice = repeated[0] if repeated else next(w for w in ids if ids.count(w) > 1)
                raise DuplicateWork(f"work {twice!r} is already registered; use a new id")
            self._store([work_print for _, work_print in batch], ids)
            added += len(batch)
        return added

    def identify(
        self, image: bytes | Image.Image, *, methods: Collection[Method] = METHODS
    ) -> Match | None:
        """The registered work `image` is a copy of, by the first of `methods` that finds one."""
        data, picture = (image, None) if isinstance(image, bytes) else (None, image)
        if "exact" in methods and data is not None:
            row = self._content_hashes.get(content_hash(data))
            if row is not None:
                return Match(self._work_ids[row], "exact", 0, None, 0, 1.0)
        if picture is None:
            _, picture = self._decode(image)
        if "hash" in methods:
            found = self._hashes.search(pdq256(picture), self.config.hash_threshold)
            if found:
                row, distance = found[0]
                score = 1.0 - distance / (PDQ_BITS // 2)
                return Match(
                    self._work_ids[row], "hash", distance, None, self.config.hash_threshold, score
                )
        if "local" in methods:
            return self._identify_local(
                local_features(
                    picture, max_features=self.config.max_features, side=self.config.query_side
                )
            )
        return None

    def save(self, path: str | PathLike[str]) -> None:
        """Write every registered work to an .npz file (no pickle); `load` reads it back."""
        if self._fetch_features is not None:
            raise ValueError(
                "this matcher reads keypoints through fetch_features and does not hold them; "
                "save the prints where they are stored instead"
            )
        is_int = np.array([isinstance(work_id, int) for work_id in self._work_ids], dtype=bool)
        sha = np.zeros((len(self), 32), dtype=np.uint8)
        for digest, row in self._content_hashes.items():
            sha[row] = np.frombuffer(digest, dtype=np.uint8)
        lengths = np.array([len(features) for features in self._features], dtype=np.int64)
        _, codes = self._hashes.codes()
        np.savez_compressed(
            path,
            version=_FORMAT_VERSION,
            work_ids=np.array([str(work_id) for work_id in self._work_ids], dtype=np.str_),
            work_id_is_int=is_int,
            content_hashes=sha,
            hashes=codes,
            feature_counts=lengths,
            points=_concatenate([f.points for f in self._features], (0, 2), np.float32),
            descriptors=_concatenate(
                [f.descriptors for f in self._features], (0, DESCRIPTOR_BYTES), np.uint8
            ),
        )

    @classmethod
    def load(cls, path: str | PathLike[str], config: MatcherConfig | None = None) -> Matcher:
        """A matcher read from a file `save` wrote."""
        matcher = cls(config)
        with np.load(path, allow_pickle=False) as stored:
            version = int(stored["version"])
            if version != _FORMAT_VERSION:
                raise ValueError(
                    f"{path} holds matcher data of format {version}; "
                    f"this version reads format {_FORMAT_VERSION}"
                )
            ends = np.cumsum(stored["feature_counts"])
            starts = ends - stored["feature_counts"]
            points, descriptors = stored["points"], stored["descriptors"]
            hashes, digests = stored["hashes"], stored["content_hashes"]
            work_ids = [
                int(text) if is_int else text
                for text, is_int in zip(
                    stored["work_ids"].tolist(), stored["work_id_is_int"].tolist(), strict=True
                )
            ]
            matcher.add_many(
                (
                    work_id,
                    WorkPrint(
                        content_hash=digests[row].tobytes() if digests[row].any() else None,
                        code=hashes[row],
                        features=LocalFeatures(
                            points=points[starts[row] : ends[row]],
                            descriptors=descriptors[starts[row] : ends[row]],
                        ),
                    ),
                )
                for row, work_id in enumerate(work_ids)
            )
        return matcher

    def _decode(self, image: bytes | Image.Image) -> tuple[bytes | None, Image.Image]:
        """File bytes (when given) and the decoded upright RGB image."""
        if isinstance(image, bytes):
            return image, open_image(image, max_pixels=self.config.max_pixels)
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected image bytes or a PIL image; got {type(image).__name__}")
        return None, image if image.mode == "RGB" else open_image(_png(image))

    def _store(self, prints: Sequence[WorkPrint], work_ids: Sequence[WorkId]) -> None:
        """Append a batch of works' rows to every index."""
        first = len(self._work_ids)
        rows = range(first, first + len(work_ids))
        self._work_ids.extend(work_ids)
        self._rows.update(zip(work_ids, rows, strict=True))
        for row, work_print in zip(rows, prints, strict=True):
            if work_print.content_hash is not None:
                self._content_hashes.setdefault(work_print.content_hash, row)
        codes = np.stack([work_print.code.reshape(-1) for work_print in prints])
        self._hashes.add(np.asarray(rows), codes)
        self._shortlist.add_many([work_print.features.descriptors for work_print in prints])
        if self._fetch_features is None:
            self._features.extend(work_print.features for work_print in prints)

    def _identify_local(self, query: LocalFeatures) -> Match | None:
        """The most voted work, of the shortlist, that verifies geometrically; None if none does."""
        if len(query) == 0 or not self._work_ids:
            return None
        shortlist = [
            row
            for row, votes in self._shortlist.top(
                query.descriptors[: self.config.query_votes], self.config.shortlist
            )
            if votes >= self.config.min_votes
        ]
        references = self._reference_features(shortlist)
        # The most voted work that verifies wins: the right work led the votes for nearly every
        # 25% crop measured, and stopping there saves the other checks (about 5 ms each).
        for row in shortlist:
            reference = references.get(row)
            if reference is None:  # gone since it was added
                continue
            inliers = geometric_inliers(query, reference)
            if inliers >= self.config.min_inliers:
                fewer = min(len(query), len(reference))
                score = inliers / fewer
                return Match(
                    self._work_ids[row], "local", None, inliers, self.config.min_inliers, score
                )
        return None

    def _reference_features(self, rows: list[int]) -> dict[int, LocalFeatures]:
        """The keypoints of the works at `rows`: held, or read in one call of `fetch_features`."""
        if self._fetch_features is None:
            return {row: self._features[row] for row in rows}
        if not rows:
            return {}
        fetched = self._fetch_features([self._work_ids[row] for row in rows])
        return {row: fetched[self._work_ids[row]] for row in rows if self._work_ids[row] in fetched}


def _png(image: Image.Image) -> bytes:
    """A PIL image of any mode as PNG bytes, so `open_image` flattens it like a file."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _concatenate(
    arrays: list[npt.NDArray[np.generic]], empty_shape: tuple[int, int], dtype: type[np.generic]
) -> npt.NDArray[np.generic]:
    """Arrays stacked on the first axis, or an empty array of `empty_shape` when there are none."""
    return np.concatenate(arrays) if arrays else np.empty(empty_shape, dtype=dtype)
