"""Matching at scale: one identification at 10k..1M registered works, 10M by hash alone.

    .venv/bin/python bench/matching_scale.py [--sizes 10000 100000 1000000]
        [--hash-only-sizes 10000000] [--per-work 256] [--queries 40] [--real 300] [--json OUT]

A `Matcher` (as the platform builds it: keypoints read back through `fetch_features`, so only the
hash index and the keypoint shortlist are in memory) holds `--real` shared paintings and filler
works up to each size. Fillers are derived from 200 other paintings (never a query's): the
source's print with each kept ORB descriptor XORed with a mask that sets each bit with
probability 0.08 (about 20 of 256 bits, what a recompressed copy's descriptors differ by), and 48
of its 256 PDQ bits flipped (beyond the hash threshold of 31); masks come from a bank of 4,096,
so fillers are cheap to make and to make again when `fetch_features` asks for one. Each source so
has about N / 200 near-variants whose descriptors keep ORB's uneven bit statistics; no filler can
match a query. `--hash-only-sizes` registers fillers without keypoints (the hash tier alone) and
times the query the hash answers.

Queries (`--queries` of each): half-size JPEG 50 copies (the hash answers), 25% crops and 5-degree
rotations (the keypoint shortlist, then RANSAC on up to 3 works), unregistered paintings' JPEG 90.
Per size: p50 / p95 of `Matcher.identify` on the JPEG bytes (decode, sha256, PDQ hash and search,
ORB, shortlist, RANSAC), and in the same run the two linear scans the indexes replace:
`HashIndex.search_linear` over the same PDQ codes and `KeypointShortlist.top_linear` (every
stored substring compared with the query's) on the same queries' descriptors; the bytes the two
indexes hold, and the process's resident memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provenance.hashing import open_image  # noqa: E402
from provenance.matching import (  # noqa: E402
    LocalFeatures,
    Matcher,
    MatcherConfig,
    WorkPrint,
    local_features,
    pdq256,
    print_image,
)

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
SOURCES = 200
BANK = 4096
DESCRIPTOR_FLIP = 0.08
PDQ_FLIPS = 48


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of `times` (seconds) in milliseconds."""
    p50, p95 = np.percentile(np.array(times) * 1e3, [50, 95])
    return float(p50), float(p95)


def rss_mib() -> float:
    """This process's resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class Fillers:
    """Filler prints, made (and made again on request) from a few sources and a bank of masks."""

    def __init__(self, sources: list[WorkPrint], per_work: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.sources = sources
        self.per_work = per_work
        bits = rng.random((BANK, per_work, 256)) < DESCRIPTOR_FLIP
        self.descriptor_masks = np.packbits(bits, axis=2)  # (BANK, per_work, 32)
        code_bits = np.zeros((BANK, 256), dtype=bool)
        for row in code_bits:
            row[rng.choice(256, size=PDQ_FLIPS, replace=False)] = True
        self.code_masks = np.packbits(code_bits, axis=1).view(">u8").astype(np.uint64)

    def features(self, number: int, *, keypoints: bool = True) -> LocalFeatures:
        source = self.sources[number % len(self.sources)].features
        if not keypoints:
            return LocalFeatures(np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8))
        kept = min(len(source), self.per_work)
        mask = self.descriptor_masks[(number * 2_654_435_761) % BANK, :kept]
        return LocalFeatures(source.points[:kept], source.descriptors[:kept] ^ mask)

    def print(self, number: int, *, keypoints: bool = True) -> WorkPrint:
        source = self.sources[number % len(self.sources)]
        code = source.code ^ self.code_masks[(number * 40_503) % BANK]
        return WorkPrint(None, code, self.features(number, keypoints=keypoints))


def measure(
    matcher: Matcher,
    kinds: dict[str, list[tuple[int | None, bytes]]],
    linear_queries: int,
) -> list[dict[str, Any]]:
    """Identification p50 / p95 per kind of query, with the two linear scans as baselines."""
    rows = []
    for kind, queries in kinds.items():
        matcher.identify(queries[0][1])  # warm-up (the first search builds the indexes)
        times, right, answered = [], 0, 0
        for expected, data in queries:
            started = time.perf_counter()
            match = matcher.identify(data)
            times.append(time.perf_counter() - started)
            answered += match is not None
            right += match is not None and match.work_id == expected
        hash_index, hash_scan, shortlist_index, shortlist_scan = [], [], [], []
        threshold = matcher.config.hash_threshold
        for _, data in queries[:linear_queries]:
            picture = open_image(data)
            code = pdq256(picture)
            started = time.perf_counter()
            found = matcher._hashes.search(code, threshold)
            hash_index.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert matcher._hashes.search_linear(code, threshold) == found
            hash_scan.append(time.perf_counter() - started)
            descriptors = local_features(picture).descriptors
            started = time.perf_counter()
            fast = matcher._shortlist.top(descriptors, matcher.config.shortlist)
            shortlist_index.append(time.perf_counter() - started)
            started = time.perf_counter()
            slow = matcher._shortlist.top_linear(descriptors, matcher.config.shortlist)
            shortlist_scan.append(time.perf_counter() - started)
            assert fast == slow, (fast, slow)
        p50, p95 = percentiles(times)
        rows.append(
            {
                "query": kind,
                "n": len(times),
                "identify_p50_ms": p50,
                "identify_p95_ms": p95,
                "right": right,
                "answered": answered,
                "hash_p50_ms": percentiles(hash_index)[0],
                "hash_linear_p50_ms": percentiles(hash_scan)[0],
                "shortlist_p50_ms": percentiles(shortlist_index)[0],
                "shortlist_linear_p50_ms": percentiles(shortlist_scan)[0],
                "load": os.getloadavg()[0],
            }
        )
    return rows


def grow(matcher: Matcher, fillers: Fillers, size: int, *, keypoints: bool = True) -> float:
    """Add fillers (numbered as the works they follow) up to `size` works; seconds taken."""
    started = time.perf_counter()

    def prints() -> Iterator[tuple[int, WorkPrint]]:
        for number in range(len(matcher), size):
            yield number, fillers.print(number, keypoints=keypoints)

    matcher.add_many(prints())
    return time.perf_counter() - started


def main() -> None:
    """Build the registries, measure, print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--hash-only-sizes", type=int, nargs="*", default=[10_000_000])
    parser.add_argument("--per-work", type=int, default=MatcherConfig().shortlist_keypoints)
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind")
    parser.add_argument("--linear-queries", type=int, default=5, help="of each kind, per size")
    parser.add_argument("--real", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    files = sorted(PAINTINGS.glob("*/*.jpg"))
    if len(files) < args.real + SOURCES + args.queries:
        sys.exit(f"the shared paintings are missing: expected JPEGs under {PAINTINGS}")
    files = [files[i] for i in np.random.default_rng(args.seed).permutation(len(files))]
    works, sources = files[: args.real], files[args.real : args.real + SOURCES]
    strangers = files[args.real + SOURCES :]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    real = {number: print_image(path.read_bytes()) for number, path in enumerate(works)}
    fillers = Fillers(
        [print_image(path.read_bytes()) for path in sources], args.per_work, args.seed
    )

    def fetch(work_id: object) -> LocalFeatures:
        number = int(str(work_id))
        return real[number].features if number in real else fillers.features(number)

    rng = np.random.default_rng(args.seed)

    def crop25(image: Image.Image) -> Image.Image:
        width, height = image.size
        left, top = int(rng.integers(0, width // 4 + 1)), int(rng.integers(0, height // 4 + 1))
        return image.crop((left, top, left + width * 3 // 4, top + height * 3 // 4))

    transforms: dict[str, Callable[[Image.Image], bytes]] = {
        "half-size JPEG 50": lambda im: jpeg(im.resize((im.width // 2, im.height // 2)), 50),
        "25% crop": lambda im: jpeg(crop25(im), 95),
        "5-degree rotation": lambda im: jpeg(im.rotate(5, resample=Image.Resampling.BICUBIC), 95),
    }
    kinds: dict[str, list[tuple[int | None, bytes]]] = {
        kind: [
            (number, transform(open_image(works[number].read_bytes())))
            for number in range(args.queries)
        ]
        for kind, transform in transforms.items()
    }
    kinds["unregistered"] = [
        (None, jpeg(open_image(path.read_bytes()), 90)) for path in strangers[: args.queries]
    ]

    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "sizes": []}
    config = MatcherConfig(shortlist_keypoints=args.per_work)
    for hash_only, sizes in ((False, args.sizes), (True, args.hash_only_sizes)):
        if not sizes:
            continue
        matcher = Matcher(config, fetch_features=fetch)
        matcher.add_many(real.items())
        asked = {"half-size JPEG 50": kinds["half-size JPEG 50"]} if hash_only else kinds
        for size in sorted(sizes):
            fill_s = grow(matcher, fillers, size, keypoints=not hash_only)
            started = time.perf_counter()
            matcher.identify(kinds["unregistered"][0][1])  # builds both indexes
            build_s = time.perf_counter() - started
            _, codes = matcher._hashes.codes()
            entry = {
                "size": size,
                "hash_only": hash_only,
                "fill_s": fill_s,
                "build_s": build_s,
                "shortlist_mib": matcher._shortlist.nbytes / 2**20,
                "hash_codes_mib": codes.nbytes / 2**20,
                "rss_mib": rss_mib(),
                "rows": measure(matcher, asked, args.linear_queries),
            }
            results["sizes"].append(entry)
            print(
                f"{'hash only ' if hash_only else ''}{size:,}: filled in {fill_s:.0f} s, first "
                f"search {build_s:.1f} s, shortlist {entry['shortlist_mib']:.0f} MiB, "
                f"RSS {entry['rss_mib']:.0f} MiB",
                flush=True,
            )
            for row in entry["rows"]:
                print(f"  {row}", flush=True)
        del matcher

    print()
    print(
        "| works | query | identify p50 / p95 ms | right / answered "
        "| PDQ search p50 ms: index / scan | shortlist p50 ms: index / scan | load |"
    )
    print("| ---: | --- | --- | --- | --- | --- | ---: |")
    for entry in results["sizes"]:
        label = f"{entry['size']:,}" + (" (hash only)" if entry["hash_only"] else "")
        for row in entry["rows"]:
            print(
                f"| {label} | {row['query']} | {row['identify_p50_ms']:.1f} / "
                f"{row['identify_p95_ms']:.1f} | {row['right']} / {row['answered']} of {row['n']} "
                f"| {row['hash_p50_ms']:.2f} / {row['hash_linear_p50_ms']:.2f} "
                f"| {row['shortlist_p50_ms']:.2f} / {row['shortlist_linear_p50_ms']:.1f} "
                f"| {row['load']:.1f} |"
            )
    print()
    print("| works | fill s | first search s | shortlist MiB | PDQ codes MiB | RSS MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for entry in results["sizes"]:
        label = f"{entry['size']:,}" + (" (hash only)" if entry["hash_only"] else "")
        print(
            f"| {label} | {entry['fill_s']:.0f} | {entry['build_s']:.1f} "
            f"| {entry['shortlist_mib']:.0f} | {entry['hash_codes_mib']:.0f} "
            f"| {entry['rss_mib']:.0f} |"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
