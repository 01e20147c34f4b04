"""Local features: ORB keypoints that survive crops and rotations, and their geometric check.

Global hashes summarise the whole frame, so a 25% crop moves them as far as an unrelated image.
ORB (Rublee et al., 2011) describes up to 500 corners each by 256 binary tests (32 bytes), which
survive cropping, rotation, scaling and JPEG. Images are first scaled so the longer side is 384
pixels: the shared paintings are about 256 pixels, too few for ORB's 31-pixel patches, and a fixed
working size makes the keypoint scales comparable between a copy and its original. 384 rather
than the 512 used first: ORB costs less on 56% of the pixels, and bench/matching_robustness.py
found the same or better top-1 under every transform but a 25% crop (98.3% against 99.0%). The FAST
corner threshold is 10 rather than OpenCV's 20: smooth paintings then still give 300 or more
keypoints instead of about 30, which lifted the weakest 25% crops from 15 inliers to 75.

Two images show the same work when enough matches (Lowe's ratio test at 0.8, Hamming distance
under 64) agree on one similarity transform (rotation, uniform scale, translation) found by
RANSAC (`cv2.estimateAffinePartial2D`, 5-pixel tolerance) whose scale is plausible (1/8..8). On
150 shared paintings a 25% crop kept 75 or more inliers while unrelated paintings reached 8 at
most; the Matcher's threshold comes from bench/matching_robustness.py.

Which registered works to check is `provenance.matching.shortlist.KeypointShortlist`'s answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

WORKING_SIDE: Final = 384
"""Longer side, in pixels, each image is scaled to before keypoints are detected."""

MAX_FEATURES: Final = 500
"""Most keypoints kept per image (ORB keeps the strongest by Harris score)."""

DESCRIPTOR_BYTES: Final = 32

_GRID: Final = 4  # cells per side over which the first keypoints are spread
_FAST_THRESHOLD: Final = 10
_RATIO: Final = 0.8
_MAX_DESCRIPTOR_DISTANCE: Final = 64
_RANSAC_TOLERANCE: Final = 5.0
_MIN_SCALE: Final = 1 / 8
_MAX_SCALE: Final = 8.0


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """Keypoints of one image: positions (n, 2) float32 and ORB descriptors (n, 32) uint8."""

    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        """Refuse arrays whose shapes do not pair up."""
        if self.points.shape != (len(self.descriptors), 2) or self.descriptors.shape[1:] != (
            DESCRIPTOR_BYTES,
        ):
            raise ValueError(
                f"expected points (n, 2) and descriptors (n, {DESCRIPTOR_BYTES}); "
                f"got {self.points.shape} and {self.descriptors.shape}"
            )

    def __len__(self) -> int:
        """Number of keypoints."""
        return len(self.descriptors)


def local_features(
    image: Image.Image, *, max_features: int = MAX_FEATURES, side: int = WORKING_SIDE
) -> LocalFeatures:
    """ORB keypoints and descriptors of an RGB image, in working-size pixels.

    The image is scaled so its longer side is `side` (registered prints use `WORKING_SIDE`; a
    query may use another, `MatcherConfig.query_side`). Ordered for a shortlist that keeps the
    first few: strongest first within each cell of a 4x4 grid, the cells taken in turn
    (`_spread_order`).
    """
    gray = np.asarray(image.convert("L"))  # (H, W)
    scale = side / max(gray.shape)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
    detector = cv2.ORB.create(nfeatures=max_features, fastThreshold=_FAST_THRESHOLD)
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(
            points=np.empty((0, 2), dtype=np.float32),
            descriptors=np.empty((0, DESCRIPTOR_BYTES), dtype=np.uint8),
        )
    order = _spread_order(
        np.array([keypoint.pt for keypoint in keypoints], dtype=np.float32),
        np.array([keypoint.response for keypoint in keypoints], dtype=np.float32),
        gray.shape,
    )
    points = np.array([keypoints[index].pt for index in order], dtype=np.float32)
    return LocalFeatures(points=points, descriptors=np.ascontiguousarray(descriptors[order]))


def _spread_order(
    points: npt.NDArray[np.float32], responses: npt.NDArray[np.float32], shape: tuple[int, ...]
) -> npt.NDArray[np.intp]:
    """Keypoints strongest first within each cell of a grid, the cells taken in turn.

    A shortlist keeps a work's first few keypoints; taken by response alone they can all sit in
    one contrasted corner that a crop cuts away (two 25% crops with 140 inliers against their
    original got no vote). Taking the best of every cell, then the second best, and so on,
    spreads the first few over the whole image.
    """
    height, width = shape[:2]
    rows = np.minimum((points[:, 1] * _GRID / height).astype(np.intp), _GRID - 1)
    columns = np.minimum((points[:, 0] * _GRID / width).astype(np.intp), _GRID - 1)
    cells = rows * _GRID + columns
    by_cell = np.lexsort((-responses, cells))  # cell, then strongest first
    starts = np.searchsorted(cells[by_cell], np.arange(_GRID * _GRID))
    rank = np.empty(len(points), dtype=np.intp)
    rank[by_cell] = np.arange(len(points)) - starts[cells[by_cell]]
    order: npt.NDArray[np.intp] = np.lexsort((-responses, rank))  # rank in its cell, then strength
    return order


def geometric_inliers(query: LocalFeatures, reference: LocalFeatures) -> int:
    """Matches between two images that agree on one plausible similarity transform (0 if none)."""
    if len(query) < 2 or len(reference) < 2:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [
        pair[0]
        for pair in pairs
        if len(pair) == 2
        and pair[0].distance < _RATIO * pair[1].distance
        and pair[0].distance < _MAX_DESCRIPTOR_DISTANCE
    ]
    if len(good) < 3:
        return 0
    source = query.points[[match.queryIdx for match in good]]
    target = reference.points[[match.trainIdx for match in good]]
    transform, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=_RANSAC_TOLERANCE
    )
    if transform is None or inliers is None:
        return 0
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    if not _MIN_SCALE <= scale <= _MAX_SCALE:
        return 0
    return int(inliers.sum())
