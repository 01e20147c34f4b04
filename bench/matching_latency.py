"""Matching latency: one hash search at 10k..10M registered codes, and one whole identification.

    .venv/bin/python bench/matching_latency.py [--sizes 10000 100000 1000000 10000000]
        [--queries 200] [--registered 1000] [--parts search identify] [--json OUT]

Part 1 fills a `HashIndex` with random codes (64-bit and 256-bit) and times `search` at the radius
the Matcher uses for that width (pHash64: 10 bits; PDQ256: `MatcherConfig().hash_threshold`)
against `search_linear` (numpy XOR + bitwise_count over every row) in the same run, for queries
that are a stored code with a few bits flipped. Random codes are the index's worst realistic case
for bucket balance and its best for candidate counts; real hashes cluster, which fills some
buckets more. Part 2 registers `--registered` shared paintings in a `Matcher` and times
`identify` on JPEG bytes (decode, sha256, PDQ hash, index search, ORB and RANSAC where needed):
half-size JPEG 50 copies (answered by the hash), 25% crops and 5-degree rotations (local
features), and unregistered paintings (every step, then no match; twins of registered paintings
are not removed here). The machine is shared, so search times are reported next to a baseline
measured in the same run, identification times as wall clock and as this process's CPU time
(which other processes' load inflates less), with the load average.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provenance.hashing import NEAR_DUPLICATE_DISTANCE, open_image  # noqa: E402
from provenance.matching import HashIndex, Matcher, MatcherConfig  # noqa: E402

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of `times` (seconds) in milliseconds."""
    p50, p95 = np.percentile(np.array(times) * 1e3, [50, 95])
    return float(p50), float(p95)


def timed(work: Callable[[], object]) -> float:
    """Seconds one call of `work` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def near(code: np.ndarray, flips: int, rng: np.random.Generator) -> np.ndarray:
    """`code` with `flips` random bits flipped."""
    bits = np.unpackbits(code.astype(">u8").view(np.uint8))
    bits[rng.choice(bits.size, size=flips, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


def search_latency(sizes: list[int], queries: int, seed: int) -> list[dict[str, float]]:
    """p50/p95 of index and linear search per size and code width."""
    rows: list[dict[str, float]] = []
    rng = np.random.default_rng(seed)
    for bits, radius in ((64, NEAR_DUPLICATE_DISTANCE), (256, MatcherConfig().hash_threshold)):
        for size in sizes:
            codes = rng.integers(0, 2**64, size=(size, bits // 64), dtype=np.uint64)
            index = HashIndex(bits)
            index.add(np.arange(size), codes)
            build = timed(functools.partial(index.search, codes[0], 0))
            picks = rng.integers(0, size, size=queries)
            asked = [near(codes[i], int(rng.integers(0, radius // 2 + 1)), rng) for i in picks]
            fast = [timed(functools.partial(index.search, q, radius)) for q in asked]
            # The scan is slow at 10M: time fewer queries, enough for a p95.
            scans = asked[: max(20, queries // max(1, size // 100_000))]
            slow = [timed(functools.partial(index.search_linear, q, radius)) for q in scans]
            for q in scans[:5]:
                assert index.search(q, radius) == index.search_linear(q, radius)
            (f50, f95), (s50, s95) = percentiles(fast), percentiles(slow)
            rows.append(
                {
                    "bits": bits,
                    "radius": radius,
                    "size": size,
                    "build_s": build,
                    "index_p50_ms": f50,
                    "index_p95_ms": f95,
                    "linear_p50_ms": s50,
                    "linear_p95_ms": s95,
                    "speedup_p50": s50 / f50,
                    "load": os.getloadavg()[0],
                }
            )
            print(
                f"| {bits} | {radius} | {size:,} | {build:.2f} | {f50:.3f} / {f95:.3f} | "
                f"{s50:.2f} / {s95:.2f} | {s50 / f50:.0f}x | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
            del index, codes
    return rows


def jpeg(image: Image.Image, quality: int = 95) -> bytes:
    """`image` as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def identify_latency(registered: int, queries: int, seed: int) -> list[dict[str, float]]:
    """p50/p95 of `Matcher.identify` per kind of query, on real paintings."""
    files = sorted(PAINTINGS.glob("*/*.jpg"))
    if not files:
        sys.exit(f"the shared paintings are missing: expected JPEGs under {PAINTINGS}")
    files = [files[i] for i in np.random.default_rng(seed).permutation(len(files))]
    works, strangers = files[:registered], files[registered:]
    matcher = Matcher()
    started = time.perf_counter()
    for path in works:
        matcher.register(path.as_posix(), path.read_bytes())
    per_work = (time.perf_counter() - started) / len(works)
    rng = np.random.default_rng(seed)

    def half_jpeg50(image: Image.Image) -> bytes:
        return jpeg(image.resize((image.width // 2, image.height // 2)), 50)

    def crop25(image: Image.Image) -> bytes:
        width, height = image.size
        left, top = int(rng.integers(0, width // 4 + 1)), int(rng.integers(0, height // 4 + 1))
        return jpeg(image.crop((left, top, left + width * 3 // 4, top + height * 3 // 4)))

    def rotate5(image: Image.Image) -> bytes:
        return jpeg(image.rotate(5, resample=Image.Resampling.BICUBIC))

    kinds: dict[str, tuple[list[Path], Callable[[Image.Image], bytes]]] = {
        "half-size JPEG 50": (works, half_jpeg50),
        "25% crop": (works, crop25),
        "5-degree rotation": (works, rotate5),
        "unregistered": (strangers, lambda image: jpeg(image, 90)),
    }
    rows: list[dict[str, float]] = []
    everything: list[float] = []
    all_cpu: list[float] = []
    print(f"registration: {per_work * 1e3:.1f} ms per work; {len(matcher)} works registered")
    print()
    print(
        "| query | n | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms "
        "| answered (right work / any match) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, (pool, transform) in kinds.items():
        sample = [pool[i % len(pool)] for i in range(min(queries, len(pool)))]
        inputs = [(path, transform(open_image(path.read_bytes()))) for path in sample]
        matcher.identify(inputs[0][1])  # warm-up
        times, cpu, right, answered = [], [], 0, 0
        for path, data in inputs:
            started, started_cpu = time.perf_counter(), time.process_time()
            match = matcher.identify(data)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            answered += match is not None
            right += match is not None and match.work_id == path.as_posix()
        everything += times
        all_cpu += cpu
        (p50, p95), (c50, c95) = percentiles(times), percentiles(cpu)
        rows.append(
            {
                "query": kind,
                "n": len(times),
                "p50_ms": p50,
                "p95_ms": p95,
                "cpu_p50_ms": c50,
                "cpu_p95_ms": c95,
            }
        )
        print(
            f"| {kind} | {len(times)} | {p50:.1f} | {p95:.1f} | {c50:.1f} | {c95:.1f} "
            f"| {right} / {answered} |"
        )
    (p50, p95), (c50, c95) = percentiles(everything), percentiles(all_cpu)
    rows.append(
        {
            "query": "all",
            "n": len(everything),
            "p50_ms": p50,
            "p95_ms": p95,
            "cpu_p50_ms": c50,
            "cpu_p95_ms": c95,
        }
    )
    print(f"| all | {len(everything)} | {p50:.1f} | {p95:.1f} | {c50:.1f} | {c95:.1f} | |")
    return rows


def main() -> None:
    """Run both parts and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000, 10_000_000]
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--registered", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parts", nargs="*", choices=["search", "identify"], default=["search", "identify"]
    )
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print()
    search: list[dict[str, float]] = []
    identify: list[dict[str, float]] = []
    if "search" in args.parts:
        print(
            "| bits | radius | codes | build s | index p50 / p95 ms | linear p50 / p95 ms "
            "| speed-up (p50) | load |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        search = search_latency(args.sizes, args.queries, args.seed)
        print()
    if "identify" in args.parts:
        identify = identify_latency(args.registered, args.queries, args.seed)
    print()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"search": search, "identify": identify}, indent=2))


if __name__ == "__main__":
    main()
