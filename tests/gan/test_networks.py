"""The generator and discriminator: shapes, ranges, the reconstruction loss, repeatability."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gan.config import Architecture, ModelConfig
from gan.networks import (
    DCGANDiscriminator,
    DCGANGenerator,
    Discriminator,
    FastGANDiscriminator,
    FastGANGenerator,
    Generator,
    _take_quadrant,
    build_discriminator,
    build_generator,
    count_parameters,
)

SMALL = 16  # width small enough to keep every test quick on two CPU cores


def _config(arch: Architecture, resolution: int = 64, width: int = SMALL) -> ModelConfig:
    return ModelConfig(arch=arch, resolution=resolution, latent_dim=32, width=width)


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
@pytest.mark.parametrize("resolution", [64, 128])
def test_generator_makes_images_in_range_and_discriminator_one_logit_each(
    arch: Architecture, resolution: int
) -> None:
    config = _config(arch, resolution)
    g, d = build_generator(config, seed=0), build_discriminator(config, seed=0)
    z = torch.randn(3, config.latent_dim, generator=torch.Generator().manual_seed(1))

    images = g(z)
    logits, aux = d(images)

    assert images.shape == (3, 3, resolution, resolution)
    assert images.min() >= -1
    assert images.max() <= 1
    assert images.std() > 0  # not a constant (e.g. dead) output
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()
    assert aux.shape == ()
    assert aux.item() == 0.0


@pytest.mark.parametrize(
    ("arch", "g_type", "d_type"),
    [
        ("dcgan", DCGANGenerator, DCGANDiscriminator),
        ("fastgan", FastGANGenerator, FastGANDiscriminator),
    ],
)
def test_builders_return_the_configured_architecture_behind_the_common_bases(
    arch: Architecture, g_type: type[nn.Module], d_type: type[nn.Module]
) -> None:
    config = _config(arch)
    g, d = build_generator(config), build_discriminator(config)

    assert isinstance(g, g_type)
    assert isinstance(g, Generator)
    assert isinstance(d, d_type)
    assert isinstance(d, Discriminator)
    assert g.latent_dim == 32
    assert g.config == config
    assert d.config == config


def test_fastgan_at_256_pixels_has_the_right_shapes() -> None:
    config = _config("fastgan", 256)
    g, d = build_generator(config, seed=0), build_discriminator(config, seed=0)

    images = g(torch.randn(2, config.latent_dim))
    logits, aux = d(images, reconstruct=True)

    assert images.shape == (2, 3, 256, 256)
    assert logits.shape == (2,)
    assert aux.shape == ()
    assert aux.item() > 0


def test_fastgan_reconstruction_loss_is_positive_and_trains_both_decoders() -> None:
    config = _config("fastgan")
    d = build_discriminator(config, seed=0)
    assert isinstance(d, FastGANDiscriminator)
    real = torch.rand(4, 3, 64, 64) * 2 - 1

    logits, aux = d(real, reconstruct=True, generator=torch.Generator().manual_seed(0))
    aux.backward()

    assert logits.shape == (4,)
    assert aux.shape == ()
    assert aux.item() > 0
    for decoder in (d.decode_whole, d.decode_part):
        grads = [p.grad for p in decoder.parameters()]
        assert all(g is not None for g in grads)
        assert sum(g.abs().sum().item() for g in grads if g is not None) > 0
    # The reconstruction task also shapes the shared features, not just the decoders.
    stem_grad = next(d.stem.parameters()).grad
    assert stem_grad is not None
    assert stem_grad.abs().sum() > 0


def test_fastgan_reconstruction_draws_its_crops_from_the_given_generator() -> None:
    d = build_discriminator(_config("fastgan"), seed=0).eval()
    real = torch.rand(8, 3, 64, 64) * 2 - 1

    @torch.no_grad()
    def aux(seed: int) -> float:
        return d(real, reconstruct=True, generator=torch.Generator().manual_seed(seed))[1].item()

    assert aux(3) == aux(3)
    assert len({aux(seed) for seed in range(6)}) > 1  # the quadrants differ between seeds


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
def test_auxiliary_loss_is_zero_without_reconstruction(arch: Architecture) -> None:
    d = build_discriminator(_config(arch), seed=0)
    real = torch.rand(2, 3, 64, 64)

    _, without = d(real)
    _, with_flag = d(real, reconstruct=True)

    assert without.item() == 0.0
    assert (with_flag.item() == 0.0) == (arch == "dcgan")


def test_quadrants_are_taken_per_sample() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)

    parts = _take_quadrant(x, torch.tensor([1, 2]))

    assert torch.equal(parts[0, 0], x[0, 0, :2, 2:])  # top-right
    assert torch.equal(parts[1, 0], x[1, 0, 2:, :2])  # bottom-left


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
def test_same_seed_builds_identical_networks_and_leaves_the_global_rng_alone(
    arch: Architecture,
) -> None:
    config = _config(arch)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()

    g1, g2, g3 = (build_generator(config, seed=s) for s in (7, 7, 8))
    d1, d2 = (build_discriminator(config, seed=7) for _ in range(2))

    assert torch.equal(torch.random.get_rng_state(), before)
    z = torch.randn(2, config.latent_dim, generator=torch.Generator().manual_seed(0))
    out1, out2, out3 = g1(z), g2(z), g3(z)
    assert torch.equal(out1, out2)
    assert not torch.allclose(out1, out3)
    assert torch.equal(d1(out1)[0], d2(out2)[0])


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
def test_channels_last_gives_the_same_result_as_contiguous(arch: Architecture) -> None:
    config = _config(arch)
    g, d = build_generator(config, seed=0), build_discriminator(config, seed=0)
    g_cl = copy.deepcopy(g).to(memory_format=torch.channels_last)
    d_cl = copy.deepcopy(d).to(memory_format=torch.channels_last)
    z = torch.randn(4, config.latent_dim, generator=torch.Generator().manual_seed(0))

    images, images_cl = g(z), g_cl(z)
    logits, aux = d(images, reconstruct=True, generator=torch.Generator().manual_seed(1))
    logits_cl, aux_cl = d_cl(
        images_cl.contiguous(memory_format=torch.channels_last),
        reconstruct=True,
        generator=torch.Generator().manual_seed(1),
    )

    torch.testing.assert_close(images_cl, images, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(logits_cl, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(aux_cl, aux, atol=1e-5, rtol=1e-4)


def test_deep_copied_generator_matches_the_original_for_an_ema_copy() -> None:
    g = build_generator(_config("fastgan"), seed=0).eval()
    ema = copy.deepcopy(g)
    z = torch.randn(2, 32)

    assert torch.equal(ema(z), g(z))
    assert {k for k, _ in ema.named_buffers()} == {k for k, _ in g.named_buffers()}


def test_count_parameters_counts_every_scalar() -> None:
    assert count_parameters(nn.Linear(3, 2)) == 3 * 2 + 2
    assert count_parameters(nn.BatchNorm2d(5)) == 10  # running stats are buffers, not counted


def test_fastgan_at_256_pixels_width_64_stays_at_a_few_million_parameters() -> None:
    config = ModelConfig(arch="fastgan", resolution=256, width=64)

    g_params = count_parameters(build_generator(config))
    d_params = count_parameters(build_discriminator(config))

    assert 1_000_000 < g_params < 10_000_000
    assert 1_000_000 < d_params < 10_000_000


def test_dcgan_initialises_weights_as_in_the_paper() -> None:
    g = build_generator(ModelConfig(arch="dcgan", width=64), seed=0)
    conv = next(m for m in g.modules() if isinstance(m, nn.ConvTranspose2d))
    norm = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))

    assert abs(conv.weight.std().item() - 0.02) < 0.002
    assert abs(conv.weight.mean().item()) < 0.002
    assert abs(norm.weight.mean().item() - 1.0) < 0.01


def test_a_few_adversarial_steps_change_the_generators_output() -> None:
    # A smoke test of the whole training path, backward through both networks included.
    config = _config("fastgan")
    g, d = build_generator(config, seed=0), build_discriminator(config, seed=0)
    opt_g = torch.optim.Adam(g.parameters(), 1e-3)
    opt_d = torch.optim.Adam(d.parameters(), 1e-3)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    z = torch.randn(4, config.latent_dim)
    g.eval()
    before = g(z).detach()
    g.train()

    for _ in range(2):
        real_logits, aux = d(real, reconstruct=True)
        fake_logits, _ = d(g(z).detach())
        opt_d.zero_grad()
        (
            torch.nn.functional.softplus(-real_logits).mean()
            + torch.nn.functional.softplus(fake_logits).mean()
            + aux
        ).backward()
        opt_d.step()
        opt_g.zero_grad()
        torch.nn.functional.softplus(-d(g(z))[0]).mean().backward()
        opt_g.step()

    g.eval()
    after = g(z).detach()
    assert torch.isfinite(after).all()
    assert (after - before).abs().max() > 1e-4
