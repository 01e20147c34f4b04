"""Frozen configuration for networks and training; checkpoints store it as plain JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Architecture = Literal["dcgan", "fastgan"]
LossKind = Literal["nonsaturating", "hinge", "wgan-gp"]

ARCHITECTURES: tuple[Architecture, ...] = ("dcgan", "fastgan")
LOSSES: tuple[LossKind, ...] = ("nonsaturating", "hinge", "wgan-gp")
RESOLUTIONS = (64, 128, 256, 512)
AUGMENTATIONS = ("color", "translation", "cutout")


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and what is allowed."""


@dataclass(frozen=True)
class ModelConfig:
    """What the generator and discriminator look like.

    `dcgan` is the classic Radford et al. network (the seed design's, with the loss corrected);
    `fastgan` is the few-shot default: skip-layer excitation in the generator and a
    discriminator that also learns to reconstruct real images (Liu et al., 2021).
    """

    arch: Architecture = "fastgan"
    resolution: int = 64
    latent_dim: int = 128
    width: int = 64  # base channel count; layers use multiples of it
    channels: int = 3

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"arch={self.arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(
                f"resolution={self.resolution}: choose one of {', '.join(map(str, RESOLUTIONS))}"
            )
        if not 1 <= self.latent_dim <= 1024:
            raise ConfigError(f"latent_dim={self.latent_dim}: must be 1 to 1024")
        if not 8 <= self.width <= 1024:
            raise ConfigError(f"width={self.width}: must be 8 to 1024")
        if self.channels != 3:
            raise ConfigError(f"channels={self.channels}: only RGB (3) is supported")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, loss, regularisation, augmentation, precision and cadence."""

    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 2000
    batch_size: int = 16
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.99
    loss: LossKind = "nonsaturating"
    r1_gamma: float = 0.2  # weight of the R1 penalty (non-saturating and hinge losses)
    r1_interval: int = 16  # lazy R1: every this many discriminator steps, scaled to match
    gp_weight: float = 10.0  # WGAN-GP gradient penalty weight
    augment: tuple[str, ...] = AUGMENTATIONS  # DiffAugment policy, applied to real and fake
    ema_decay: float = 0.999  # EMA generator: weight of the old average per step
    mixed_precision: bool = True  # bf16 autocast, used on CUDA only
    channels_last: bool = True  # CUDA, eager only (see train._channels_last)
    compile: bool = False  # torch.compile the networks (CUDA; slow to start; experimental)
    sample_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r}: choose one of {', '.join(LOSSES)}")
        unknown = [name for name in self.augment if name not in AUGMENTATIONS]
        if unknown:
            raise ConfigError(f"augment={unknown}: choose from {', '.join(AUGMENTATIONS)}")
        for name in ("steps", "batch_size", "r1_interval", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        for name in ("lr_g", "lr_d"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be between 0 and 1")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay={self.ema_decay}: must be in [0, 1)")

    def to_json(self) -> str:
        """The config as JSON (sorted keys: equal configs give equal text, and equal hashes)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from `dataclasses.asdict` output (as read back from JSON)."""
        values = dict(data)
        values["model"] = ModelConfig(**values.get("model", {}))
        if "augment" in values:
            values["augment"] = tuple(values["augment"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**values)
