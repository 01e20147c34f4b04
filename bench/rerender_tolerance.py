"""Re-render tolerance: how far the same model and seed land when the arithmetic changes.

    .venv/bin/python bench/rerender_tolerance.py [--train-seconds 60] [--seeds 64]
        [--resolutions 64 128] [--paintings DIR] [--json OUT]

The re-render proof (platform/authenticity/rerender.py) calls identical bytes decisive and counts
every pixel within `TOLERANCE` levels as strong evidence. Identical bytes on the same machine are
tested; another device computes differently. No GPU is lent to every session, so this measures
what can be measured on a CPU, each against the reference (fp32, this machine's thread count,
oneDNN on) in the same run:

- 1 thread: another split of the same float32 reductions;
- oneDNN off (`torch.backends.mkldnn`): other convolution kernels, as another CPU family or
  library build would use;
- bf16 autocast: the precision `gan.generate` used on CUDA until the GPU rows below were
  measured, emulated with CPU bfloat16 kernels;
- where CUDA is available, the real thing: each work re-rendered on the GPU one seed at a time
  through `gan.generate.generate`, as the studio renders it: in float32 (its CUDA default; cuDNN
  convolutions in TF32), and in bf16 autocast, NCHW and channels-last (`CUDA_VARIANTS`).

A FastGAN is trained for `--train-seconds` on one shared artist at each resolution (a random
initialisation would measure a generator that draws nothing). Per variant: works whose uint8
pixels are identical, the largest pixel difference (levels of 255), the share of pixels that
differ, and the lowest PSNR.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan.config import ModelConfig, TrainConfig  # noqa: E402
from gan.data import iter_source, load_prepared, prepare_dataset  # noqa: E402
from gan.generate import Precision, generate, latents_for_seeds, to_uint8  # noqa: E402
from gan.train import train  # noqa: E402

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"  # the default of --paintings
ARTIST = "katsushika_hokusai"


class _BudgetSpent(Exception):
    """Raised from the training hook once the time budget is spent."""


def trained(resolution: int, seconds: float, out: Path, paintings: Path) -> nn.Module:
    """A FastGAN (EMA) generator trained on the CPU for `seconds` on one artist's paintings."""
    dataset_dir = out / f"dataset-{resolution}"
    prepare_dataset(iter_source(paintings / ARTIST), dataset_dir, resolution=resolution)
    dataset = load_prepared(dataset_dir)
    config = TrainConfig(
        model=ModelConfig(arch="fastgan", resolution=resolution, width=16, latent_dim=64),
        steps=10**9,
        batch_size=8,
        ema_decay=0.95,  # a run of a few hundred steps: the default would export the init
        sample_every=10**9,
        checkpoint_every=10**9,
        seed=0,
    )
    captured: dict[str, Any] = {}
    started = time.perf_counter()

    def hook(ema: nn.Module, step: int) -> dict[str, float]:
        captured["ema"] = ema
        if time.perf_counter() - started >= seconds:
            raise _BudgetSpent
        return {}

    with contextlib.suppress(_BudgetSpent):
        train(
            config,
            dataset.images,
            out_dir=out / f"run-{resolution}",
            device=torch.device("cpu"),
            dataset_manifest_hash=dataset.manifest_hash,
            evaluate=hook,
            evaluate_every=1,
            report_every=10**9,
        )
    generator: nn.Module = captured["ema"]
    return generator.eval().requires_grad_(False)


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def onednn_off() -> Iterator[None]:
    with torch.backends.mkldnn.flags(enabled=False):
        yield


@contextlib.contextmanager
def bf16() -> Iterator[None]:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "1 thread": lambda: threads(1),
    "oneDNN off": onednn_off,
    "bf16 autocast (CPU)": bf16,
}


@torch.no_grad()
def render(generator: nn.Module, seeds: list[int]) -> np.ndarray:
    """uint8 (N, R, R, 3) images, one seed at a time (as the studio makes works)."""
    latent_dim = int(generator.config.latent_dim)  # type: ignore[union-attr]
    images = []
    for seed in seeds:
        z = latents_for_seeds([seed], latent_dim, torch.device("cpu"))
        images.append(to_uint8(generator(z).float())[0].permute(1, 2, 0).numpy())
    return np.stack(images)


def render_cuda(
    generator: nn.Module, seeds: list[int], *, precision: Precision, channels_last: bool = False
) -> np.ndarray:
    """The same works re-rendered on the GPU one seed at a time, as the studio renders a work
    (`gan.generate.generate`, in `precision`)."""
    device = torch.device("cuda")
    on_gpu = copy.deepcopy(generator).to(device)
    if channels_last:
        on_gpu = on_gpu.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    latent_dim = int(generator.config.latent_dim)  # type: ignore[union-attr]
    images = []
    for seed in seeds:
        z = latents_for_seeds([seed], latent_dim, device)
        image = generate(on_gpu, z, precision=precision)[0]
        images.append(image.permute(1, 2, 0).numpy())
    return np.stack(images)


CUDA_VARIANTS: dict[str, tuple[Precision, bool]] = {
    "CUDA generate() bf16": ("bf16", False),
    "CUDA float32 (generate()'s default on CUDA)": ("fp32", False),
    "CUDA generate() bf16, channels-last": ("bf16", True),
}
"""Re-renders on the GPU: (precision, channels-last)."""


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    difference = np.abs(reference.astype(np.int16) - other.astype(np.int16))
    per_work = difference.reshape(len(difference), -1)
    mse = (per_work.astype(np.float64) ** 2).mean(axis=1)
    psnr = [math.inf if value == 0 else 10 * math.log10(255**2 / value) for value in mse]
    return {
        "identical": int((per_work.max(axis=1) == 0).sum()),
        "max_levels": int(difference.max()),
        "differing_pixels_pct": float((difference.max(axis=-1) > 0).mean() * 100),
        "within_2_levels": int((per_work.max(axis=1) <= 2).sum()),
        # platform/authenticity/rerender.py's TOLERANCE (a bench does not import the platform)
        "within_8_levels": int((per_work.max(axis=1) <= 8).sum()),
        "min_psnr_db": float(min(psnr)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--paintings", type=Path, default=PAINTINGS, help="artist folders here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
        f"{torch.backends.mkldnn.is_available()}, load average {os.getloadavg()[0]:.2f}, "
        f"CUDA: {torch.cuda.get_device_name() if cuda else 'none'}"
    )
    seeds = list(range(args.seeds))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for resolution in args.resolutions:
            generator = trained(resolution, args.train_seconds, Path(folder), args.paintings)
            reference = render(generator, seeds)
            again = render(generator, seeds)
            rows.append({"resolution": resolution, "variant": "again (same settings)"})
            rows[-1] |= compare(reference, again)
            for name, variant in VARIANTS.items():
                with variant():
                    other = render(generator, seeds)
                rows.append({"resolution": resolution, "variant": name} | compare(reference, other))
            if cuda:
                for name, (precision, channels_last) in CUDA_VARIANTS.items():
                    other = render_cuda(
                        generator, seeds, precision=precision, channels_last=channels_last
                    )
                    rows.append(
                        {"resolution": resolution, "variant": name} | compare(reference, other)
                    )
    print()
    print(
        f"| px | variant | identical of {args.seeds} | within 2 levels | within 8 levels "
        "| largest difference (levels) | pixels differing % | lowest PSNR dB |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['resolution']} | {row['variant']} | {row['identical']} "
            f"| {row['within_2_levels']} | {row['within_8_levels']} | {row['max_levels']} "
            f"| {row['differing_pixels_pct']:.2f} | {row['min_psnr_db']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
