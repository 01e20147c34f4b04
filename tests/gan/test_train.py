"""Training on the CPU: it learns, it resumes bit-exactly, it exports a model whose images are
byte-stable, and it refuses what it cannot train on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan.checkpoint import (
    CHECKPOINT_TENSORS,
    MODEL_WEIGHTS,
    has_checkpoint,
    read_checkpoint_meta,
    read_model_card,
)
from gan.config import ModelConfig, TrainConfig
from gan.errors import CheckpointError, TrainingError
from gan.generate import generate, latents_for_seeds, load_generator, png_bytes
from gan.train import Progress, train

CPU = torch.device("cpu")
LOG_STEPS = 10


def tiny_config(**changes: object) -> TrainConfig:
    """A config small enough to train a few steps in a second or two on 2 cores."""
    base = TrainConfig(
        model=ModelConfig(arch="fastgan", resolution=64, latent_dim=32, width=16),
        steps=6,
        batch_size=4,
        r1_interval=2,
        sample_every=3,
        checkpoint_every=3,
        seed=7,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """16 synthetic 64 px images: coloured squares on noise, a learnable pattern."""
    rng = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 60, (16, 3, 64, 64), generator=rng, dtype=torch.uint8)
    for index in range(16):
        top, left = (index % 4) * 12, (index // 4) * 12
        batch[index, index % 3, top : top + 20, left : left + 20] = 230
    return batch


class Cancel(Exception):
    pass


def test_resuming_a_stopped_run_gives_the_same_weights_as_an_uninterrupted_run(
    tmp_path: Path, images: torch.Tensor
) -> None:
    config = tiny_config()
    straight = tmp_path / "straight"
    train(config, images, out_dir=straight, device=CPU, dataset_manifest_hash="m")

    def stop_after_step_4(progress: Progress) -> None:
        if progress.step == 4:
            raise Cancel

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Cancel):
        train(
            config,
            images,
            out_dir=interrupted,
            device=CPU,
            dataset_manifest_hash="m",
            on_progress=stop_after_step_4,
            report_every=1,
        )
    assert read_checkpoint_meta(interrupted)["step"] == 4  # saved at the step it stopped on
    train(config, images, out_dir=interrupted, device=CPU, dataset_manifest_hash="m", resume=True)

    expected = load_file(straight / CHECKPOINT_TENSORS)
    resumed = load_file(interrupted / CHECKPOINT_TENSORS)
    assert expected.keys() == resumed.keys()
    different = [name for name in expected if not torch.equal(expected[name], resumed[name])]
    assert different == []
    assert (straight / MODEL_WEIGHTS).read_bytes() == (interrupted / MODEL_WEIGHTS).read_bytes()


@pytest.mark.parametrize(
    ("arch", "loss"), [("dcgan", "nonsaturating"), ("fastgan", "hinge"), ("dcgan", "wgan-gp")]
)
def test_every_architecture_and_loss_trains_and_exports_a_model(
    tmp_path: Path, images: torch.Tensor, arch: str, loss: str
) -> None:
    config = tiny_config(
        model=ModelConfig(arch=arch, resolution=64, latent_dim=32, width=16),  # type: ignore[arg-type]
        loss=loss,
        steps=LOG_STEPS,
    )
    reports: list[Progress] = []

    result = train(
        config,
        images,
        out_dir=tmp_path,
        device=CPU,
        dataset_manifest_hash="abc",
        on_progress=reports.append,
    )

    card = read_model_card(tmp_path)
    assert card == result.card
    assert (card.step, card.dataset_manifest_hash, card.config) == (LOG_STEPS, "abc", config)
    losses = [r.losses for r in reports if r.losses]
    assert losses
    assert all(set(each) >= {"loss_d", "loss_g"} for each in losses)
    assert {r.event for r in reports} >= {"step", "sample", "checkpoint", "done"}
    assert sorted(p.name for p in (tmp_path / "samples").iterdir())[0] == "0000003.png"


def test_the_same_model_seed_and_device_give_the_same_image_bytes(
    tmp_path: Path, images: torch.Tensor
) -> None:
    train(tiny_config(), images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    generator, card = load_generator(tmp_path, CPU)
    again, _ = load_generator(tmp_path, CPU)

    latents = latents_for_seeds([0, 1, 42], card.config.model.latent_dim, CPU)
    first = [png_bytes(image) for image in generate(generator, latents)]
    second = [png_bytes(image) for image in generate(again, latents_for_seeds([0, 1, 42], 32, CPU))]
    seed_42_alone = png_bytes(generate(generator, latents_for_seeds([42], 32, CPU))[0])

    assert first == second
    assert seed_42_alone == first[2]  # a seed's image does not depend on its batch
    assert len(set(first)) == 3


def test_truncation_pulls_images_towards_the_average(tmp_path: Path, images: torch.Tensor) -> None:
    train(tiny_config(), images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    generator, _ = load_generator(tmp_path, CPU)
    latents = latents_for_seeds(range(8), 32, CPU)

    spread = [
        generate(generator, latents, truncation=psi).float().std(dim=0).mean() for psi in (1.0, 0.2)
    ]

    assert spread[1] < spread[0]


def test_too_few_images_are_refused_with_the_count(tmp_path: Path, images: torch.Tensor) -> None:
    with pytest.raises(TrainingError, match="has 3 images; at least 8"):
        train(tiny_config(), images[:3], out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    assert not has_checkpoint(tmp_path)


def test_a_dataset_of_another_resolution_is_refused(tmp_path: Path, images: torch.Tensor) -> None:
    config = tiny_config(model=ModelConfig(arch="dcgan", resolution=128, latent_dim=32, width=16))

    with pytest.raises(TrainingError, match="dataset is 64 px but the model is 128 px"):
        train(config, images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")


def test_a_run_folder_is_not_overwritten_without_resume(
    tmp_path: Path, images: torch.Tensor
) -> None:
    train(tiny_config(), images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    weights = (tmp_path / MODEL_WEIGHTS).read_bytes()

    with pytest.raises(TrainingError, match="already holds a checkpoint"):
        train(tiny_config(), images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    assert (tmp_path / MODEL_WEIGHTS).read_bytes() == weights


def test_a_damaged_checkpoint_is_refused_on_resume(tmp_path: Path, images: torch.Tensor) -> None:
    train(tiny_config(), images, out_dir=tmp_path, device=CPU, dataset_manifest_hash="m")
    with (tmp_path / CHECKPOINT_TENSORS).open("r+b") as file:
        file.seek(-8, 2)
        file.write(b"\xff" * 8)

    with pytest.raises(CheckpointError, match=r"does not match its checkpoint\.json"):
        train(
            tiny_config(steps=8),
            images,
            out_dir=tmp_path,
            device=CPU,
            dataset_manifest_hash="m",
            resume=True,
        )


class PixelFeatures:
    """A cheap stand-in for Inception (the metrics tests cover the real one): pooled pixels."""

    name = "pixels"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.avg_pool2d(images.double(), 8)  # (N, 3, 8, 8)
        return pooled.flatten(1)


def test_metrics_are_evaluated_on_schedule_and_kept_with_the_model(
    tmp_path: Path, images: torch.Tensor
) -> None:
    from gan.metrics import TrainingEvaluator

    evaluator = TrainingEvaluator(
        images,
        extractor=PixelFeatures(),
        latent_dim=32,
        samples=16,
        cache_path=tmp_path / "features.safetensors",
        cache_key="m",
    )
    reports: list[Progress] = []

    result = train(
        tiny_config(),
        images,
        out_dir=tmp_path / "run",
        device=CPU,
        dataset_manifest_hash="m",
        on_progress=reports.append,
        evaluate=evaluator,
        evaluate_every=2,
    )

    assert [h["step"] for h in result.history] == [2.0, 4.0, 6.0]
    assert all(set(h) == {"step", "kid", "fid"} for h in result.history)
    assert [r.step for r in reports if r.event == "metrics"] == [2, 4, 6]
    assert result.card is not None
    assert result.card.metrics == {
        "kid": result.history[-1]["kid"],
        "fid": result.history[-1]["fid"],
    }
    assert read_checkpoint_meta(tmp_path / "run")["history"] == result.history
    assert (tmp_path / "features.safetensors").exists()  # real features computed once, cached


def test_out_of_gpu_memory_says_what_to_do_and_keeps_the_last_checkpoint(
    tmp_path: Path, images: torch.Tensor
) -> None:
    def run_out_of_memory(progress: Progress) -> None:
        if progress.step == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(TrainingError, match="out of GPU memory at batch size 4 and resolution 64"):
        train(
            tiny_config(),
            images,
            out_dir=tmp_path,
            device=CPU,
            dataset_manifest_hash="m",
            on_progress=run_out_of_memory,
            report_every=1,
        )

    assert read_checkpoint_meta(tmp_path)["step"] == 3  # the last periodic checkpoint, intact
