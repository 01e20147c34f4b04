"""Generation from a trained model: seeded, batched, truncated, interpolated, byte-exact.

A seed fixes a latent: it is drawn on the CPU from a generator seeded with it, so the same seed
gives the same latent on any machine; the same model, seed and device give the same image bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from gan.checkpoint import MODEL_WEIGHTS, ModelCard, read_model_card
from gan.networks import build_generator

Precision = Literal["bf16", "fp32"]
# What CUDA generates works in. fp32 (cuDNN convolutions in TF32, PyTorch's default) re-rendered
# CPU-made works within 1 level of 255 on an H200; bf16 up to 8, the re-render proof's whole
# tolerance, for 20 % more images/s (26 % with channels-last) from FastGAN at 256 px
# (bench/rerender_tolerance.py, bench/gan_throughput.py --gen-variants; docs/BENCHMARKS.md).
# A work is a claim others re-check: fidelity wins.
CUDA_PRECISION: Precision = "fp32"
SAMPLE_SEED_OFFSET = 10_000  # training's sample grids use seeds config.seed + 10000 onwards
MAX_SEEDS = 10_000


def latents_for_seeds(seeds: Iterable[int], latent_dim: int, device: torch.device) -> torch.Tensor:
    """One standard-normal latent per seed, (len(seeds), latent_dim), the same on every device."""
    rows = [
        torch.randn(latent_dim, generator=torch.Generator(device="cpu").manual_seed(seed))
        for seed in seeds
    ]
    return torch.stack(rows).to(device)


def load_generator(model_dir: Path, device: torch.device) -> tuple[nn.Module, ModelCard]:
    """A trained model's (EMA) generator in eval mode, with its model card."""
    card = read_model_card(model_dir)
    generator = build_generator(card.config.model)
    generator.load_state_dict(load_file(model_dir / MODEL_WEIGHTS))
    return generator.to(device).eval().requires_grad_(False), card


@torch.no_grad()
def generate(
    generator: nn.Module,
    latents: torch.Tensor,
    *,
    truncation: float = 1.0,
    batch_size: int = 64,
    precision: Precision | None = None,
) -> torch.Tensor:
    """Images for latents (N, latent_dim) as uint8 (N, 3, R, R), on the CPU.

    Truncation ψ in (0, 1] scales each latent towards the prior's mean (zero), trading variety
    for fidelity: these networks have no mapping network, so the trick works in z-space.
    `precision` applies on CUDA only (default `CUDA_PRECISION`); a CPU always computes in fp32.
    """
    if not 0 < truncation <= 1:
        raise ValueError(f"truncation={truncation}: must be in (0, 1]")
    device = next(generator.parameters()).device
    bf16 = device.type == "cuda" and (precision or CUDA_PRECISION) == "bf16"
    chunks = []
    # Always in eval mode (BatchNorm uses its running statistics, so an image depends on its
    # seed alone, not on its batch); a generator lent by training gets its mode back after.
    was_training = generator.training
    generator.eval()
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(latents), batch_size):
                z = latents[start : start + batch_size].to(device) * truncation  # (b, latent_dim)
                images = generator(z).float()  # (b, 3, R, R) in [-1, 1]
                chunks.append(to_uint8(images))
    finally:
        generator.train(was_training)
    images = torch.cat(chunks).contiguous()
    if device.type != "cuda":
        return images
    # Results stay on the device until one copy at the end, into page-locked memory: a plain
    # copy to pageable memory is staged by the driver at a fraction of the bus's rate.
    host = torch.empty(images.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(images, non_blocking=True)
    torch.cuda.current_stream(device).synchronize()
    return host


def interpolation_latents(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation between two latents (steps, latent_dim), ends included.

    Spherical rather than linear: midpoints of a linear path have a smaller norm than typical
    Gaussian samples, and come out washed-out.
    """
    if steps < 2:
        raise ValueError(f"steps={steps}: an interpolation needs at least 2")
    a, b = start.double(), end.double()
    omega = torch.arccos((a / a.norm()).dot(b / b.norm()).clamp(-1.0, 1.0))
    weights = torch.linspace(0, 1, steps, dtype=torch.float64)
    if float(omega) < 1e-6:
        rows = [a + (b - a) * t for t in weights]
    else:
        sin = torch.sin(omega)
        rows = [(torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin for t in weights]
    return torch.stack(rows).to(start.dtype)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to 0..255 uint8, rounding to nearest."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def png_bytes(image: torch.Tensor) -> bytes:
    """A uint8 (3, H, W) image as PNG bytes: no metadata, fixed settings, so bytes are stable."""
    array = image.permute(1, 2, 0).contiguous().numpy()  # (H, W, 3)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), mode="RGB").save(
        buffer, format="PNG", compress_level=6
    )
    return buffer.getvalue()


def grid(images: torch.Tensor, *, columns: int | None = None) -> torch.Tensor:
    """uint8 images (N, 3, R, R) tiled row-major into one uint8 image (3, rows*R, cols*R)."""
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = torch.zeros(channels, rows * height, columns * width, dtype=torch.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        canvas[:, row * height : (row + 1) * height, column * width : (column + 1) * width] = (
            images[index]
        )
    return canvas


def save_grid(generator: nn.Module, latents: torch.Tensor, path: Path) -> Path:
    """Generate from fixed latents and write them as one PNG grid."""
    images = generate(generator, latents)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(grid(images)))
    return path


def parse_seeds(text: str) -> list[int]:
    """Seeds written as `0-15`, `3,7,9` or a mix (`0-3,10`), in the order written."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if dash else [int(part)])
        except ValueError:
            raise ValueError(
                f"seeds {text!r}: {part!r} is not a number or a range like 0-15"
            ) from None
    if not seeds or any(seed < 0 or seed >= 2**63 for seed in seeds):
        raise ValueError(f"seeds {text!r}: give non-negative seeds, e.g. 0-15")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"seeds {text!r} names {len(seeds)} seeds; at most {MAX_SEEDS} at once")
    return seeds
