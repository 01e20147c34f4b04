"""Adversarial losses on raw logits, and the R1 and WGAN-GP gradient penalties."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan.config import LOSSES, LossKind

__all__ = ["discriminator_loss", "generator_loss", "gradient_penalty", "r1_penalty"]


def discriminator_loss(kind: LossKind, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's (critic's) loss to minimise, from raw logits (B,) on real and fake.

    nonsaturating: E[softplus(-D(x))] + E[softplus(D(G(z)))], the logistic loss on logits;
    hinge: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
    wgan-gp: E[D(G(z))] - E[D(x)], the critic loss (add `gradient_penalty` separately).
    """
    if kind == "nonsaturating":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "wgan-gp":
        return fake_logits.mean() - real_logits.mean()
    raise _unknown(kind)


def generator_loss(kind: LossKind, fake_logits: Tensor) -> Tensor:
    """The generator's loss to minimise, from the discriminator's raw logits (B,) on fakes.

    nonsaturating: E[softplus(-D(G(z)))]; hinge and wgan-gp: -E[D(G(z))].
    """
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake_logits.mean()
    raise _unknown(kind)


def r1_penalty(real_images: Tensor, real_logits: Tensor) -> Tensor:
    """R1 (Mescheder et al., 2018): the batch mean of ||d real_logits / d real_images||^2.

    The caller must call `real_images.requires_grad_(True)` before computing `real_logits` from
    them, and scales the result (usually by gamma / 2). The graph is kept (create_graph=True) so
    the penalty can be backpropagated into the discriminator.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    # Square in float32: under bf16 autocast the gradient may arrive in low precision.
    return grad.float().square().flatten(1).sum(dim=1).mean()


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP (Gulrajani et al., 2017): E[(||grad D(x_hat)|| - 1)^2] on random interpolates.

    `discriminator` maps images to logits (B,); for a `Discriminator` pass
    `lambda x: d(x)[0]`. Each sample's mixing weight is uniform in [0, 1), drawn from
    `generator` (on real's device) or else torch's RNG for that device. The caller scales the
    result by its weight (`gp_weight`).
    """
    alpha = torch.rand(
        (real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, generator=generator
    ).to(real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
    # The epsilon keeps the square root differentiable where a gradient is exactly zero.
    norm = (grad.float().square().flatten(1).sum(dim=1) + 1e-12).sqrt()
    return (norm - 1).square().mean()


def _unknown(kind: object) -> ValueError:
    """The error for a loss name outside LOSSES."""
    return ValueError(f"unknown loss kind {kind!r}: choose one of {', '.join(LOSSES)}")
