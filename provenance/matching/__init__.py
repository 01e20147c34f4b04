"""Which registered work an image is a copy of: exact bytes, global hashes, local features.

Modules: `codes` (pHash64 and a 256-bit PDQ-style hash as uint64 words), `index` (`HashIndex`,
multi-index hashing over millions of codes, with a linear-scan baseline), `local` (ORB keypoints
and their RANSAC check), `matcher` (`Matcher`, the three combined) and `prints` (`WorkPrint`, one
image's codes and keypoints as bytes to store, so a matcher is rebuilt without decoding images).

Dependencies: numpy, Pillow and OpenCV only (all already required). faiss-cpu was considered for
the descriptor shortlist but not added, nor benchmarked: the substring-vote shortlist over
`HashIndex` put the right work first for all 300 measured 25% crops and costs a few milliseconds
at 1,000 registered works (bench/matching_latency.py). Local features are kept in memory, about
70 KiB per work with their index, so they suit registries up to about 100,000 works; beyond that the
shortlist would need a compressed index (faiss's binary IVF is the candidate to measure).
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

__all__ = [
    "METHODS",
    "PDQ_BITS",
    "PHASH_BITS",
    "DamagedPrint",
    "DuplicateWork",
    "HashIndex",
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
