"""DiffAugment (Zhao et al., 2020): differentiable augmentations applied to real and fake alike.

Every random number comes from the `generator` passed in (a torch.Generator on the images'
device), in a fixed order, so saving and restoring its state resumes training bit-exactly.
Without one, torch's default RNG for the images' device is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gan.config import AUGMENTATIONS

__all__ = ["diff_augment"]

TRANSLATION_RATIO = 0.125  # largest shift, as a fraction of the image side
CUTOUT_RATIO = 0.5  # side of the cut-out square, as a fraction of the image side


def diff_augment(
    x: Tensor, policy: Sequence[str], *, generator: torch.Generator | None = None
) -> Tensor:
    """Apply the policy's augmentations, in order, to images x (B, C, H, W); differentiable in x.

    "color": per-sample brightness, saturation and contrast; "translation": a per-sample shift
    of up to 1/8 of the side, zero filled; "cutout": a per-sample square of half the side zeroed
    (centred anywhere in the image, so clipped at the border). An empty policy returns x itself.
    The result keeps x's memory format (channels_last in, channels_last out). A string policy is
    read as the paper code's comma-separated form, "color,translation,cutout".
    """
    if isinstance(policy, str):
        policy = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in policy if name not in _AUGMENTS]
    if unknown:
        raise ValueError(
            f"unknown augmentation {', '.join(map(repr, unknown))}: "
            f"choose from {', '.join(AUGMENTATIONS)}"
        )
    if not policy:
        return x
    out = x
    for name in policy:
        out = _AUGMENTS[name](out, generator)
    if (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    ):
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) number per sample, shaped (B, 1, 1, 1) to broadcast over x, in x's dtype."""
    # Drawn in float32 whatever x's dtype: the random stream must not depend on autocast.
    u = torch.rand((x.shape[0], 1, 1, 1), device=x.device, generator=generator)
    return u.to(x.dtype)


def _integers(x: Tensor, low: int, high: int, generator: torch.Generator | None) -> Tensor:
    """One integer per sample in [low, high), shaped (B,) on x's device."""
    return torch.randint(low, high, (x.shape[0],), device=x.device, generator=generator)


def _color(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), per sample."""
    x = x + (_uniform(x, generator) - 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (_uniform(x, generator) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _translation(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Shift each image by up to 1/8 of its side in each direction, filling with zeros."""
    max_dy = int(x.shape[2] * TRANSLATION_RATIO + 0.5)
    max_dx = int(x.shape[3] * TRANSLATION_RATIO + 0.5)
    dy = _integers(x, -max_dy, max_dy + 1, generator)
    dx = _integers(x, -max_dx, max_dx + 1, generator)
    return _translate(x, dy, dx)


def _translate(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Move each image's content dy[b] rows down and dx[b] columns right; uncovered pixels are 0.

    out[b, :, i, j] = x[b, :, i - dy[b], j - dx[b]] where that lies inside the image, else 0.
    Built from two gathers on a 1-pixel zero-padded copy (indices outside clamp onto the pad),
    which work on any device, for any memory format, and are differentiable in x.
    """
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (B, C, H + 2, W + 2)
    rows = (torch.arange(h, device=x.device) - dy[:, None] + 1).clamp(0, h + 1)  # (B, H)
    cols = (torch.arange(w, device=x.device) - dx[:, None] + 1).clamp(0, w + 1)  # (B, W)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2))  # (B, C, H, W + 2)
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))  # (B, C, H, W)


def _cutout(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Zero a square of half the side in each image, its centre uniform over the image."""
    h, w = x.shape[2], x.shape[3]
    size_y = int(h * CUTOUT_RATIO + 0.5)
    size_x = int(w * CUTOUT_RATIO + 0.5)
    # As in the paper's code: the centre ranges over the whole image, so squares near the
    # border are clipped and every pixel is about equally likely to be cut.
    top = _integers(x, 0, h + 1 - size_y % 2, generator) - size_y // 2
    left = _integers(x, 0, w + 1 - size_x % 2, generator) - size_x // 2
    return _cut(x, top, left, size_y, size_x)


def _cut(x: Tensor, top: Tensor, left: Tensor, size_y: int, size_x: int) -> Tensor:
    """Zero rows [top[b], top[b] + size_y) x columns [left[b], left[b] + size_x) of each image."""
    rows = torch.arange(x.shape[2], device=x.device)
    cols = torch.arange(x.shape[3], device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size_y)  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size_x)  # (B, W)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # (B, H, W)
    return x * keep[:, None].to(x.dtype)


_AUGMENTS: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}
