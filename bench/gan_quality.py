"""Sample quality after a fixed budget: KID/FID curve of one artist's paintings, one architecture.

    .venv/bin/python bench/gan_quality.py --artist katsushika_hokusai --resolution 64 \
        --minutes 10 --arch fastgan --eval-every-seconds 60 --out var/bench/q-fastgan

Prepares `/work/shared/data/paintings/<artist>/` with `gan.data`, then trains with
`gan.train.train` (its defaults; batch 16) for a fixed training wall-clock budget (`--minutes`,
time spent evaluating excluded) or a fixed number of steps (`--steps`). Every
`--eval-every-seconds` of training (or `--eval-every-steps`) it generates fixed-seed fakes from
the EMA generator, which is what a run exports, and scores them with `gan.metrics.evaluate`
(KID, FID, 1-NN two-sample test; Inception on the same device). With `--live` (default on) it
also scores the live, non-averaged generator (in eval mode) the same way.

Baselines measured in the same run:
- step 0: the untrained generator (the same seeded initial weights the trainer starts from),
  i.e. the KID of noise; "leaves noise behind" means KID falls clearly below this;
- the floor: KID/FID between two random halves of the real images.

Writes to --out: `dataset/` (prepared), `run/` (the trainer's checkpoint and `samples/*.png`),
`grids/<step>.png` (16 fixed latents, the trainer's sample seeds, at every evaluation),
`kid_curve.csv`, `kid_curve.svg` and `summary.json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch
from torch import nn

import gan.train as gan_train
from gan.config import ModelConfig, TrainConfig
from gan.data import iter_source, load_prepared, prepare_dataset
from gan.generate import SAMPLE_SEED_OFFSET, generate, latents_for_seeds, save_grid
from gan.metrics import FeatureStats, InceptionFeatures, evaluate, fid, kid
from gan.networks import build_generator

PAINTINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "paintings"  # --paintings
NEVER = 10**9
FAKE_SEED_BASE = 1_000_000  # fakes for the metrics use seeds from here: not the grid's seeds


class _BudgetSpent(Exception):
    """Raised from the evaluation hook once the training budget is spent."""


def _paintings(paintings: Path, artist: str) -> Path:
    folder = paintings / artist
    if not paintings.is_dir():
        raise SystemExit(
            f"gan_quality: the paintings folder {paintings} is missing; this benchmark needs "
            "the shared data set (/work/shared/data/paintings/<artist>/) or --paintings"
        )
    if not folder.is_dir():
        known = ", ".join(sorted(p.name for p in paintings.iterdir() if p.is_dir()))
        raise SystemExit(f"gan_quality: no artist folder {folder}; choose one of: {known}")
    return folder


def _svg(rows: list[dict[str, float]], floor: float, path: Path, title: str) -> None:
    """A hand-written SVG line plot of KID against training minutes (no plotting library)."""
    width, height, left, right, top, bottom = 640, 360, 70, 20, 40, 50
    xs = [r["train_seconds"] / 60 for r in rows]
    series = [("EMA generator", "kid_mean", "#1f77b4")]
    if any("live_kid_mean" in r for r in rows):
        series.append(("live generator", "live_kid_mean", "#d62728"))
    values = [r[key] for _, key, _ in series for r in rows if key in r] + [floor, 0.0]
    y_max = max(values) * 1.05 or 1.0
    y_min = min([*values, 0.0])
    x_max = max(xs) or 1.0

    def px(x: float) -> float:
        return left + (width - left - right) * x / x_max

    def py(y: float) -> float:
        return top + (height - top - bottom) * (1 - (y - y_min) / (y_max - y_min))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{left}" y1="{py(y_min)}" x2="{width - right}" y2="{py(y_min)}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">training minutes</text>',
        f'<text x="16" y="{height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {height / 2})">KID</text>',
    ]
    for i in range(6):
        y = y_min + (y_max - y_min) * i / 5
        out.append(
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.3f}</text>'
            f'<line x1="{left - 3}" y1="{py(y):.1f}" x2="{left}" y2="{py(y):.1f}" stroke="black"/>'
        )
        x = x_max * i / 5
        out.append(
            f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:.1f}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{py(floor):.1f}" x2="{width - right}" y2="{py(floor):.1f}" '
        'stroke="gray" stroke-dasharray="4 3"/>'
        f'<text x="{width - right - 4}" y="{py(floor) - 4:.1f}" text-anchor="end" fill="gray">'
        "real vs real halves (floor)</text>"
    )
    for index, (name, key, colour) in enumerate(series):
        points = " ".join(
            f"{px(x):.1f},{py(r[key]):.1f}" for x, r in zip(xs, rows, strict=True) if key in r
        )
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, r in zip(xs, rows, strict=True):
            if key in r:
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(r[key]):.1f}" r="3" fill="{colour}"/>'
                )
        out.append(
            f'<text x="{width - right - 4}" y="{top + 14 + 16 * index}" text-anchor="end" '
            f'fill="{colour}">{name}</text>'
        )
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artist", default="katsushika_hokusai")
    parser.add_argument("--paintings", type=Path, default=PAINTINGS, help="artist folders here")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--arch", choices=("fastgan", "dcgan"), default="fastgan")
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget")
    parser.add_argument("--steps", type=int, help="a fixed step budget instead of --minutes")
    parser.add_argument("--eval-every-seconds", type=float, default=60.0)
    parser.add_argument("--eval-every-steps", type=int, help="with --steps (default steps/10)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--fakes", type=int, help="fakes per evaluation (default: as many as real)")
    parser.add_argument("--sample-every", type=int, default=250, help="trainer's grid interval")
    parser.add_argument("--no-live", action="store_true", help="score the EMA generator only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gan_quality: --device cuda but no CUDA device is available here")
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"gan_quality: {args.out} is not empty; give a new folder")
    source = _paintings(args.paintings, args.artist)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grids").mkdir()

    # --- data and the fixed measuring apparatus ---------------------------------------------
    report = prepare_dataset(iter_source(source), args.out / "dataset", resolution=args.resolution)
    dataset = load_prepared(args.out / "dataset")
    reals = dataset.images
    n_real = len(reals)
    n_fake = args.fakes or n_real
    print(
        f"{args.artist}: {n_real} images at {args.resolution} px "
        f"({len(report.rejections)} refused); {n_fake} fakes per evaluation",
        file=sys.stderr,
    )
    extractor = InceptionFeatures(device=device)
    cache = args.out / "dataset" / "inception_features.safetensors"
    started = time.perf_counter()
    real_features = extractor(reals)
    inception_rate = n_real / (time.perf_counter() - started)
    halves = torch.randperm(n_real, generator=torch.Generator().manual_seed(args.seed))
    half_a, half_b = real_features[halves[: n_real // 2]], real_features[halves[n_real // 2 :]]
    floor_kid = kid(half_a, half_b, seed=args.seed)
    floor_fid = fid(FeatureStats.from_features(half_a), FeatureStats.from_features(half_b))
    print(
        f"floor (real vs real halves, {len(half_a)}/{len(half_b)}): KID {floor_kid.mean:.4f} "
        f"+- {floor_kid.std:.4f}, FID {floor_fid:.1f}; Inception {inception_rate:.1f} images/s",
        file=sys.stderr,
    )

    model = ModelConfig(
        arch=args.arch,
        resolution=args.resolution,
        latent_dim=100 if args.arch == "dcgan" else 128,
        width=args.width,
    )
    config = TrainConfig(
        model=model,
        steps=args.steps or NEVER,
        batch_size=args.batch_size,
        sample_every=args.sample_every,
        checkpoint_every=NEVER,
        seed=args.seed,
    )
    fake_latents = latents_for_seeds(
        range(FAKE_SEED_BASE, FAKE_SEED_BASE + n_fake), model.latent_dim, device
    )
    grid_latents = latents_for_seeds(
        range(args.seed + SAMPLE_SEED_OFFSET, args.seed + SAMPLE_SEED_OFFSET + 16),
        model.latent_dim,
        device,
    )

    def score(generator: nn.Module) -> dict[str, float]:
        quality = evaluate(
            reals,
            generate(generator, fake_latents),
            extractor=extractor,
            real_stats_cache=cache,
            cache_key=dataset.manifest_hash,
            seed=args.seed,
        )
        return {
            "kid_mean": quality.kid_mean,
            "kid_std": quality.kid_std,
            "fid": quality.fid,
            "c2st_accuracy": quality.c2st_accuracy,
        }

    # The trainer builds its live generator through gan.train.build_generator; keep a reference
    # to it (nothing else changes) so that it can be scored next to the EMA copy.
    live: list[nn.Module] = []
    want_live = not args.no_live
    if want_live:
        original_build = gan_train.build_generator

        def capturing_build(config: ModelConfig, *, seed: int | None = None) -> nn.Module:
            generator = original_build(config, seed=seed)
            live.append(generator)
            return generator

        gan_train.build_generator = capturing_build  # type: ignore[assignment]

    rows: list[dict[str, float]] = []
    clock = {"start": 0.0, "eval": 0.0, "next": 0.0}

    def record(step: int, ema: nn.Module, train_seconds: float) -> dict[str, float]:
        eval_started = time.perf_counter()
        row = {
            "step": float(step),
            "train_seconds": train_seconds,
            "images_seen": float(step * args.batch_size),
            **score(ema),
        }
        if want_live and live:
            row.update({f"live_{k}": v for k, v in score(live[-1]).items()})
        save_grid(ema, grid_latents, args.out / "grids" / f"{step:07d}.png")
        rows.append(row)
        spent = time.perf_counter() - eval_started
        live_text = f", live KID {row['live_kid_mean']:.4f}" if "live_kid_mean" in row else ""
        print(
            f"step {step:6d}  {train_seconds / 60:5.2f} min  KID {row['kid_mean']:.4f} "
            f"+- {row['kid_std']:.4f}  FID {row['fid']:7.1f}  1-NN {row['c2st_accuracy']:.2f}"
            f"{live_text}  (eval {spent:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        clock["eval"] += spent
        return {"kid": row["kid_mean"], "fid": row["fid"]}

    # Step 0: the untrained generator, built exactly as the trainer builds it.
    untrained = build_generator(model, seed=config.seed).to(device)
    if want_live:
        live.append(untrained)
    record(0, untrained.eval(), 0.0)
    live.clear()

    budget = args.minutes * 60
    every_steps = args.eval_every_steps or max(1, (args.steps or 0) // 10)

    def hook(ema: nn.Module, step: int) -> dict[str, float]:
        train_seconds = time.perf_counter() - clock["start"] - clock["eval"]
        if args.steps:
            if step % every_steps == 0 or step == args.steps:
                return record(step, ema, train_seconds)
            return {}
        if train_seconds >= budget:
            record(step, ema, train_seconds)
            raise _BudgetSpent
        if train_seconds >= clock["next"]:
            clock["next"] += args.eval_every_seconds
            return record(step, ema, train_seconds)
        return {}

    clock["next"] = args.eval_every_seconds
    clock["eval"] = 0.0  # the step-0 evaluation is not training time
    clock["start"] = time.perf_counter()
    try:
        gan_train.train(
            config,
            reals,
            out_dir=args.out / "run",
            device=device,
            dataset_manifest_hash=dataset.manifest_hash,
            evaluate=hook,
            evaluate_every=1,
            report_every=50,
        )
    except _BudgetSpent:
        pass  # the trainer writes a checkpoint on its way out; the last row is recorded
    finally:
        if want_live:
            gan_train.build_generator = original_build  # type: ignore[assignment]
    wall = time.perf_counter() - clock["start"]

    _write_outputs(args, rows, floor_kid.mean, floor_kid.std, floor_fid, wall, inception_rate)
    return 0


def _write_outputs(
    args: argparse.Namespace,
    rows: list[dict[str, float]],
    floor_kid: float,
    floor_kid_std: float,
    floor_fid: float,
    wall: float,
    inception_rate: float,
) -> None:
    keys = list(rows[0].keys() | set().union(*(r.keys() for r in rows)))
    order = [
        "step",
        "train_seconds",
        "images_seen",
        "kid_mean",
        "kid_std",
        "fid",
        "c2st_accuracy",
        "live_kid_mean",
        "live_kid_std",
        "live_fid",
        "live_c2st_accuracy",
    ]
    keys = [k for k in order if k in keys]
    with (args.out / "kid_curve.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=keys, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    title = f"{args.arch}, {args.resolution} px, {args.artist}: KID of fixed-seed fakes"
    _svg(rows, floor_kid, args.out / "kid_curve.svg", title)
    final_grid = sorted((args.out / "grids").glob("*.png"))[-1]
    shutil.copyfile(final_grid, args.out / "final_grid.png")
    first, last = rows[0], rows[-1]
    best = min(rows, key=lambda r: r["kid_mean"])
    summary = {
        "artist": args.artist,
        "arch": args.arch,
        "resolution": args.resolution,
        "batch_size": args.batch_size,
        "budget": f"{args.steps} steps" if args.steps else f"{args.minutes:g} training minutes",
        "steps": int(last["step"]),
        "train_seconds": last["train_seconds"],
        "wall_seconds_including_evaluation": wall,
        "inception_images_per_second": inception_rate,
        "floor_kid_real_halves": floor_kid,
        "floor_kid_std": floor_kid_std,
        "floor_fid_real_halves": floor_fid,
        "kid_untrained": first["kid_mean"],
        "kid_final": last["kid_mean"],
        "kid_final_std": last["kid_std"],
        "fid_untrained": first["fid"],
        "fid_final": last["fid"],
        "kid_final_over_untrained": last["kid_mean"] / first["kid_mean"],
        "best_kid": best["kid_mean"],
        "best_kid_step": int(best["step"]),
        "final_grid": str(args.out / "final_grid.png"),
    }
    if "live_kid_mean" in last:
        summary["live_kid_final"] = last["live_kid_mean"]
        summary["live_fid_final"] = last["live_fid"]
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(
        f"\n{title}; budget {summary['budget']}, {summary['steps']} steps, batch "
        f"{args.batch_size}; floor (real halves) KID {floor_kid:.4f}, FID {floor_fid:.1f}\n"
    )
    live = "live_kid_mean" in last
    header = "| step | training min | KID (EMA) | FID (EMA) | 1-NN acc |"
    header += " KID (live) | FID (live) |" if live else ""
    print(header)
    print("| ---: " * (7 if live else 5) + "|")
    for row in rows:
        line = (
            f"| {int(row['step'])} | {row['train_seconds'] / 60:.1f} | "
            f"{row['kid_mean']:.4f} ± {row['kid_std']:.4f} | {row['fid']:.1f} | "
            f"{row['c2st_accuracy']:.2f} |"
        )
        if live:
            line += f" {row['live_kid_mean']:.4f} | {row['live_fid']:.1f} |"
        print(line)
    ratio = summary["kid_final_over_untrained"]
    # KID's std comes from random subsets; when both sets are no larger than the subset size
    # (1000), every subset is the whole set and the std is 0, so it cannot be the yardstick.
    # "Clearly below": at most half the untrained KID, and below it by more than 2 std.
    clearly = (
        last["kid_mean"] <= 0.5 * first["kid_mean"]
        and last["kid_mean"] + 2 * last["kid_std"] < first["kid_mean"]
    )
    verdict = "clearly below" if clearly else "NOT clearly below"
    print(
        f"\nFinal EMA KID {last['kid_mean']:.4f} is {ratio:.2f}x the untrained KID "
        f"{first['kid_mean']:.4f} ({verdict} it); floor {floor_kid:.4f}. "
        f"Grid: {summary['final_grid']}"
    )
    if not math.isfinite(ratio):
        print("warning: a KID value is not finite", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
