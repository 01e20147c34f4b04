"""Training: `train(config, images, out_dir=…, device=…, on_progress=…)`.

One loop for every architecture and loss: DiffAugment on real and fake, lazy R1 (or WGAN-GP),
an EMA generator, bf16 autocast and channels-last on CUDA, optional torch.compile, periodic
sample grids, checkpoints that resume bit-exactly on CPU, and DistributedDataParallel when a
process group is initialised (torchrun). All randomness flows from the config's seed through
dedicated generators (data sampling, latents, augmentation) that checkpoints save.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan.augment import diff_augment
from gan.checkpoint import (
    ModelCard,
    TrainingState,
    export_model,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from gan.config import TrainConfig
from gan.errors import TrainingError
from gan.generate import SAMPLE_SEED_OFFSET, latents_for_seeds, save_grid
from gan.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from gan.networks import build_discriminator, build_generator

MIN_IMAGES = 8

Evaluator = Callable[[nn.Module, int], dict[str, float]]


@dataclass(frozen=True)
class Progress:
    """Where training stands, reported to `on_progress` every few steps and at events."""

    step: int
    total_steps: int
    losses: dict[str, float]
    images_per_second: float
    event: str = "step"  # "step", "sample", "checkpoint", "metrics" or "done"
    sample_path: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Share of the planned steps done."""
        return self.step / self.total_steps


@dataclass(frozen=True)
class TrainResult:
    """What a finished run leaves: the EMA generator, its model card (written by rank 0 only;
    None on other ranks), where the files are and the metrics history."""

    generator: nn.Module
    card: ModelCard | None
    out_dir: Path
    history: list[dict[str, float]]


def train(
    config: TrainConfig,
    images: torch.Tensor,
    *,
    out_dir: Path,
    device: torch.device,
    dataset_manifest_hash: str,
    on_progress: Callable[[Progress], None] | None = None,
    resume: bool = False,
    evaluate: Evaluator | None = None,
    evaluate_every: int = 0,
    report_every: int = 10,
) -> TrainResult:
    """Train a GAN on `images` (uint8 (N, 3, R, R)) and export its EMA generator to out_dir.

    Losses are reported every `report_every` steps (each report waits for the device to catch
    up, so not every step on a GPU). With `resume`, continue from out_dir's checkpoint. If
    `on_progress` raises (a cancel, say),
    a checkpoint is written at the last finished step before the exception goes on, so the run
    can resume from exactly there.
    """
    _check_inputs(config, images)
    rank, world = _distributed_rank_and_size()
    per_rank_batch = config.batch_size // world
    if per_rank_batch < 1 or config.batch_size % world:
        raise TrainingError(
            f"batch_size={config.batch_size} does not split evenly over {world} processes"
        )
    state = _initial_state(config, device, rank)
    if resume:
        load_checkpoint(out_dir, state, config=config)
    elif has_checkpoint(out_dir) and rank == 0:
        raise TrainingError(f"{out_dir} already holds a checkpoint; resume it or use a new folder")
    loop = _Loop(config, images, state, device=device, per_rank_batch=per_rank_batch, world=world)
    report = on_progress or (lambda progress: None)

    def checkpoint() -> None:
        if rank == 0:
            save_checkpoint(
                out_dir, state, config=config, dataset_manifest_hash=dataset_manifest_hash
            )

    # The rate is over the steps since the last loss report: what the run does now.
    last_time, last_step, rate = time.perf_counter(), state.step, 0.0
    try:
        while state.step < config.steps:
            losses = loop.step(want_losses=(state.step + 1) % report_every == 0)
            state.step += 1
            if losses:
                now = time.perf_counter()
                rate = (state.step - last_step) * config.batch_size / max(now - last_time, 1e-9)
                last_time, last_step = now, state.step
                report(Progress(state.step, config.steps, losses, rate))
            if rank == 0 and state.step % config.sample_every == 0:
                path = save_grid(
                    loop.ema, loop.sample_latents, out_dir / "samples" / f"{state.step:07d}.png"
                )
                report(Progress(state.step, config.steps, {}, rate, "sample", sample_path=path))
            if evaluate is not None and evaluate_every and state.step % evaluate_every == 0:
                metrics = evaluate(loop.ema, state.step)
                state.history.append({"step": float(state.step), **metrics})
                report(Progress(state.step, config.steps, {}, rate, "metrics", metrics=metrics))
            if state.step % config.checkpoint_every == 0 or state.step == config.steps:
                checkpoint()
                report(Progress(state.step, config.steps, {}, rate, "checkpoint"))
    except torch.cuda.OutOfMemoryError as error:
        raise TrainingError(
            f"out of GPU memory at batch size {config.batch_size} and resolution "
            f"{config.model.resolution}; lower either and resume from the last checkpoint"
        ) from error
    except BaseException:
        if state.step > 0:
            checkpoint()  # the last finished step: a cancelled run resumes from here
        raise

    final_metrics = state.history[-1] if state.history else {}
    card = None
    if rank == 0:
        card = export_model(
            out_dir,
            loop.ema,
            config=config,
            step=state.step,
            dataset_manifest_hash=dataset_manifest_hash,
            metrics={k: v for k, v in final_metrics.items() if k != "step"},
        )
    report(Progress(state.step, config.steps, {}, 0.0, "done"))
    return TrainResult(generator=loop.ema, card=card, out_dir=out_dir, history=state.history)


def _check_inputs(config: TrainConfig, images: torch.Tensor) -> None:
    resolution = config.model.resolution
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise TrainingError(f"images must be uint8 (N, 3, R, R), got {images.dtype} {images.shape}")
    if images.shape[-1] != resolution or images.shape[-2] != resolution:
        raise TrainingError(
            f"the dataset is {images.shape[-1]} px but the model is {resolution} px; "
            "prepare the dataset at the model's resolution"
        )
    if images.shape[0] < MIN_IMAGES:
        raise TrainingError(
            f"the dataset has {images.shape[0]} images; at least {MIN_IMAGES} are needed "
            "(a few hundred give far better results)"
        )


def _channels_last(config: TrainConfig, device: torch.device) -> bool:
    """Channels-last networks and batches: on CUDA, and not under torch.compile, which lays
    convolutions out itself. Mixed with eager channels-last weights, torch 2.11's compiled
    backward asserted a channels-last weight gradient that cuDNN returned contiguous (the first
    transposed convolution's, whose input is 1x1), on an H200."""
    return config.channels_last and device.type == "cuda" and not config.compile


def _distributed_rank_and_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _initial_state(config: TrainConfig, device: torch.device, rank: int) -> TrainingState:
    """Networks, EMA, optimisers and RNGs, all seeded from config.seed (and the rank)."""
    # Seeded construction: the same initial weights on every rank, global RNGs untouched.
    generator = build_generator(config.model, seed=config.seed).to(device)
    discriminator = build_discriminator(config.model, seed=config.seed + 1).to(device)
    if _channels_last(config, device):
        generator = generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        discriminator = discriminator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    betas = (config.beta1, config.beta2)
    # On CUDA the fused Adam: one kernel per update instead of several per parameter group.
    adam = functools.partial(torch.optim.Adam, betas=betas, fused=device.type == "cuda")
    rngs = {
        # Each rank draws its own data and latents; augmentation differs per rank too.
        "data": torch.Generator(device="cpu").manual_seed(config.seed * 1000 + rank + 1),
        "latent": torch.Generator(device=device).manual_seed(config.seed * 1000 + rank + 2),
        "augment": torch.Generator(device=device).manual_seed(config.seed * 1000 + rank + 3),
    }
    return TrainingState(
        step=0,
        generator=generator,
        discriminator=discriminator,
        ema=ema,
        opt_g=adam(generator.parameters(), lr=config.lr_g),
        opt_d=adam(discriminator.parameters(), lr=config.lr_d),
        rngs=rngs,
    )


class _Loop:
    """One training step at a time over a fixed state; kept apart from bookkeeping."""

    def __init__(
        self,
        config: TrainConfig,
        images: torch.Tensor,
        state: TrainingState,
        *,
        device: torch.device,
        per_rank_batch: int,
        world: int,
    ) -> None:
        self.config = config
        self.state = state
        self.device = device
        self.batch = per_rank_batch
        # uint8 is compact (a thousand 256 px images are under 200 MB), so on a GPU the whole
        # set lives there and batches never cross the bus; each is scaled to [-1, 1] on its own.
        self.images = images.to(device) if device.type == "cuda" else images  # (N, 3, R, R)
        self.ema = state.ema
        # The networks each update trains run through DDP (gradients averaged over ranks). The
        # other network of a step runs unwrapped: the generator makes the discriminator's fakes
        # without gradients, and the discriminator judges the generator's fakes with its own
        # parameters frozen, which DDP (expecting every parameter's gradient) would not allow.
        self.generator: nn.Module = state.generator
        self.discriminator: nn.Module = state.discriminator
        self.plain_generator: nn.Module = state.generator
        self.plain_discriminator: nn.Module = state.discriminator
        if world > 1:
            self.generator = DistributedDataParallel(state.generator)
            self.discriminator = DistributedDataParallel(state.discriminator)
        # R1 and the gradient penalty differentiate through a gradient, which compiled modules
        # (AOTAutograd) cannot do: those forward passes always run eagerly, on the same weights.
        self.penalty_discriminator: nn.Module = self.discriminator
        if config.compile and device.type == "cuda":
            self.generator, self.discriminator, self.plain_generator, self.plain_discriminator = (
                cast(nn.Module, torch.compile(module))
                for module in (
                    self.generator,
                    self.discriminator,
                    self.plain_generator,
                    self.plain_discriminator,
                )
            )
        self.amp = config.mixed_precision and device.type == "cuda"
        self.memory_format = (
            torch.channels_last if _channels_last(config, device) else torch.contiguous_format
        )
        seeds = range(config.seed + SAMPLE_SEED_OFFSET, config.seed + SAMPLE_SEED_OFFSET + 16)
        self.sample_latents = latents_for_seeds(seeds, config.model.latent_dim, device)

    def autocast(self) -> AbstractContextManager[object]:
        """bf16 autocast on CUDA; nothing on the CPU (bf16 there is slower and less exact)."""
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()

    def real_batch(self) -> torch.Tensor:
        """A batch of real images in [-1, 1], drawn with replacement."""
        index = torch.randint(
            len(self.images), (self.batch,), generator=self.state.rngs["data"]
        )  # (B,)
        batch = self.images[index.to(self.images.device)].to(self.device)  # (B, 3, R, R) uint8
        batch = batch.float().div_(127.5).sub_(1.0)
        return batch.contiguous(memory_format=self.memory_format)

    def latents(self) -> torch.Tensor:
        """Standard-normal latents (B, latent_dim) from the latent RNG."""
        return torch.randn(
            self.batch,
            self.config.model.latent_dim,
            generator=self.state.rngs["latent"],
            device=self.device,
        )

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """DiffAugment with the checkpointed augmentation RNG."""
        return diff_augment(images, self.config.augment, generator=self.state.rngs["augment"])

    def step(self, *, want_losses: bool) -> dict[str, float]:
        """One discriminator and one generator update; losses as floats when asked for."""
        config, state = self.config, self.state
        d_loss, r1 = self._discriminator_step(state.step)
        g_loss = self._generator_step()
        self._update_ema()
        if not want_losses:
            return {}
        losses = {"loss_d": float(d_loss), "loss_g": float(g_loss)}
        if r1 is not None:
            losses["r1" if config.loss != "wgan-gp" else "gp"] = float(r1)
        for name, value in losses.items():
            if not math.isfinite(value):
                raise TrainingError(
                    f"{name} became {value} at step {state.step + 1}; lower the learning rates "
                    "or resume from an earlier checkpoint"
                )
        return losses

    def _discriminator_step(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        config, state = self.config, self.state
        state.opt_d.zero_grad(set_to_none=True)
        real = self.real_batch()
        with torch.no_grad(), self.autocast():
            fake = self.plain_generator(self.latents())  # (B, 3, R, R)
        with self.autocast():
            real_logits, reconstruction = self.discriminator(
                self.augment(real), reconstruct=True, generator=state.rngs["augment"]
            )
            fake_logits, _ = self.discriminator(self.augment(fake.float()))
            loss = discriminator_loss(config.loss, real_logits.float(), fake_logits.float())
            loss = loss + reconstruction.float()
        penalty: torch.Tensor | None = None
        if config.loss == "wgan-gp":
            penalty = gradient_penalty(
                lambda x: self.penalty_discriminator(x)[0].float(),
                self.augment(real),
                self.augment(fake.float()),
                generator=state.rngs["augment"],
            )
            loss = loss + config.gp_weight * penalty
        elif config.r1_gamma > 0 and step % config.r1_interval == 0:
            # Lazy R1 (StyleGAN2): every r1_interval steps, scaled up to keep its average weight.
            real_for_r1 = real.detach().requires_grad_(True)
            logits, _ = self.penalty_discriminator(self.augment(real_for_r1))
            penalty = r1_penalty(real_for_r1, logits.float())
            loss = loss + penalty * (config.r1_gamma / 2 * config.r1_interval)
        loss.backward()
        state.opt_d.step()
        return loss.detach(), None if penalty is None else penalty.detach()

    def _generator_step(self) -> torch.Tensor:
        state = self.state
        state.opt_g.zero_grad(set_to_none=True)
        state.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                fake = self.generator(self.latents())
                fake_logits, _ = self.plain_discriminator(self.augment(fake.float()))
                loss = generator_loss(self.config.loss, fake_logits.float())
            loss.backward()  # type: ignore[no-untyped-call]
        finally:
            state.discriminator.requires_grad_(True)
        state.opt_g.step()
        return loss.detach()

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Ramped: early on the average follows the generator closely (decay (1+t)/(10+t)),
        # else at 0.999 the EMA would still be mostly the random init after hundreds of steps.
        step = self.state.step
        weight = 1.0 - min(self.config.ema_decay, (1 + step) / (10 + step))
        params = list(_parameters(self.state.generator))
        ema_params = list(_parameters(self.ema))
        torch._foreach_lerp_(ema_params, params, weight)
        # BatchNorm statistics follow the live generator.
        torch._foreach_copy_(list(self.ema.buffers()), list(self.state.generator.buffers()))


def _parameters(module: nn.Module) -> Iterator[torch.Tensor]:
    return (p.data for p in module.parameters())
