"""Which registered work an image is a copy of: exact bytes, global hashes, local features.

Modules: `codes` (pHash64 and a 256-bit PDQ-style hash as uint64 words), `index` (`HashIndex`,
multi-index hashing over millions of codes, with a linear-scan baseline), `local` (ORB keypoints
and their RANSAC check), `shortlist` (`KeypointShortlist`, which works share keypoint descriptors
with a query, by binary search over sorted 32-bit substrings), `matcher` (`Matcher`, the three
combined) and `prints` (`WorkPrint`, one image's codes and keypoints as bytes to store, so a
matcher is rebuilt without decoding images).

Dependencies: numpy, Pillow and OpenCV only (all already required). faiss-cpu was considered for
the descriptor shortlist but not added: indexing every descriptor (500 a work, 32 bytes each)
costs 16 KiB a work before any index structure, and its inverted lists grow with the registry,
while the substring shortlist keeps 8 KiB a work and answers by binary search. Memory per work
and latency by registry size are in docs/BENCHMARKS.md (bench/matching_latency.py).
"""

from provenance.matching.codes import PDQ_BITS, PHASH_BITS, hamming_distances, pdq256, phash64
from provenance.matching.index import HashIndex
from provenance.matching.local import LocalFeatures, geometric_inliers, local_features
from provenance.matching.matcher import (
    METHODS,
    DuplicateWork,
    Match,
    Matcher,
    MatcherConfig,
    Method,
    WorkId,
)
from provenance.matching.prints import DamagedPrint, WorkPrint, print_image
from provenance.matching.shortlist import KeypointShortlist

__all__ = [
    "METHODS",
    "PDQ_BITS",
    "PHASH_BITS",
    "DamagedPrint",
    "DuplicateWork",
    "HashIndex",
    "KeypointShortlist",
    "LocalFeatures",
    "Match",
    "Matcher",
    "MatcherConfig",
    "Method",
    "WorkId",
    "WorkPrint",
    "geometric_inliers",
    "hamming_distances",
    "local_features",
    "pdq256",
    "phash64",
    "print_image",
]
