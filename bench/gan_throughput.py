"""Training and generation throughput of `gan`, against a plain fp32 eager DCGAN loop.

    .venv/bin/python bench/gan_throughput.py --device cpu --resolutions 64,128 --json out.json
    .venv/bin/python bench/gan_throughput.py --device cuda --resolutions 64,128,256 [--compile]
    .venv/bin/python bench/gan_throughput.py --device cuda --resolutions 256 --compiled-only
    .venv/bin/python bench/gan_throughput.py --device cuda --gen-variants

For each resolution, in one process and one after another:

- reference train: the classic PyTorch DCGAN example's loop (pytorch/examples, dcgan/main.py)
  on the very same DCGAN networks (`gan.networks`, arch="dcgan"): BCE-with-logits, Adam(2e-4,
  betas (0.5, 0.999)), one D step on a real and a fake batch, then one G step reusing that fake;
  fp32, eager, no augmentation, R1, EMA, AMP or channels-last; the data already on the device
  as float.
- ours dcgan / ours fastgan train: `gan.train.train` with its defaults (DiffAugment, lazy R1,
  EMA; bf16 autocast and channels-last on CUDA only) and the nonsaturating loss, sample and
  checkpoint intervals beyond the measured steps.
- generation: the reference's plain `G(z)` under no_grad (output left on the device), and
  `gan.generate.generate` (eval mode, uint8 output copied to the CPU) for both architectures.

Images/s counts real images consumed per second (training) or images made (generation).

On a CPU (shared with other processes here) each of ours is *paired* with the reference: a
reference step (or generation batch) runs after every one of ours, both are timed, and the
ratio is of the medians, so bursts of outside load hit both alike. On CUDA (a dedicated device)
they run one after another, the reference before and after ours; ratios are to the mean of the
two reference measurements of the same kind at the same resolution.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan.config import ModelConfig, TrainConfig
from gan.generate import CUDA_PRECISION, Precision, generate
from gan.networks import build_discriminator, build_generator
from gan.train import Progress, train

NEVER = 10**9  # sample/checkpoint interval and step count that a measurement never reaches
DATASET_SIZE = 512  # synthetic uint8 images: throughput does not depend on their content


@dataclass
class Row:
    resolution: int
    what: str
    kind: str  # "train" or "generate"
    images_per_second: float
    batch_size: int
    steps: int
    seconds: float
    ratio: float | None = None
    note: str = ""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(arch: str, resolution: int) -> ModelConfig:
    # The CLI's choices: DCGAN keeps the classic 100-d latent, FastGAN 128; width 64 for both.
    return ModelConfig(
        arch=arch,  # type: ignore[arg-type]
        resolution=resolution,
        latent_dim=100 if arch == "dcgan" else 128,
        width=64,
    )


# --- reference --------------------------------------------------------------------------------


def reference_trainer(
    resolution: int, images: torch.Tensor, *, batch: int, device: torch.device
) -> Callable[[], None]:
    """One step of the classic DCGAN example's loop on gan's DCGAN networks, as a closure."""
    config = _model("dcgan", resolution)
    net_g = build_generator(config, seed=0).to(device).train()
    net_d = build_discriminator(config, seed=1).to(device).train()
    data = images.to(device).float().div_(127.5).sub_(1.0)  # (N, 3, R, R) on the device
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)
    order = torch.randperm(len(data), device=device)
    cursor = 0

    def step() -> None:
        nonlocal cursor, order
        if cursor + batch > len(data):
            order, cursor = torch.randperm(len(data), device=device), 0
        real = data[order[cursor : cursor + batch]]
        cursor += batch
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        net_d.zero_grad()
        logits_real, _ = net_d(real)
        criterion(logits_real, ones).backward()
        noise = torch.randn(batch, config.latent_dim, device=device)
        fake = net_g(noise)
        logits_fake, _ = net_d(fake.detach())
        criterion(logits_fake, zeros).backward()
        opt_d.step()
        # (2) G: maximise log D(G(z)), on the same fake batch
        net_g.zero_grad()
        logits, _ = net_d(fake)
        criterion(logits, ones).backward()
        opt_g.step()

    if device.type != "cuda":
        return step

    def cuda_step() -> None:
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True  # as the example sets it; ours leaves it off
        try:
            step()
        finally:
            torch.backends.cudnn.benchmark = before

    return cuda_step


def reference_train(
    resolution: int, images: torch.Tensor, *, batch: int, seconds: float, device: torch.device
) -> Row:
    """The reference loop timed on its own (CUDA): images/s of real images."""
    step = reference_trainer(resolution, images, batch=batch, device=device)
    steps, elapsed = _timed(step, device=device, seconds=seconds, warmup=3)
    return Row(
        resolution, "reference dcgan", "train", steps * batch / elapsed, batch, steps, elapsed
    )


def reference_generator(resolution: int, *, batch: int, device: torch.device) -> Callable[[], None]:
    """Plain G(z) of the same DCGAN, eval mode, no_grad, fp32; output left on the device."""
    config = _model("dcgan", resolution)
    net_g = build_generator(config, seed=0).to(device).eval()
    latents = torch.randn(batch, config.latent_dim, device=device)

    def step() -> None:
        with torch.no_grad():
            net_g(latents)

    return step


def ours_generator(
    arch: str,
    resolution: int,
    *,
    batch: int,
    device: torch.device,
    variant: GenVariant = (None, False),
) -> Callable[[], None]:
    """`gan.generate.generate` as `load_generator` sets it up: eval mode, uint8 on the CPU;
    `variant` (precision, channels-last) tries other settings (None: the library's default)."""
    config = _model(arch, resolution)
    generator = build_generator(config, seed=0).to(device).eval().requires_grad_(False)
    precision, channels_last = variant
    if channels_last:
        generator = generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    latents = torch.randn(batch, config.latent_dim, device=device)

    def step() -> None:
        generate(generator, latents, batch_size=batch, precision=precision)

    return step


GenVariant = tuple[Precision | None, bool]  # (precision, channels-last)
GEN_VARIANTS: list[GenVariant] = [("bf16", False), ("bf16", True), ("fp32", False), ("fp32", True)]


def _variant_name(variant: GenVariant) -> str:
    precision, channels_last = variant
    if precision is None and not channels_last:
        return ""
    return f" {precision or CUDA_PRECISION}" + (" channels-last" if channels_last else "")


REF_GEN = "reference dcgan G(z)"
REF_GEN_NOTE = "float output left on the device"
OURS_GEN_NOTE = "generate(): uint8, copied to the CPU"


def generation_timed(
    name: str,
    step: Callable[[], None],
    resolution: int,
    *,
    batch: int,
    seconds: float,
    device: torch.device,
    note: str,
) -> Row:
    """One generator timed on its own (CUDA)."""
    steps, elapsed = _timed(step, device=device, seconds=seconds, warmup=2)
    return Row(
        resolution, name, "generate", steps * batch / elapsed, batch, steps, elapsed, note=note
    )


def generation_paired(
    arch: str, resolution: int, *, batch: int, seconds: float, device: torch.device
) -> tuple[Row, Row]:
    """Ours and the reference generator alternating batch by batch (CPU); medians."""
    ours_step = ours_generator(arch, resolution, batch=batch, device=device)
    ref_step = reference_generator(resolution, batch=batch, device=device)
    for _ in range(2):
        ours_step()
        ref_step()
    ours: list[float] = []
    ref: list[float] = []
    while sum(ours) + sum(ref) < seconds or len(ours) < 3:
        for step, times in ((ours_step, ours), (ref_step, ref)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return (
        Row(
            resolution,
            f"ours {arch} generate()",
            "generate",
            batch / statistics.median(ours),
            batch,
            len(ours),
            sum(ours),
            note=f"{OURS_GEN_NOTE}; median of {len(ours)} batches",
        ),
        Row(
            resolution,
            f"{REF_GEN} (paired with ours {arch})",
            "generate",
            batch / statistics.median(ref),
            batch,
            len(ref),
            sum(ref),
            note=f"{REF_GEN_NOTE}; median of {len(ref)} batches",
        ),
    )


def _timed(
    step: Callable[[], None], *, device: torch.device, seconds: float, warmup: int
) -> tuple[int, float]:
    """Run `warmup` untimed calls, then calls until `seconds` have passed (at least 2)."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    steps = 0
    while True:
        step()
        steps += 1
        if steps >= 2 and (steps % 4 == 0 or device.type != "cuda"):
            _sync(device)
            if time.perf_counter() - start >= seconds:
                break
    _sync(device)
    return steps, time.perf_counter() - start


# --- ours -------------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised from on_progress to end a measured training run."""


def ours_train(
    arch: str,
    resolution: int,
    images: torch.Tensor,
    *,
    batch: int,
    seconds: float,
    device: torch.device,
    compile_: bool,
    warmup_steps: int,
    reference_step: Callable[[], None] | None = None,
) -> tuple[Row, Row | None]:
    """Steady-state images/s of `gan.train.train` with its defaults (and, on CPU, the paired
    reference's).

    CPU (synchronous): a one-step run first warms the kernels up (that step is an R1 step, so
    it runs every kernel a later step does); then a fresh run is timed step by step from its
    reports (report_every=1 costs nothing on a CPU), and after each of its steps one
    `reference_step` runs and is timed too, so both see the same load from other processes.
    Medians are used. Lazy R1 makes every r1_interval-th step dearer; the window holds few
    steps, so our time per step is the R1-weighted ((k-1) * median plain + mean R1) / k, with
    k = r1_interval.
    CUDA: one run, reports every r1_interval steps (each report syncs); the first
    `warmup_steps` are skipped and the window spans whole r1_interval blocks.
    """
    base = TrainConfig(
        model=_model(arch, resolution),
        steps=NEVER,
        batch_size=batch,
        loss="nonsaturating",
        compile=compile_,
        sample_every=NEVER,
        checkpoint_every=NEVER,
    )
    k = base.r1_interval
    with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
        if device.type != "cuda":
            assert reference_step is not None
            _run(dataclasses.replace(base, steps=1), images, Path(tmp) / "warm", device, None, 1)
            for _ in range(2):
                reference_step()
            ours: dict[int, float] = {}
            ref: list[float] = []
            last: list[float] = []

            def on_step(progress: Progress) -> None:
                now = time.perf_counter()
                if progress.event != "step":
                    return
                if progress.step == 1:
                    # The trainer's rate at step 1 is batch / (time of the first step).
                    ours[1] = batch / progress.images_per_second
                else:
                    ours[progress.step] = now - last[0]
                reference_step()
                done = time.perf_counter()
                ref.append(done - now)
                last[:] = [done]
                plain = [t for s, t in ours.items() if (s - 1) % k]
                if sum(ours.values()) + sum(ref) >= seconds and len(plain) >= 3:
                    raise _Stop

            _run(base, images, Path(tmp) / "run", device, on_step, 1)
            r1 = [t for s, t in ours.items() if (s - 1) % k == 0]
            plain = [t for s, t in ours.items() if (s - 1) % k]
            per_step = ((k - 1) * statistics.median(plain) + statistics.mean(r1)) / k
            note = (
                f"median plain step {statistics.median(plain):.3g} s (n={len(plain)}), "
                f"R1 step {statistics.mean(r1):.3g} s (n={len(r1)}), weighted 1 in {k}"
            )
            ours_row = Row(
                resolution,
                f"ours {arch}",
                "train",
                batch / per_step,
                batch,
                len(ours),
                sum(ours.values()),
                note=note,
            )
            ref_row = Row(
                resolution,
                f"reference dcgan (paired with ours {arch})",
                "train",
                batch / statistics.median(ref),
                batch,
                len(ref),
                sum(ref),
                note=f"median step {statistics.median(ref):.3g} s (n={len(ref)})",
            )
            return ours_row, ref_row

        marks: list[tuple[int, float]] = []
        skip = max(warmup_steps, k)

        def on_report(progress: Progress) -> None:
            if progress.event != "step":
                return
            now = time.perf_counter()
            if progress.step >= skip:
                marks.append((progress.step, now))
                steps, elapsed = marks[-1][0] - marks[0][0], now - marks[0][1]
                if elapsed >= seconds and steps >= 2 * k:
                    raise _Stop

        _run(base, images, Path(tmp) / "run", device, on_report, k)
        steps, elapsed = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
        note = f"after {marks[0][0]} warm-up steps" + (", torch.compile" if compile_ else "")
        row = Row(
            resolution,
            f"ours {arch}" + (" compiled" if compile_ else ""),
            "train",
            steps * batch / elapsed,
            batch,
            steps,
            elapsed,
            note=note,
        )
        return row, None


def _run(
    config: TrainConfig,
    images: torch.Tensor,
    out_dir: Path,
    device: torch.device,
    on_progress: Callable[[Progress], None] | None,
    report_every: int,
) -> None:
    # On _Stop the trainer writes a checkpoint on its way out: after the timed window.
    with contextlib.suppress(_Stop):
        train(
            config,
            images,
            out_dir=out_dir,
            device=device,
            dataset_manifest_hash="0" * 64,
            on_progress=on_progress,
            report_every=report_every,
        )


# --- driver -----------------------------------------------------------------------------------


def measure(resolution: int, args: argparse.Namespace, device: torch.device) -> list[Row]:
    """Every row for one resolution, each with its ratio to the reference of its kind."""
    generator = torch.Generator().manual_seed(resolution)
    images = torch.randint(
        0, 256, (DATASET_SIZE, 3, resolution, resolution), dtype=torch.uint8, generator=generator
    )
    batch, gen_batch, seconds = args.batch_size, args.gen_batch, args.seconds
    rows: list[Row] = []

    def log(row: Row | None) -> None:
        if row is None:
            return
        rows.append(row)
        print(
            f"  {resolution:>4} px  {row.what:<42} {row.images_per_second:9.2f} images/s "
            f"({row.steps} steps, {row.seconds:.1f} s) {row.note}",
            file=sys.stderr,
            flush=True,
        )

    torch.manual_seed(0)
    if device.type != "cuda":
        # Paired: each of ours against reference steps interleaved with its own steps.
        for arch in ("dcgan", "fastgan"):
            ref_step = reference_trainer(resolution, images, batch=batch, device=device)
            ours, ref = ours_train(
                arch,
                resolution,
                images,
                batch=batch,
                seconds=seconds,
                device=device,
                compile_=False,
                warmup_steps=0,
                reference_step=ref_step,
            )
            assert ref is not None
            ours.ratio, ref.ratio = ours.images_per_second / ref.images_per_second, 1.0
            log(ref)
            log(ours)
        for arch in ("dcgan", "fastgan"):
            ours, ref = generation_paired(
                arch, resolution, batch=gen_batch, seconds=seconds, device=device
            )
            ours.ratio, ref.ratio = ours.images_per_second / ref.images_per_second, 1.0
            log(ref)
            log(ours)
        return rows

    # CUDA: measured one after another; the reference before and after ours, ratios to the mean.
    ref_train = [reference_train(resolution, images, batch=batch, seconds=seconds, device=device)]
    log(ref_train[0])
    ours_rows = []
    variants = [True] if args.compiled_only else [False, True] if args.compile else [False]
    for compile_ in variants:
        for arch in ("dcgan", "fastgan"):
            row, _ = ours_train(
                arch,
                resolution,
                images,
                batch=batch,
                seconds=seconds,
                device=device,
                compile_=compile_,
                warmup_steps=max(args.warmup_steps, 64) if compile_ else args.warmup_steps,
            )
            ours_rows.append(row)
            log(row)
    ref_train.append(
        reference_train(resolution, images, batch=batch, seconds=seconds, device=device)
    )
    log(ref_train[1])
    ref_step = reference_generator(resolution, batch=gen_batch, device=device)
    ref_gen = [
        generation_timed(
            REF_GEN,
            ref_step,
            resolution,
            batch=gen_batch,
            seconds=seconds,
            device=device,
            note=REF_GEN_NOTE,
        )
    ]
    log(ref_gen[0])
    gen_rows = []
    gen_variants: list[GenVariant] = GEN_VARIANTS if args.gen_variants else [(None, False)]
    for arch, variant in itertools.product(("dcgan", "fastgan"), gen_variants):
        step = ours_generator(arch, resolution, batch=gen_batch, device=device, variant=variant)
        row = generation_timed(
            f"ours {arch} generate(){_variant_name(variant)}",
            step,
            resolution,
            batch=gen_batch,
            seconds=seconds,
            device=device,
            note=OURS_GEN_NOTE,
        )
        gen_rows.append(row)
        log(row)
    ref_gen.append(
        generation_timed(
            REF_GEN,
            ref_step,
            resolution,
            batch=gen_batch,
            seconds=seconds,
            device=device,
            note=REF_GEN_NOTE,
        )
    )
    log(ref_gen[1])
    train_base = statistics.mean(r.images_per_second for r in ref_train)
    gen_base = statistics.mean(r.images_per_second for r in ref_gen)
    for pair in (ref_train, ref_gen):
        pair[0].what += " (before)"
        pair[1].what += " (after)"
    for row in ref_train + ours_rows:
        row.ratio = row.images_per_second / train_base
    for row in ref_gen + gen_rows:
        row.ratio = row.images_per_second / gen_base
    return ref_train + ours_rows + ref_gen + gen_rows


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (
        f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    parser.add_argument(
        "--resolutions",
        default=None,
        help="comma-separated; default 64,128 on CPU, 64,128,256 on CUDA",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="per measurement; default 10 (CPU), 20 (CUDA)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    parser.add_argument(
        "--gen-batch", type=int, default=None, help="generation batch; default 64 (CPU), 256 (CUDA)"
    )
    parser.add_argument("--warmup-steps", type=int, default=32, help="CUDA training warm-up")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (CUDA)")
    parser.add_argument(
        "--compiled-only",
        action="store_true",
        help="time our trainers with torch.compile only, not eager too (CUDA)",
    )
    parser.add_argument(
        "--gen-variants",
        action="store_true",
        help="time generate() in bf16 and fp32, with and without channels-last (CUDA)",
    )
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available here", file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    resolutions = [
        int(r) for r in (args.resolutions or ("64,128,256" if cuda else "64,128")).split(",")
    ]
    args.seconds = args.seconds or (20.0 if cuda else 10.0)
    args.gen_batch = args.gen_batch or (256 if cuda else 64)

    started = time.perf_counter()
    print(f"gan throughput on {_machine(device)}", file=sys.stderr)
    rows: list[Row] = []
    for resolution in resolutions:
        rows += measure(resolution, args, device)
    total = time.perf_counter() - started

    print(
        f"\nMachine: {_machine(device)}; {args.seconds:g} s per measurement; "
        f"train batch {args.batch_size}, generation batch {args.gen_batch}; "
        f"total {total:.0f} s.\n"
    )
    print("| px | what | kind | images/s | ratio to reference | note |")
    print("| ---: | --- | --- | ---: | ---: | --- |")
    for row in rows:
        print(
            f"| {row.resolution} | {row.what} | {row.kind} | {row.images_per_second:.1f} | "
            f"{row.ratio:.2f}x | {row.note} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": _machine(device),
                    "device": str(device),
                    "seconds": args.seconds,
                    "batch_size": args.batch_size,
                    "gen_batch": args.gen_batch,
                    "total_seconds": total,
                    "rows": [row.__dict__ for row in rows],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
