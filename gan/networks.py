"""Generator and discriminator networks: the classic DCGAN and a FastGAN-style pair.

Both architectures subclass `Generator` and `Discriminator`, so training code treats them alike:
`G(z)` gives images in [-1, 1]; `D(x, reconstruct=...)` gives `(logits, aux_loss)` from a single
`forward` (DistributedDataParallel hooks only `forward`, so the auxiliary loss must come out of it).

Parameter initialisation draws from torch's global CPU RNG unless `build_*` is given a `seed`, in
which case a private, seeded copy of that RNG is used and the global state is left untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gan.config import ModelConfig

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Discriminator",
    "FastGANDiscriminator",
    "FastGANGenerator",
    "Generator",
    "build_discriminator",
    "build_generator",
    "count_parameters",
]

_LEAK = 0.2
_INIT_STD = 0.02


class Generator(nn.Module):
    """Base of every generator: latents (B, latent_dim) to images (B, 3, R, R) in [-1, 1]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def latent_dim(self) -> int:
        """Length of the latent vector `forward` expects."""
        return self.config.latent_dim

    def forward(self, z: Tensor) -> Tensor:
        """Images (B, 3, R, R) in [-1, 1] for latents z (B, latent_dim)."""
        raise NotImplementedError

    if TYPE_CHECKING:
        # nn.Module types __call__ as returning Any; this gives callers the real signature.
        def __call__(self, z: Tensor) -> Tensor:
            """Run `forward` through the module's hooks."""
            ...


class Discriminator(nn.Module):
    """Base of every discriminator: images (B, 3, R, R) to (logits (B,), auxiliary loss ())."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def forward(
        self, x: Tensor, *, reconstruct: bool = False, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Raw logits (B,) and an auxiliary loss (a scalar, zero unless `reconstruct` applies).

        `reconstruct=True` is meant for real images only. `generator` (on x's device) supplies any
        randomness the auxiliary loss needs; without it torch's global RNG for x's device is used.
        """
        raise NotImplementedError

    if TYPE_CHECKING:

        def __call__(
            self, x: Tensor, *, reconstruct: bool = False, generator: torch.Generator | None = None
        ) -> tuple[Tensor, Tensor]:
            """Run `forward` through the module's hooks."""
            ...


def build_generator(config: ModelConfig, *, seed: int | None = None) -> Generator:
    """The generator `config` describes, on the CPU; `seed` makes its initial weights repeatable."""
    with _init_rng(seed):
        if config.arch == "dcgan":
            return DCGANGenerator(config)
        if config.arch == "fastgan":
            return FastGANGenerator(config)
    raise ValueError(f"unknown architecture {config.arch!r}")


def build_discriminator(config: ModelConfig, *, seed: int | None = None) -> Discriminator:
    """The discriminator `config` describes, on the CPU; `seed` makes its weights repeatable."""
    with _init_rng(seed):
        if config.arch == "dcgan":
            return DCGANDiscriminator(config)
        if config.arch == "fastgan":
            return FastGANDiscriminator(config)
    raise ValueError(f"unknown architecture {config.arch!r}")


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters in `module` (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


@contextmanager
def _init_rng(seed: int | None) -> Iterator[None]:
    """Seed a private fork of the CPU RNG while a network is built; a no-op without a seed."""
    if seed is None:
        yield
        return
    # devices=[]: only the CPU generator is forked and seeded; CUDA RNG state is left alone.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def _levels(low: int, high: int) -> list[int]:
    """Powers of two from `low` to `high` inclusive: the spatial sizes a network passes through."""
    sizes = [low]
    while sizes[-1] < high:
        sizes.append(sizes[-1] * 2)
    return sizes


def _init_weights(module: nn.Module) -> None:
    # Radford et al. (and FastGAN's code): conv weights N(0, 0.02), norm scales N(1, 0.02).
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, _INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, _INIT_STD)
            nn.init.zeros_(m.bias)


# --- DCGAN -------------------------------------------------------------------------------------


def _dcgan_channels(config: ModelConfig) -> dict[int, int]:
    # The 64 px original has 8w channels at 4x4, halving per doubling to w at 32x32; larger images
    # add layers at the top while the low-resolution end stays at 8w (not 16w, 32w, ...).
    res = config.resolution
    return {r: config.width * min(8, res // (2 * r)) for r in _levels(4, res // 2)}


class DCGANGenerator(Generator):
    """Radford et al.'s generator: transposed convolutions with BatchNorm and ReLU, tanh output."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        ch = _dcgan_channels(config)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, ch[4], 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch[4]),
            nn.ReLU(),
        ]
        for r in _levels(4, config.resolution // 4):
            layers += [
                nn.ConvTranspose2d(ch[r], ch[2 * r], 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch[2 * r]),
                nn.ReLU(),
            ]
        layers += [
            nn.ConvTranspose2d(ch[config.resolution // 2], config.channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        """Images (B, 3, R, R) in [-1, 1] for latents z (B, latent_dim)."""
        out: Tensor = self.main(z[:, :, None, None])  # (B, latent_dim, 1, 1) -> (B, 3, R, R)
        return out


class DCGANDiscriminator(Discriminator):
    """Radford et al.'s discriminator: strided convs, LeakyReLU(0.2), BatchNorm after the first.

    BatchNorm stays, as in the classic baseline, so a sample's logit depends on its batch: R1 and
    WGAN-GP still work (their gradients flow through the batch statistics), but call it on real
    and fake batches separately, as the paper's training did. Logits are raw (no sigmoid).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        ch = _dcgan_channels(config)
        res = config.resolution
        layers: list[nn.Module] = [
            nn.Conv2d(config.channels, ch[res // 2], 4, 2, 1, bias=False),
            nn.LeakyReLU(_LEAK),
        ]
        for r in reversed(_levels(8, res // 2)):
            layers += [
                nn.Conv2d(ch[r], ch[r // 2], 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch[r // 2]),
                nn.LeakyReLU(_LEAK),
            ]
        layers.append(nn.Conv2d(ch[4], 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)
        _init_weights(self)

    def forward(
        self, x: Tensor, *, reconstruct: bool = False, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Raw logits (B,) and a zero auxiliary loss (DCGAN has no reconstruction task)."""
        logits = self.main(x).reshape(-1)  # (B, 3, R, R) -> (B, 1, 1, 1) -> (B,)
        return logits, x.new_zeros(())


# --- FastGAN -----------------------------------------------------------------------------------


def _sn_conv(
    c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, *, bias: bool = False
) -> nn.Module:
    """A spectrally normalised Conv2d, as FastGAN uses for every convolution."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias)
    nn.init.normal_(conv.weight, 0.0, _INIT_STD)
    return spectral_norm(conv)


def _sn_conv_transpose(c_in: int, c_out: int, kernel: int) -> nn.Module:
    """A spectrally normalised ConvTranspose2d from a 1x1 input to a kernel x kernel map."""
    conv = nn.ConvTranspose2d(c_in, c_out, kernel, 1, 0, bias=False)
    nn.init.normal_(conv.weight, 0.0, _INIT_STD)
    return spectral_norm(conv)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm2d initialised as FastGAN's code does."""
    norm = nn.BatchNorm2d(channels)
    nn.init.normal_(norm.weight, 1.0, _INIT_STD)
    nn.init.zeros_(norm.bias)
    return norm


class _GLU(nn.Module):
    """Gated linear unit over channels: the first half times the sigmoid of the second."""

    def forward(self, x: Tensor) -> Tensor:
        """Halve the channels of x (B, 2C, H, W) -> (B, C, H, W)."""
        return F.glu(x, dim=1)


class _Swish(nn.Module):
    """x * sigmoid(x), the activation inside FastGAN's excitation modules."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply swish elementwise."""
        return x * torch.sigmoid(x)


class _UpBlock(nn.Sequential):
    """Nearest 2x upsample, 3x3 conv to 2 * c_out channels, BatchNorm, GLU: doubles H and W."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            _sn_conv(c_in, 2 * c_out, 3, 1, 1),
            _batch_norm(2 * c_out),
            _GLU(),
        )


class _SkipLayerExcitation(nn.Module):
    """FastGAN's skip-layer excitation: a low-resolution map gates a high-resolution map's channels.

    (B, c_small, h, w) and (B, c_big, H, W) -> (B, c_big, H, W).
    """

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        # Pool to 4x4, then a 4x4 conv collapses space: one weight per channel of the big map.
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            _sn_conv(c_small, c_big, 4),
            _Swish(),
            _sn_conv(c_big, c_big, 1),
            nn.Sigmoid(),
        )

    def forward(self, small: Tensor, big: Tensor) -> Tensor:
        """`big` (B, c_big, H, W) scaled per channel by a gate computed from `small`."""
        gate: Tensor = self.gate(small)  # (B, c_big, 1, 1), broadcast over (B, c_big, H, W)
        return big * gate


def _fastgan_generator_channels(config: ModelConfig) -> dict[int, int]:
    # FastGAN's multipliers (16w at 4x4 ... w/2 at 256 px, for 1024 px images) would make a
    # 256 px model ~30M parameters and a 64 px one slow on a CPU. Here channels follow the
    # distance from the output: w/2 at full size, w at half, 2w at 1/4 and 1/8, 4w below, with a
    # floor of 8. At width 64 that is a few million parameters from 64 to 512 px.
    res = config.resolution
    multiplier = {1: 0.5, 2: 1.0, 4: 2.0, 8: 2.0}
    return {r: max(8, int(config.width * multiplier.get(res // r, 4.0))) for r in _levels(4, res)}


def _fastgan_discriminator_channels(config: ModelConfig) -> dict[int, int]:
    # Mirror of the generator: w/2 after the stem at R/2, doubling per halving up to 4w.
    res = config.resolution
    multiplier = {2: 0.5, 4: 1.0, 8: 2.0}
    return {
        r: max(8, int(config.width * multiplier.get(res // r, 4.0))) for r in _levels(4, res // 2)
    }


# Skip-layer excitation pairs (source size, gated size). FastGAN's generator uses these four;
# only pairs whose gated size the network reaches are built.
_SLE_PAIRS = ((4, 64), (8, 128), (16, 256), (32, 512))


class FastGANGenerator(Generator):
    """FastGAN-style generator (Liu et al., 2021): GLU upsampling blocks with skip-layer excitation.

    Differences from the paper's code, on purpose: no noise injection (the image is a function of
    z alone, so EMA samples and attribution are repeatable); one conv per upsampling block; one
    output head at full resolution; channel counts sized for 64-512 px (see the helper above).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        ch = _fastgan_generator_channels(config)
        res = config.resolution
        # (B, latent, 1, 1) -> (B, ch[4], 4, 4); the GLU halves the doubled channels.
        self.initial = nn.Sequential(
            _sn_conv_transpose(config.latent_dim, 2 * ch[4], 4), _batch_norm(2 * ch[4]), _GLU()
        )
        self.up = nn.ModuleDict({str(r): _UpBlock(ch[r // 2], ch[r]) for r in _levels(8, res)})
        self.sle = nn.ModuleDict(
            {
                str(big): _SkipLayerExcitation(ch[small], ch[big])
                for small, big in _SLE_PAIRS
                if big <= res
            }
        )
        self.sle_source = {big: small for small, big in _SLE_PAIRS if big <= res}
        self.to_rgb = _sn_conv(ch[res], config.channels, 3, 1, 1)

    def forward(self, z: Tensor) -> Tensor:
        """Images (B, 3, R, R) in [-1, 1] for latents z (B, latent_dim)."""
        feat = self.initial(z[:, :, None, None])  # (B, ch[4], 4, 4)
        features = {4: feat}
        for r in _levels(8, self.config.resolution):
            feat = self.up[str(r)](feat)  # (B, ch[r], r, r)
            if r in self.sle_source:
                feat = self.sle[str(r)](features[self.sle_source[r]], feat)
            features[r] = feat
        return torch.tanh(self.to_rgb(feat))  # (B, 3, R, R)


class _DownBlock(nn.Module):
    """FastGAN's residual down block (DownBlockComp): (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            _sn_conv(c_in, c_out, 4, 2, 1),
            _batch_norm(c_out),
            nn.LeakyReLU(_LEAK),
            _sn_conv(c_out, c_out, 3, 1, 1),
            _batch_norm(c_out),
            nn.LeakyReLU(_LEAK),
        )
        self.direct = nn.Sequential(
            nn.AvgPool2d(2, 2), _sn_conv(c_in, c_out, 1), _batch_norm(c_out), nn.LeakyReLU(_LEAK)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Average of the strided-conv path and the pooled shortcut."""
        out: Tensor = (self.main(x) + self.direct(x)) / 2
        return out


class _Decoder(nn.Sequential):
    """Decoder for the self-supervised task: (B, c_in, 8, 8) -> (B, 3, size, size) in [-1, 1]."""

    def __init__(self, c_in: int, size: int, width: int, channels: int) -> None:
        layers: list[nn.Module] = []
        c = c_in
        for r in _levels(16, size):
            # Thin on purpose: FastGAN's decoders are narrow next to the discriminator.
            c_out = max(8, width // 2 if r <= 16 else width // 4 if r <= 64 else width // 8)
            layers.append(_UpBlock(c, c_out))
            c = c_out
        layers += [_sn_conv(c, channels, 3, 1, 1), nn.Tanh()]
        super().__init__(*layers)


class FastGANDiscriminator(Discriminator):
    """FastGAN-style discriminator: residual down blocks plus decoders that reconstruct real images.

    With `reconstruct=True` two decoders rebuild the input from the 8x8 features (whole image)
    and from one random quadrant of the 16x16 features (that quadrant of the image); the
    auxiliary loss is the L1 distance to the real image, area-downsampled to the decoder's output
    size (min(128, R/2)). The paper uses LPIPS; L1 keeps the library free of pretrained weights.
    The quadrant is drawn per sample from `generator` (or torch's RNG for x's device), without
    a host sync. Omitted from the paper's discriminator: the second 128 px branch and its SLE.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        ch = _fastgan_discriminator_channels(config)
        res = config.resolution
        self.rec_size = min(128, res // 2)
        # (B, 3, R, R) -> (B, ch[R/2], R/2, R/2): no norm on the first layer, as in the paper.
        self.stem = nn.Sequential(
            _sn_conv(config.channels, ch[res // 2], 4, 2, 1), nn.LeakyReLU(_LEAK)
        )
        self.down = nn.ModuleDict(
            {str(r // 2): _DownBlock(ch[r], ch[r // 2]) for r in reversed(_levels(16, res // 2))}
        )
        # (B, ch[8], 8, 8) -> (B, ch[4], 4, 4) -> (B, 1, 1, 1)
        self.head = nn.Sequential(
            _sn_conv(ch[8], ch[4], 4, 2, 1),
            _batch_norm(ch[4]),
            nn.LeakyReLU(_LEAK),
            _sn_conv(ch[4], 1, 4),
        )
        self.decode_whole = _Decoder(ch[8], self.rec_size, config.width, config.channels)
        self.decode_part = _Decoder(ch[16], self.rec_size, config.width, config.channels)

    def forward(
        self, x: Tensor, *, reconstruct: bool = False, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Raw logits (B,) and, with `reconstruct`, the reconstruction loss (else zero)."""
        feat = self.stem(x)  # (B, ch[R/2], R/2, R/2)
        features: dict[int, Tensor] = {}
        for r in reversed(_levels(8, self.config.resolution // 4)):
            feat = self.down[str(r)](feat)  # (B, ch[r], r, r)
            features[r] = feat
        logits = self.head(feat).reshape(-1)  # (B,)
        if not reconstruct:
            return logits, x.new_zeros(())
        return logits, self._reconstruction_loss(x, features[8], features[16], generator)

    def _reconstruction_loss(
        self, x: Tensor, feat8: Tensor, feat16: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """L1 between decoded features and the (downsampled) real image and one random quadrant."""
        target = x.detach()  # the image is the label here, not something to move
        size = self.rec_size
        whole = F.l1_loss(self.decode_whole(feat8), _resize(target, size))
        quadrant = torch.randint(0, 4, (x.shape[0],), device=x.device, generator=generator)
        part = self.decode_part(_take_quadrant(feat16, quadrant))  # (B, 3, size, size)
        return whole + F.l1_loss(part, _resize(_take_quadrant(target, quadrant), size))


def _resize(x: Tensor, size: int) -> Tensor:
    """Area-downsample x (B, C, H, H) to (B, C, size, size); unchanged when already that size."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area")


def _take_quadrant(x: Tensor, quadrant: Tensor) -> Tensor:
    """Per sample, one quadrant of x (B, C, H, W) -> (B, C, H/2, W/2).

    Quadrant 0 is top-left, 1 top-right, 2 bottom-left, 3 bottom-right. Indexing with a tensor
    (no `.item()`) keeps the choice on the device.
    """
    b, c, h, w = x.shape
    # (B, C, 2, H/2, 2, W/2) -> (B, 2, 2, C, H/2, W/2) -> (B, 4, C, H/2, W/2)
    parts = x.reshape(b, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5)
    parts = parts.reshape(b, 4, c, h // 2, w // 2)
    return parts[torch.arange(b, device=x.device), quadrant]
