"""`python -m gan`: prepare a dataset, train, generate and evaluate from the command line.

    python -m gan prepare SRC --out DATASET --resolution 64
    python -m gan train DATASET --out RUN [--steps N] [--arch dcgan|fastgan] [--resume]
    python -m gan generate RUN --seeds 0-15 --out DIR [--truncation 0.7]
    python -m gan evaluate RUN DATASET        (prints JSON with kid and fid)

Under torchrun, `train` runs data-parallel over the launched processes (NCCL on GPUs, gloo on
CPUs). This module is the program's entry point, so it alone reads torchrun's environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from gan.checkpoint import read_checkpoint_meta
from gan.config import ARCHITECTURES, LOSSES, RESOLUTIONS, ConfigError, ModelConfig, TrainConfig
from gan.data import iter_source, load_prepared, prepare_dataset
from gan.errors import GanError
from gan.generate import generate, latents_for_seeds, load_generator, parse_seeds, png_bytes
from gan.train import Progress, train


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors print a plain message and exit with status 2."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args))
    except (GanError, ConfigError, ValueError, FileNotFoundError) as error:
        print(f"gan {args.command_name}: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="validate, deduplicate and crop a portfolio")
    prepare.add_argument("source", type=Path, help="a folder or a .zip of JPEG/PNG/WebP images")
    prepare.add_argument("--out", type=Path, required=True)
    prepare.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=64)
    prepare.set_defaults(command=_prepare, command_name="prepare")

    run = commands.add_parser("train", help="train a GAN on a prepared dataset")
    run.add_argument("dataset", type=Path)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--steps", type=int, help="total steps (with --resume: extend to this)")
    run.add_argument("--arch", choices=ARCHITECTURES, default="fastgan")
    run.add_argument("--loss", choices=LOSSES, default="nonsaturating")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--width", type=int, default=None, help="base channel count")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--no-augment", action="store_true", help="turn DiffAugment off")
    run.add_argument("--compile", action="store_true", help="torch.compile (CUDA; experimental)")
    run.add_argument("--sample-every", type=int, default=500)
    run.add_argument("--checkpoint-every", type=int, default=500)
    run.add_argument(
        "--evaluate-every", type=int, default=0, help="KID/FID every N steps (0: never)"
    )
    run.add_argument("--resume", action="store_true", help="continue from RUN's checkpoint")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.set_defaults(command=_train, command_name="train")

    make = commands.add_parser("generate", help="generate images from a trained run")
    make.add_argument("run", type=Path)
    make.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 3,7,42")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--truncation", type=float, default=1.0)
    make.add_argument("--device", default="auto")
    make.set_defaults(command=_generate, command_name="generate")

    judge = commands.add_parser("evaluate", help="KID, FID and a two-sample test (JSON)")
    judge.add_argument("run", type=Path)
    judge.add_argument("dataset", type=Path)
    judge.add_argument("--samples", type=int, default=None, help="default: as many as real")
    judge.add_argument("--device", default="auto")
    judge.set_defaults(command=_evaluate, command_name="evaluate")
    return parser


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return device


def _prepare(args: argparse.Namespace) -> int:
    bar = tqdm(desc="prepare", unit="img", file=sys.stderr)

    def progress(done: int, total: int | None, name: str) -> None:
        bar.total = total
        bar.update(done - bar.n)
        bar.set_postfix_str(name[-40:])

    try:
        report = prepare_dataset(
            iter_source(args.source), args.out, resolution=args.resolution, on_progress=progress
        )
    finally:
        bar.close()
    for rejection in report.rejections:
        print(f"refused {rejection.name}: {rejection.reason}", file=sys.stderr)
    print(
        json.dumps(
            {
                "out": str(report.out_dir),
                "resolution": report.resolution,
                "accepted": len(report.accepted),
                "refused": len(report.rejections),
                "manifest_hash": report.manifest_hash,
            }
        )
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # launched by torchrun
    device = _device(args.device)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        dataset = load_prepared(args.dataset)
        config = _train_config(args, dataset.resolution)
        rank = dist.get_rank() if distributed else 0
        bar = tqdm(
            total=config.steps, desc="train", unit="step", file=sys.stderr, disable=rank != 0
        )

        def progress(update: Progress) -> None:
            bar.update(update.step - bar.n)
            if update.losses:
                shown = {k: f"{v:.3f}" for k, v in update.losses.items()}
                bar.set_postfix(**shown, img_s=f"{update.images_per_second:.0f}")
            if update.sample_path is not None:
                bar.write(f"samples: {update.sample_path}", file=sys.stderr)
            if update.metrics:
                metrics = ", ".join(f"{k} {v:.4f}" for k, v in update.metrics.items())
                bar.write(f"step {update.step}: {metrics}", file=sys.stderr)

        evaluator = None
        if args.evaluate_every and rank == 0:
            from gan.metrics import InceptionFeatures, TrainingEvaluator

            evaluator = TrainingEvaluator(
                dataset.images,
                extractor=InceptionFeatures(device=device),
                latent_dim=config.model.latent_dim,
                cache_path=args.dataset / "inception_features.safetensors",
                cache_key=dataset.manifest_hash,
            )
        try:
            result = train(
                config,
                dataset.images,
                out_dir=args.out,
                device=device,
                dataset_manifest_hash=dataset.manifest_hash,
                on_progress=progress,
                resume=args.resume,
                evaluate=evaluator,
                evaluate_every=args.evaluate_every,
            )
        finally:
            bar.close()
        if result.card is not None:
            print(json.dumps(result.card.to_dict()))
        return 0
    finally:
        if distributed:
            dist.destroy_process_group()


def _train_config(args: argparse.Namespace, resolution: int) -> TrainConfig:
    """The run's config: from the checkpoint when resuming (steps may grow), else the flags."""
    if args.resume:
        saved = TrainConfig.from_dict(read_checkpoint_meta(args.out)["config"])
        return dataclasses.replace(saved, steps=args.steps or saved.steps)
    model = ModelConfig(
        arch=args.arch,
        resolution=resolution,
        latent_dim=100 if args.arch == "dcgan" else 128,
        width=args.width or 64,
    )
    return TrainConfig(
        model=model,
        steps=args.steps or 2000,
        batch_size=args.batch_size,
        loss=args.loss,
        augment=() if args.no_augment else TrainConfig.augment,
        compile=args.compile,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )


def _generate(args: argparse.Namespace) -> int:
    seeds = parse_seeds(args.seeds)
    device = _device(args.device)
    generator, card = load_generator(args.run, device)
    latents = latents_for_seeds(seeds, card.config.model.latent_dim, device)
    images = generate(generator, latents, truncation=args.truncation)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, image in zip(tqdm(seeds, desc="write", file=sys.stderr), images, strict=True):
        (args.out / f"seed{seed:06d}.png").write_bytes(png_bytes(image))
    print(json.dumps({"out": str(args.out), "images": len(seeds)}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from gan.metrics import InceptionFeatures, evaluate

    device = _device(args.device)
    dataset = load_prepared(args.dataset)
    generator, card = load_generator(args.run, device)
    count = args.samples or len(dataset.images)
    latents = latents_for_seeds(range(count), card.config.model.latent_dim, device)
    fakes = generate(generator, latents)
    report = evaluate(
        dataset.images,
        fakes,
        extractor=InceptionFeatures(device=device),
        real_stats_cache=args.dataset / "inception_features.safetensors",
        cache_key=dataset.manifest_hash,
    )
    print(json.dumps(dataclasses.asdict(report)))
    return 0
