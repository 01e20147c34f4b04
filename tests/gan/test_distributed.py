"""Data-parallel training (DDP) across two gloo processes on the CPU, as torchrun would run it."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from gan.checkpoint import MODEL_WEIGHTS, read_checkpoint_meta
from gan.config import ModelConfig, TrainConfig

WORLD = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(rank: int, port: int, out_dir: Path, images: torch.Tensor) -> None:
    from gan.train import train

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        torch.set_num_threads(1)
        config = TrainConfig(
            model=ModelConfig(arch="fastgan", resolution=64, latent_dim=32, width=16),
            steps=4,
            batch_size=4,  # two images per rank
            r1_interval=2,
            sample_every=4,
            checkpoint_every=4,
        )
        result = train(
            config,
            images,
            out_dir=out_dir / "run",
            device=torch.device("cpu"),
            dataset_manifest_hash="m",
        )
        # Each rank leaves its EMA generator's weights: they match only if gradients were
        # averaged. (BatchNorm statistics are per rank; DDP re-broadcasts rank 0's each step.)
        weights = {k: v.detach().contiguous() for k, v in result.generator.named_parameters()}
        save_file(weights, out_dir / f"rank{rank}.safetensors")
        (out_dir / f"rank{rank}.card").write_text(str(result.card is not None))
    finally:
        dist.destroy_process_group()


def test_two_processes_train_one_model_and_only_rank_zero_writes(tmp_path: Path) -> None:
    images = torch.randint(0, 255, (16, 3, 64, 64), dtype=torch.uint8)

    mp.spawn(_worker, args=(_free_port(), tmp_path, images), nprocs=WORLD, join=True)

    assert read_checkpoint_meta(tmp_path / "run")["step"] == 4
    rank0 = load_file(tmp_path / "rank0.safetensors")
    rank1 = load_file(tmp_path / "rank1.safetensors")
    assert [name for name in rank0 if not torch.equal(rank0[name], rank1[name])] == []
    untrained = _untrained_generator_weights()
    assert any(not torch.equal(rank0[name], untrained[name]) for name in rank0)  # it did train
    assert load_file(tmp_path / "run" / MODEL_WEIGHTS).keys() >= rank0.keys()
    assert (tmp_path / "rank0.card").read_text() == "True"  # rank 0 wrote the model card
    assert (tmp_path / "rank1.card").read_text() == "False"


def _untrained_generator_weights() -> dict[str, torch.Tensor]:
    from gan.networks import build_generator

    model = ModelConfig(arch="fastgan", resolution=64, latent_dim=32, width=16)
    return dict(build_generator(model, seed=0).named_parameters())  # train() builds with seed 0
