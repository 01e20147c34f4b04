"""The CUDA paths of `gan`, for a machine with a GPU (bench/gpu_session.sh's `tests` step).

CI has no GPU: there every test here is skipped, and none of them counts as CI coverage. They
keep checkable what was measured once on an H200 (docs/BENCHMARKS.md): byte-stable generation,
a GPU render of a CPU-made work within a level or two, and training eagerly and compiled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.config import ModelConfig, TrainConfig
from gan.generate import generate, latents_for_seeds
from gan.networks import build_generator
from gan.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
NEVER = 10**9


def _generator(device: torch.device) -> torch.nn.Module:
    config = ModelConfig(arch="fastgan", resolution=64, latent_dim=64, width=16)
    return build_generator(config, seed=0).to(device).eval().requires_grad_(False)


def test_the_same_seeds_give_the_same_bytes_on_the_gpu() -> None:
    generator = _generator(CUDA)
    latents = latents_for_seeds(range(8), 64, CUDA)

    first, second = generate(generator, latents), generate(generator, latents)

    assert first.device.type == "cpu"
    assert first.is_pinned()  # copied once, into page-locked memory
    assert torch.equal(first, second)


def test_a_gpu_render_of_a_cpu_made_work_is_within_two_levels() -> None:
    # fp32 on CUDA (cuDNN in TF32) against the CPU: 1 level measured on trained models.
    latents = latents_for_seeds(range(8), 64, torch.device("cpu"))
    made = generate(_generator(torch.device("cpu")), latents)

    again = generate(_generator(CUDA), latents)

    assert (made.int() - again.int()).abs().max() <= 2


def _config(*, compile_: bool, steps: int) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(arch="dcgan", resolution=64, latent_dim=100, width=16),
        steps=steps,
        batch_size=8,
        compile=compile_,
        sample_every=NEVER,
        checkpoint_every=NEVER,
    )


@pytest.mark.parametrize("compile_", [False, True], ids=["eager", "compiled"])
def test_training_runs_through_r1_steps(tmp_path: Path, compile_: bool) -> None:
    # Steps 0 and 16 add the lazy R1 penalty, a double backward that compiled modules refuse.
    images = torch.randint(0, 256, (32, 3, 64, 64), dtype=torch.uint8)

    result = train(
        _config(compile_=compile_, steps=18),
        images,
        out_dir=tmp_path,
        device=CUDA,
        dataset_manifest_hash="0" * 64,
    )

    assert result.card is not None
    assert result.card.step == 18
