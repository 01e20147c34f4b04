"""Invisible watermark benchmark: bit accuracy under JPEG, resize and crop; PSNR; embed, extract ms.

    .venv/bin/python bench/watermark_bench.py [--images 40] [--riva-images 5] [--sizes native,512]
        [--unmarked 1155] [--unmarked-keys 1] [--strengths 1.0] [--json OUT]

Methods: this project's `provenance.watermark` (48-bit payload + CRC-16) and, when the
`invisible-watermark` wheel is installed, its DWT-DCT and DWT-DCT-SVD methods (64-bit payloads)
and its RivaGAN model (32 bits, the only size it takes; needs onnxruntime and torch, and is slow on
CPU, so it runs on `--riva-images` images only). Their 256x256-pixel minimum is bypassed by calling
the embedder classes directly, so crops and small images are measured rather than refused.

Images are the shared paintings (RGB JPEGs, shorter side at most 256 px), drawn at random with a
fixed seed, at their own size ("native") and upscaled (Lanczos) so the shorter side is 512 px;
those with a side under 128 px (too small for our method) are skipped for every method.
Attacks: none; JPEG quality 90/70/50 (Pillow); resize to half size and back to the marked size
(Pillow bicubic both ways: "resize0.5"; Lanczos down, bilinear up: "resize0.5L"; our embedder
simulates the bicubic one, so the second checks it does not just fit that kernel); centred
crops that remove 10% and 25% of the width and of the height.
A cell reads "bit accuracy % / whole-payload recovery %"; recovery for this project's method means
the check passed and the payload is right (a passed check with a wrong payload is counted apart).
The unmarked check runs `extract` on `--unmarked` unmarked paintings at their own size (with
`--unmarked-keys` keys each: every key is a different layout, so one more independent trial) and on
the benchmark images at 512 px, and counts readings whose check passed (false positives).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provenance import watermark  # noqa: E402

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
ATTACKS = ("none", "jpeg90", "jpeg70", "jpeg50", "resize0.5", "resize0.5L", "crop10", "crop25")
INSTALL_HINT = "pip install invisible-watermark==0.2.0 to include it"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at `quality`."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop(image: Image.Image, fraction: float) -> Image.Image:
    """The centre of the image, without `fraction` of its width and of its height."""
    width, height = image.size
    left, top = round(width * fraction / 2), round(height * fraction / 2)
    return image.crop((left, top, width - left, height - top))


def attack(image: Image.Image, name: str) -> Image.Image:
    """The image after the attack `name` (one of ATTACKS)."""
    if name == "none":
        return image
    if name.startswith("jpeg"):
        return jpeg(image, int(name[4:]))
    if name in ("resize0.5", "resize0.5L"):
        down, up = (
            (Image.Resampling.BICUBIC, Image.Resampling.BICUBIC)
            if name == "resize0.5"
            else (Image.Resampling.LANCZOS, Image.Resampling.BILINEAR)
        )
        half = image.resize((image.width // 2, image.height // 2), down)
        return half.resize(image.size, up)
    if name.startswith("crop"):
        return crop(image, int(name[4:]) / 100)
    raise ValueError(f"unknown attack {name!r}")


def psnr(original: Image.Image, marked: Image.Image) -> float:
    """Peak signal-to-noise ratio of `marked` against `original`, in dB (RGB, 8-bit)."""
    a = np.asarray(original.convert("RGB"), dtype=np.float64)
    b = np.asarray(marked.convert("RGB"), dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@dataclass
class Method:
    """A watermarking method: how many bits, how to embed them, how to read them back."""

    name: str
    bits: int
    embed: Callable[[Image.Image, list[int]], Image.Image]
    extract: Callable[[Image.Image], tuple[list[int], bool | None]]  # bits, check (None: none)
    max_images: int | None = None


@dataclass
class Tally:
    """Results of one method at one size."""

    images: int = 0
    psnr: list[float] = field(default_factory=list)
    embed_ms: list[float] = field(default_factory=list)
    extract_ms: list[float] = field(default_factory=list)
    bit_accuracy: dict[str, list[float]] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)
    false_reads: dict[str, int] = field(default_factory=dict)


def ours(strength: float) -> Method:
    """This project's method, provenance.watermark."""

    def embed(image: Image.Image, bits: list[int]) -> Image.Image:
        return watermark.embed(image, int("".join(map(str, bits)), 2), strength=strength)

    def extract(image: Image.Image) -> tuple[list[int], bool | None]:
        reading = watermark.extract(image)
        raw = f"{reading.raw_payload:0{watermark.PAYLOAD_BITS}b}"
        return [int(bit) for bit in raw], reading.check_passed

    return Method(
        f"atelier {watermark.METHOD} (s={strength:g})", watermark.PAYLOAD_BITS, embed, extract
    )


def invisible_watermark_methods(riva_images: int) -> list[Method]:
    """The invisible-watermark wheel's methods, or none (with a message) when it is absent."""
    try:
        from imwatermark.dwtDctSvd import EmbedDwtDctSvd
        from imwatermark.maxDct import EmbedMaxDct
    except ImportError:
        print(f"invisible-watermark is not installed: its methods are skipped; {INSTALL_HINT}")
        return []

    def classic(name: str, cls: type, bits_count: int) -> Method:
        def embed(image: Image.Image, bits: list[int]) -> Image.Image:
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            out = cls(bits, wmLen=bits_count).encode(bgr)
            return Image.fromarray(np.ascontiguousarray(out[:, :, ::-1]))

        def extract(image: Image.Image) -> tuple[list[int], bool | None]:
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            return [int(b) for b in cls([], wmLen=bits_count).decode(bgr)], None

        return Method(name, bits_count, embed, extract)

    methods = [
        classic("invisible-watermark dwtDct", EmbedMaxDct, 64),
        classic("invisible-watermark dwtDctSvd", EmbedDwtDctSvd, 64),
    ]
    if riva_images <= 0:
        return methods
    try:
        from imwatermark.rivaGan import RivaWatermark

        RivaWatermark.loadModel()
    except ImportError as error:
        print(f"RivaGAN skipped: {error} (pip install onnxruntime torch to include it)")
        return methods

    def riva_embed(image: Image.Image, bits: list[int]) -> Image.Image:
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        out = RivaWatermark(bits, 32).encode(bgr)
        return Image.fromarray(np.ascontiguousarray(out[:, :, ::-1]))

    def riva_extract(image: Image.Image) -> tuple[list[int], bool | None]:
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        return [int(b) for b in RivaWatermark([], 32).decode(bgr)], None

    methods.append(Method("invisible-watermark rivaGan", 32, riva_embed, riva_extract, riva_images))
    return methods


def load(path: Path, size: int | None) -> Image.Image:
    """A painting as RGB, upscaled (Lanczos) so its shorter side is `size` when given."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if size is None:
        return image
    scale = size / min(image.size)
    new_size = (round(image.width * scale), round(image.height * scale))
    return image.resize(new_size, Image.Resampling.LANCZOS)


def run_method(method: Method, paths: list[Path], size: int | None, seed: int) -> Tally:
    """Embed a random payload in each image, attack the copy, read it back; tally the results."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test payloads
    tally = Tally()
    for path in paths[: method.max_images]:
        image = load(path, size)
        if min(image.size) < watermark.MIN_EMBED_SIDE:
            continue
        bits = [rng.randrange(2) for _ in range(method.bits)]
        started = time.perf_counter()
        marked = method.embed(image, bits)
        tally.embed_ms.append(1000 * (time.perf_counter() - started))
        tally.psnr.append(psnr(image, marked))
        tally.images += 1
        for name in ATTACKS:
            copy = attack(marked, name)
            started = time.perf_counter()
            try:
                read, check = method.extract(copy)
            except Exception as error:  # a method that fails to read scores 0
                print(f"  {method.name} {name} {path.name}: {type(error).__name__}: {error}")
                read, check = [1 - bit for bit in bits], False
            if name == "none":
                tally.extract_ms.append(1000 * (time.perf_counter() - started))
            matches = sum(a == b for a, b in zip(read, bits, strict=True))
            tally.bit_accuracy.setdefault(name, []).append(matches / method.bits)
            exact = matches == method.bits
            ok = exact if check is None else (check and exact)
            tally.recovered[name] = tally.recovered.get(name, 0) + int(ok)
            if check and not exact:
                tally.false_reads[name] = tally.false_reads.get(name, 0) + 1
    return tally


def unmarked_false_positives(
    paths: list[Path], size: int | None, keys: int
) -> tuple[int, int, float]:
    """Readings of unmarked images that passed the check, out of how many, highest agreement.

    Each extra key lays the bits out differently, so it is one more independent trial per image.
    """
    found, count, highest = 0, 0, 0.0
    for path in paths:
        image = load(path, size)
        if min(image.size) < watermark.MIN_EXTRACT_SIDE:
            continue
        for index in range(keys):
            reading = watermark.extract(image, key=watermark.DEFAULT_KEY + index)
            found += reading.check_passed
            count += 1
            highest = max(highest, reading.bit_agreement)
    return found, count, highest


def table(results: dict[str, Tally]) -> str:
    """Markdown table: one row per method."""
    head = ["method", "n", *ATTACKS, "PSNR dB", "embed ms", "extract ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, tally in results.items():
        if not tally.images:
            continue
        cells = [name, str(tally.images)]
        for attack_name in ATTACKS:
            accuracy = 100 * float(np.mean(tally.bit_accuracy[attack_name]))
            recovered = 100 * tally.recovered.get(attack_name, 0) / tally.images
            false = tally.false_reads.get(attack_name, 0)
            cells.append(
                f"{accuracy:.1f} / {recovered:.0f}" + (f" ({false} wrong)" if false else "")
            )
        cells += [
            f"{np.mean(tally.psnr):.1f} (min {np.min(tally.psnr):.1f})",
            f"{np.median(tally.embed_ms):.0f}",
            f"{np.median(tally.extract_ms):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print Markdown tables (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=40, help="paintings per size (default 40)")
    parser.add_argument("--riva-images", type=int, default=5, help="RivaGAN is slow (default 5)")
    parser.add_argument("--sizes", default="native,512", help="native and/or shorter sides in px")
    parser.add_argument("--unmarked", type=int, default=1155, help="unmarked paintings to read")
    parser.add_argument("--strengths", default="1.0", help="our method's strengths, e.g. 0.7,1,1.4")
    parser.add_argument(
        "--unmarked-keys", type=int, default=1, help="read each unmarked painting with N keys"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    all_paths = sorted(PAINTINGS.rglob("*.jpg"))
    if not all_paths:
        sys.exit(f"no paintings under {PAINTINGS}; the shared data set is needed")
    paths = random.Random(args.seed).sample(  # noqa: S311 - a reproducible draw
        all_paths, min(args.images, len(all_paths))
    )
    ours_methods = [ours(float(strength)) for strength in args.strengths.split(",")]
    methods = [*ours_methods, *invisible_watermark_methods(args.riva_images)]
    load_before = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}"
    )
    report: dict[str, object] = {"images": len(paths), "seed": args.seed, "sizes": {}}
    for size_name in args.sizes.split(","):
        size = None if size_name == "native" else int(size_name)
        results = {}
        for method in methods:
            started = time.perf_counter()
            results[method.name] = run_method(method, paths, size, args.seed)
            print(f"  {method.name} at {size_name}: {time.perf_counter() - started:.0f} s")
        unmarked = all_paths[: args.unmarked] if size is None else paths
        keys = args.unmarked_keys if size is None else 1
        found, count, highest = unmarked_false_positives(unmarked, size, keys)
        print(f"\n### Shorter side {size_name} px\n")
        print("cells: bit accuracy % / whole-payload recovery %\n")
        print(table(results))
        print(
            f"\nunmarked readings (images x {keys} keys) that passed the check: {found} of {count} "
            f"(highest bit agreement {highest:.3f}, threshold {watermark.MIN_AGREEMENT})\n"
        )
        report["sizes"][size_name] = {  # type: ignore[index]
            "methods": {
                name: {
                    "images": tally.images,
                    "bit_accuracy": {k: float(np.mean(v)) for k, v in tally.bit_accuracy.items()},
                    "recovery": {k: tally.recovered.get(k, 0) / tally.images for k in ATTACKS},
                    "false_reads": tally.false_reads,
                    "psnr_mean": float(np.mean(tally.psnr)),
                    "psnr_min": float(np.min(tally.psnr)),
                    "embed_ms_median": float(np.median(tally.embed_ms)),
                    "extract_ms_median": float(np.median(tally.extract_ms)),
                }
                for name, tally in results.items()
                if tally.images
            },
            "unmarked": {"read_as_marked": found, "of": count, "highest_agreement": highest},
        }
    load_after = os.getloadavg()
    print(f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    report["load_before"], report["load_after"] = load_before, load_after
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
