"""Adversarial losses and gradient penalties: values, signs, and what they do under optimisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from gan.augment import diff_augment
from gan.config import AUGMENTATIONS, LOSSES, Architecture, LossKind, ModelConfig
from gan.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from gan.networks import build_discriminator


def test_nonsaturating_loss_at_zero_logits_is_log_two_per_term() -> None:
    zeros = torch.zeros(4)

    assert discriminator_loss("nonsaturating", zeros, zeros).item() == pytest.approx(
        2 * math.log(2)
    )
    assert generator_loss("nonsaturating", zeros).item() == pytest.approx(math.log(2))


def test_hinge_loss_is_zero_beyond_the_margin_and_linear_inside() -> None:
    assert discriminator_loss("hinge", torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -2.0])) == 0
    assert discriminator_loss("hinge", torch.zeros(2), torch.zeros(2)).item() == pytest.approx(2)
    assert generator_loss("hinge", torch.tensor([1.0, 3.0])).item() == pytest.approx(-2)


def test_wgan_critic_loss_is_fake_mean_minus_real_mean() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])

    assert discriminator_loss("wgan-gp", real, fake).item() == pytest.approx(1.0 - 2.0)
    assert generator_loss("wgan-gp", fake).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", LOSSES)
def test_raising_real_logits_or_lowering_fake_ones_lowers_the_discriminator_loss(
    kind: LossKind,
) -> None:
    real = torch.zeros(3, requires_grad=True)
    fake = torch.zeros(3, requires_grad=True)

    discriminator_loss(kind, real, fake).backward()
    assert real.grad is not None
    assert fake.grad is not None
    assert (real.grad < 0).all()
    assert (fake.grad > 0).all()

    fake_for_g = torch.zeros(3, requires_grad=True)
    generator_loss(kind, fake_for_g).backward()
    assert fake_for_g.grad is not None
    assert (fake_for_g.grad < 0).all()


@pytest.mark.parametrize("kind", LOSSES)
def test_training_a_linear_discriminator_separates_real_from_fake(kind: LossKind) -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(64, 2, generator=gen) + torch.tensor([2.0, 0.0])
    fake = torch.randn(64, 2, generator=gen) - torch.tensor([2.0, 0.0])
    weight = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([weight], lr=0.05)

    def loss() -> Tensor:
        return discriminator_loss(kind, real @ weight, fake @ weight)

    start = loss().item()
    for _ in range(20):
        opt.zero_grad()
        loss().backward()
        opt.step()

    assert loss().item() < start
    assert (real @ weight).mean() > (fake @ weight).mean()
    assert weight[0] > 0  # it learned the direction that separates the clusters


def test_unknown_loss_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'least-squares'.*nonsaturating"):
        discriminator_loss("least-squares", torch.zeros(1), torch.zeros(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'least-squares'"):
        generator_loss("least-squares", torch.zeros(1))  # type: ignore[arg-type]


def test_r1_penalty_of_a_linear_discriminator_is_its_squared_weight_norm() -> None:
    weight = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    images = torch.randn(5, 3, 4, 4).requires_grad_(True)

    logits = (weight * images).sum(dim=(1, 2, 3))  # gradient w.r.t. each image is `weight`
    penalty = r1_penalty(images, logits)

    assert penalty.item() == pytest.approx(weight.square().sum().item(), rel=1e-5)
    # create_graph=True: the penalty itself trains the discriminator (d||w||^2/dw = 2w).
    penalty.backward()
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, 2 * weight.detach())


def test_r1_penalty_averages_per_sample_squared_gradient_norms() -> None:
    images = torch.tensor([[1.0, 0.0], [3.0, 4.0]]).requires_grad_(True)

    penalty = r1_penalty(images, images.square().sum(dim=1))  # gradient 2x: norms^2 = 4, 100

    assert penalty.item() == pytest.approx((4 + 100) / 2)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic() -> None:
    weight = torch.randn(3, 8, 8)
    weight = weight / weight.norm()
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)

    penalty = gradient_penalty(lambda x: (weight * x).sum(dim=(1, 2, 3)), real, fake)

    assert penalty.item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_measures_the_distance_of_the_gradient_norm_from_one() -> None:
    weight = torch.randn(3, 8, 8)
    weight = 3 * weight / weight.norm()  # gradient norm 3 everywhere: penalty (3 - 1)^2
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)

    penalty = gradient_penalty(lambda x: (weight * x).sum(dim=(1, 2, 3)), real, fake)

    assert penalty.item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_interpolates_with_the_given_generator_and_trains_the_critic() -> None:
    scale = torch.tensor(1.0, requires_grad=True)
    real, fake = torch.randn(6, 2) + 2, torch.randn(6, 2) - 2

    def critic(x: Tensor) -> Tensor:
        return scale * x.square().sum(dim=1)  # gradient norm depends on where x_hat lies

    first = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    again = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    other = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(6))

    assert first.item() == again.item()
    assert first.item() != other.item()
    first.backward()
    assert scale.grad is not None
    assert scale.grad != 0


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
def test_penalties_backpropagate_through_the_real_discriminators_and_augmentation(
    arch: Architecture,
) -> None:
    d = build_discriminator(ModelConfig(arch=arch, resolution=64, width=16), seed=0)
    real = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    fake = torch.rand(2, 3, 64, 64) * 2 - 1
    gen = torch.Generator().manual_seed(0)

    logits, _ = d(diff_augment(real, AUGMENTATIONS, generator=gen))
    r1 = r1_penalty(real, logits)
    gp = gradient_penalty(lambda x: d(x)[0], real, fake, generator=gen)
    (r1 + gp).backward()

    assert r1.item() > 0
    assert gp.item() > 0
    grads = [p.grad for p in d.parameters() if p.grad is not None]
    assert grads
    assert all(torch.isfinite(g).all() for g in grads)
