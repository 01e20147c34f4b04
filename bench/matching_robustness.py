"""Matching robustness: is a transformed copy found, and is an unregistered painting left alone?

    .venv/bin/python bench/matching_robustness.py [--registered 300] [--workers 2] [--json OUT]

Registers `--registered` of the shared paintings (shuffled with `--seed`, so artists mix) in a
`Matcher`; every other painting is a distractor, never registered. Each painting is then queried
under every transform, re-encoded as JPEG 95 unless the transform is a JPEG quality itself:

- jpeg90/70/50: re-encoded at that quality; resize0.5/0.25: Lanczos downscale of both sides;
- crop10/crop25: keep 90% / 75% of the width and of the height at a random position;
- rotate5: 5 degrees about the centre, same canvas, black corners;
- gamma0.7/1.4: every channel through x ** gamma; colour: hue +20 degrees, saturation x1.3.

Methods: pHash64 (a `HashIndex` of `provenance.hashing.phash`, threshold 10 bits), the 256-bit
PDQ-style hash, local features (ORB + RANSAC) and the combined Matcher. Each hash's nearest
candidate is recorded with an open threshold, then judged at the threshold in the table; local
features run at the Matcher's own inlier threshold (so distractor inliers show only when they
pass it, and the inlier columns describe matches that passed); the
combined row is the Matcher's cascade (exact, then hash, then local) over the same per-method
answers, which is what `Matcher.identify` computes. top-1 = registered copies matched to the right
work; false = distractor copies matched to anything (0.1% is the goal); wrong = registered copies
matched to another work.

Some paintings appear twice in the shared set (another photograph of the same canvas, or a
version the artist painted twice, such as two L'Arlesiennes); within a pair the originals are at
most 80 PDQ bits apart, against 96 or more for 99.99% of other pairs. The later image of each pair
is left out, since matching it to its twin is not a false match in any useful sense; the count is
printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provenance.hashing import open_image  # noqa: E402
from provenance.matching import (  # noqa: E402
    HashIndex,
    Matcher,
    MatcherConfig,
    hamming_distances,
    pdq256,
    phash64,
)

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
PHASH_THRESHOLD = 10
VERSION_DISTANCE = 80


def jpeg(image: Image.Image, quality: int) -> bytes:
    """`image` as JPEG bytes at `quality`."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def crop(image: Image.Image, keep: float, rng: np.random.Generator) -> Image.Image:
    """A `keep` fraction of width and height at a random position."""
    width, height = image.size
    new_width, new_height = round(width * keep), round(height * keep)
    left = int(rng.integers(0, width - new_width + 1))
    top = int(rng.integers(0, height - new_height + 1))
    return image.crop((left, top, left + new_width, top + new_height))


def gamma(image: Image.Image, power: float) -> Image.Image:
    """Every channel through (x / 255) ** power."""
    table = [round(255 * (level / 255) ** power) for level in range(256)] * 3
    return image.point(table)


def colour(image: Image.Image) -> Image.Image:
    """Hue turned by 20 degrees and saturation raised by 30%."""
    hsv = np.asarray(image.convert("HSV")).astype(np.int64)
    hsv[..., 0] = (hsv[..., 0] + round(20 / 360 * 256)) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.3, 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def resize(image: Image.Image, factor: float) -> Image.Image:
    """Both sides times `factor`, Lanczos."""
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


Transform = Callable[[Image.Image, np.random.Generator], bytes]
TRANSFORMS: dict[str, Transform] = {
    "jpeg90": lambda image, _: jpeg(image, 90),
    "jpeg70": lambda image, _: jpeg(image, 70),
    "jpeg50": lambda image, _: jpeg(image, 50),
    "resize0.5": lambda image, _: jpeg(resize(image, 0.5), 95),
    "resize0.25": lambda image, _: jpeg(resize(image, 0.25), 95),
    "crop10": lambda image, rng: jpeg(crop(image, 0.9, rng), 95),
    "crop25": lambda image, rng: jpeg(crop(image, 0.75, rng), 95),
    "rotate5": lambda image, _: jpeg(
        image.rotate(5, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)), 95
    ),
    "gamma0.7": lambda image, _: jpeg(gamma(image, 0.7), 95),
    "gamma1.4": lambda image, _: jpeg(gamma(image, 1.4), 95),
    "colour": lambda image, _: jpeg(colour(ImageOps.exif_transpose(image)), 95),
}


@dataclass(frozen=True)
class Answer:
    """What each method said about one query: nearest ids with distances, best local inliers."""

    transform: str
    truth: str | None
    exact: str | None
    phash_id: str | None
    phash_distance: int
    pdq_id: str | None
    pdq_distance: int
    local_id: str | None
    local_inliers: int


_STATE: dict[str, object] = {}


def paintings() -> list[Path]:
    """Every shared painting, sorted; fails plainly when they are missing."""
    if not PAINTINGS.is_dir():
        sys.exit(f"the shared paintings are missing: expected {PAINTINGS}")
    return sorted(PAINTINGS.glob("*/*.jpg"))


def without_versions(files: list[Path]) -> tuple[list[Path], int]:
    """`files` less the later image of every pair within VERSION_DISTANCE PDQ bits."""
    codes = np.stack([pdq256(open_image(path.read_bytes())) for path in files])
    keep: list[int] = []
    for index in range(len(files)):
        if not keep or hamming_distances(codes[keep], codes[index]).min() > VERSION_DISTANCE:
            keep.append(index)
    return [files[index] for index in keep], len(files) - len(keep)


def setup(
    registered: list[Path], shortlist_keypoints: int, query_side: int, query_votes: int
) -> None:
    """Register the works in this process (a worker's initializer)."""
    # Hash distances are recorded with an open threshold and judged later; local features run
    # at the real threshold, since the Matcher stops at the first shortlisted work that passes.
    matcher = Matcher(
        MatcherConfig(
            hash_threshold=127,
            shortlist_keypoints=shortlist_keypoints,
            query_side=query_side,
            query_votes=query_votes,
        )
    )
    phashes = HashIndex(64)
    names: list[str] = []
    for path in registered:
        data = path.read_bytes()
        name = path.relative_to(PAINTINGS).as_posix()
        matcher.register(name, data)
        phashes.add([len(names)], phash64(open_image(data)).reshape(1, 1))
        names.append(name)
    _STATE.update(matcher=matcher, phashes=phashes, names=names)


def query(job: tuple[str, Path, str | None, int]) -> Answer:
    """Every method's answer for one painting under one transform."""
    transform, path, truth, seed = job
    matcher = _STATE["matcher"]
    phashes = _STATE["phashes"]
    names = _STATE["names"]
    assert isinstance(matcher, Matcher)
    assert isinstance(phashes, HashIndex)
    assert isinstance(names, list)
    data = TRANSFORMS[transform](open_image(path.read_bytes()), np.random.default_rng(seed))
    exact = matcher.identify(data, methods=("exact",))
    near = phashes.search(phash64(open_image(data)), 64)
    pdq = matcher.identify(data, methods=("hash",))
    local = matcher.identify(data, methods=("local",))
    return Answer(
        transform=transform,
        truth=truth,
        exact=str(exact.work_id) if exact else None,
        phash_id=names[near[0][0]] if near else None,
        phash_distance=near[0][1] if near else 65,
        pdq_id=str(pdq.work_id) if pdq else None,
        pdq_distance=pdq.distance if pdq and pdq.distance is not None else 257,
        local_id=str(local.work_id) if local else None,
        local_inliers=local.inliers if local and local.inliers is not None else 0,
    )


def decide(answer: Answer, method: str, config: MatcherConfig) -> str | None:
    """The id `method` answers at the benchmark's thresholds, or None for no match."""
    phash = answer.phash_id if answer.phash_distance <= PHASH_THRESHOLD else None
    pdq = answer.pdq_id if answer.pdq_distance <= config.hash_threshold else None
    local = answer.local_id if answer.local_inliers >= config.min_inliers else None
    return {
        "pHash64": phash,
        "PDQ256": pdq,
        "local": local,
        "Matcher": answer.exact or pdq or local,
    }[method]


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registered", type=int, default=300)
    parser.add_argument("--distractors", type=int, default=None, help="at most this many")
    parser.add_argument("--transforms", nargs="*", default=list(TRANSFORMS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shortlist-keypoints",
        type=int,
        default=MatcherConfig().shortlist_keypoints,
        help="descriptors a registered work keeps in the keypoint shortlist",
    )
    parser.add_argument(
        "--query-side",
        type=int,
        default=MatcherConfig().query_side,
        help="longer side a query is scaled to for its keypoints",
    )
    parser.add_argument(
        "--query-votes",
        type=int,
        default=MatcherConfig().query_votes,
        help="descriptors of a query that vote in the shortlist",
    )
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    files, versions = without_versions(paintings())
    files = [files[i] for i in np.random.default_rng(args.seed).permutation(len(files))]
    registered, distractors = files[: args.registered], files[args.registered :]
    distractors = distractors[: args.distractors]
    jobs = [
        (
            transform,
            path,
            path.relative_to(PAINTINGS).as_posix() if index < len(registered) else None,
            args.seed * 100_003 + index,
        )
        for transform in args.transforms
        for index, path in enumerate(registered + distractors)
    ]
    with ProcessPoolExecutor(
        args.workers,
        initializer=setup,
        initargs=(registered, args.shortlist_keypoints, args.query_side, args.query_votes),
    ) as pool:
        answers = list(pool.map(query, jobs, chunksize=16))
    elapsed = time.perf_counter() - started

    config = MatcherConfig()
    methods = ["pHash64", "PDQ256", "local", "Matcher"]
    thresholds = {
        "pHash64": f"<= {PHASH_THRESHOLD} bits",
        "PDQ256": f"<= {config.hash_threshold} bits",
        "local": f">= {config.min_inliers} inliers",
        "Matcher": "all three",
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for method in methods:
        results[method] = {}
        for transform in args.transforms:
            rows = [answer for answer in answers if answer.transform == transform]
            genuine = [answer for answer in rows if answer.truth is not None]
            others = [answer for answer in rows if answer.truth is None]
            said = [decide(answer, method, config) for answer in genuine]
            results[method][transform] = {
                "top1": sum(s == a.truth for s, a in zip(said, genuine, strict=True))
                / len(genuine),
                "wrong": sum(s not in (None, a.truth) for s, a in zip(said, genuine, strict=True))
                / len(genuine),
                "false": sum(decide(answer, method, config) is not None for answer in others)
                / max(1, len(others)),
            }

    print(
        f"{len(registered)} registered, {len(distractors)} distractors ({versions} twin images "
        f"left out), {len(args.transforms)} transforms, {len(answers)} queries in {elapsed:.0f} s "
        f"on {args.workers} worker(s); {args.shortlist_keypoints} shortlist keypoints a work, "
        f"queries at {args.query_side} px, {args.query_votes} of their keypoints voting; "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    print()
    print("top-1 identification % / false-match % (distractors) per transform:")
    print()
    print("| method | threshold | " + " | ".join(args.transforms) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in args.transforms) + " |")
    for method in methods:
        cells = [
            f"{100 * cell['top1']:.1f} / {100 * cell['false']:.2f}"
            + (f" (wrong {100 * cell['wrong']:.1f})" if cell["wrong"] else "")
            for cell in results[method].values()
        ]
        print(f"| {method} | {thresholds[method]} | " + " | ".join(cells) + " |")

    print()
    print("distances that set the thresholds (genuine: copy to its original; distractor: nearest):")
    print()
    print(
        "| transform | pHash64 genuine p99/max | pHash64 distractor min | PDQ256 genuine p99/max "
        "| PDQ256 distractor min | inliers genuine p1/min | inliers distractor max |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    spread: dict[str, dict[str, float]] = {}
    for transform in args.transforms:
        rows = [answer for answer in answers if answer.transform == transform]
        genuine = [answer for answer in rows if answer.truth is not None]
        others = [answer for answer in rows if answer.truth is None] or rows[:1]
        # The nearest of a genuine copy can be another work; the original's own distance counts.
        ph = [a.phash_distance if a.phash_id == a.truth else 64 for a in genuine]
        pd = [a.pdq_distance if a.pdq_id == a.truth else 256 for a in genuine]
        li = [a.local_inliers if a.local_id == a.truth else 0 for a in genuine]
        spread[transform] = {
            "phash_genuine_p99": float(np.percentile(ph, 99)),
            "phash_genuine_max": float(max(ph)),
            "phash_distractor_min": float(min(a.phash_distance for a in others)),
            "pdq_genuine_p99": float(np.percentile(pd, 99)),
            "pdq_genuine_max": float(max(pd)),
            "pdq_distractor_min": float(min(a.pdq_distance for a in others)),
            "inliers_genuine_p1": float(np.percentile(li, 1)),
            "inliers_genuine_min": float(min(li)),
            "inliers_distractor_max": float(max(a.local_inliers for a in others)),
        }
        s = spread[transform]
        print(
            f"| {transform} | {s['phash_genuine_p99']:.0f} / {s['phash_genuine_max']:.0f} "
            f"| {s['phash_distractor_min']:.0f} | {s['pdq_genuine_p99']:.0f} / "
            f"{s['pdq_genuine_max']:.0f} | {s['pdq_distractor_min']:.0f} | "
            f"{s['inliers_genuine_p1']:.0f} / {s['inliers_genuine_min']:.0f} "
            f"| {s['inliers_distractor_max']:.0f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "registered": len(registered),
                    "distractors": len(distractors),
                    "twins_left_out": versions,
                    "seconds": elapsed,
                    "thresholds": thresholds,
                    "results": results,
                    "distances": spread,
                    "answers": [dataclasses.asdict(answer) for answer in answers],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
