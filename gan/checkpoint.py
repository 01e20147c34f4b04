"""Checkpoints that resume training exactly, and the exported model a studio keeps.

A checkpoint is two files written atomically: `checkpoint.safetensors` (every tensor: networks,
EMA, optimiser moments, RNG states) and `checkpoint.json` (config, step, optimiser
hyper-parameters, history, and the SHA-256 of the tensor file, written last: a checkpoint whose
JSON is missing or disagrees was never completed). No pickles: nothing in a checkpoint runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gan.config import TrainConfig
from gan.errors import CheckpointError
from gan.version import code_version

CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
MODEL_WEIGHTS = "model.safetensors"
MODEL_CARD = "model.json"
FORMAT_VERSION = 1


@dataclass
class TrainingState:
    """Everything that changes while training and must come back on resume."""

    step: int
    generator: nn.Module
    discriminator: nn.Module
    ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rngs: dict[str, torch.Generator]  # data sampling, latents, augmentation
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ModelCard:
    """What a trained model is and where it came from: the lineage a work points back to."""

    config: TrainConfig
    step: int
    dataset_manifest_hash: str
    code_version: str
    weights_sha256: str
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "config": json.loads(self.config.to_json())}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(
    out_dir: Path, state: TrainingState, *, config: TrainConfig, dataset_manifest_hash: str
) -> None:
    """Write the training state to out_dir, replacing the previous checkpoint atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("g", state.generator), ("d", state.discriminator), ("ema", state.ema)):
        tensors |= _prefixed(prefix, module.state_dict())
    optimizers = {}
    for prefix, optimizer in (("opt_g", state.opt_g), ("opt_d", state.opt_d)):
        optimizer_tensors, optimizer_meta = _split_optimizer(optimizer.state_dict())
        tensors |= _prefixed(prefix, optimizer_tensors)
        optimizers[prefix] = optimizer_meta
    for name, rng in state.rngs.items():
        tensors[f"rng.{name}"] = rng.get_state()
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    _atomic_save_tensors(tensors, out_dir / CHECKPOINT_TENSORS)
    meta = {
        "format": FORMAT_VERSION,
        "step": state.step,
        "config": json.loads(config.to_json()),
        "dataset_manifest_hash": dataset_manifest_hash,
        "code_version": code_version(),
        "optimizers": optimizers,
        "rng_devices": {name: str(rng.device) for name, rng in state.rngs.items()},
        "history": state.history,
        "tensors_sha256": file_sha256(out_dir / CHECKPOINT_TENSORS),
    }
    _atomic_write_text(out_dir / CHECKPOINT_META, json.dumps(meta, indent=2, sort_keys=True))


def has_checkpoint(out_dir: Path) -> bool:
    """Whether out_dir holds a completed checkpoint."""
    return (out_dir / CHECKPOINT_META).exists() and (out_dir / CHECKPOINT_TENSORS).exists()


def read_checkpoint_meta(out_dir: Path) -> dict[str, Any]:
    """The JSON half of a checkpoint, checked against its tensor file."""
    if not has_checkpoint(out_dir):
        raise CheckpointError(f"no completed checkpoint in {out_dir}; train without --resume")
    meta: dict[str, Any] = json.loads((out_dir / CHECKPOINT_META).read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{out_dir / CHECKPOINT_META} has format {meta.get('format')}, "
            f"this code reads {FORMAT_VERSION}"
        )
    if file_sha256(out_dir / CHECKPOINT_TENSORS) != meta["tensors_sha256"]:
        raise CheckpointError(
            f"{out_dir / CHECKPOINT_TENSORS} does not match its checkpoint.json (a write was cut "
            "short or the file was changed); resume from another copy or start afresh"
        )
    return meta


def load_checkpoint(out_dir: Path, state: TrainingState, *, config: TrainConfig) -> dict[str, Any]:
    """Restore `state` in place from out_dir; the config must match the one trained with."""
    meta = read_checkpoint_meta(out_dir)
    saved = TrainConfig.from_dict(meta["config"])
    if saved.model != config.model:
        raise CheckpointError(
            f"the checkpoint in {out_dir} was trained with {saved.model}, not {config.model}"
        )
    tensors = load_file(out_dir / CHECKPOINT_TENSORS)
    for prefix, module in (("g", state.generator), ("d", state.discriminator), ("ema", state.ema)):
        module.load_state_dict(_unprefixed(prefix, tensors))
    for prefix, optimizer in (("opt_g", state.opt_g), ("opt_d", state.opt_d)):
        optimizer.load_state_dict(
            _join_optimizer(_unprefixed(prefix, tensors), meta["optimizers"][prefix])
        )
    for name, rng in state.rngs.items():
        rng.set_state(tensors[f"rng.{name}"])
    torch.set_rng_state(tensors["rng.torch_cpu"])
    state.step = int(meta["step"])
    state.history = list(meta["history"])
    return meta


def export_model(
    out_dir: Path,
    ema: nn.Module,
    *,
    config: TrainConfig,
    step: int,
    dataset_manifest_hash: str,
    metrics: Mapping[str, float],
) -> ModelCard:
    """Write the EMA generator as the run's model: weights plus a model card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / MODEL_WEIGHTS
    _atomic_save_tensors(dict(ema.state_dict()), weights)
    card = ModelCard(
        config=config,
        step=step,
        dataset_manifest_hash=dataset_manifest_hash,
        code_version=code_version(),
        weights_sha256=file_sha256(weights),
        metrics=dict(metrics),
    )
    _atomic_write_text(out_dir / MODEL_CARD, json.dumps(card.to_dict(), indent=2, sort_keys=True))
    return card


def read_model_card(model_dir: Path) -> ModelCard:
    """A model's card, checked against its weights file."""
    card_path, weights = model_dir / MODEL_CARD, model_dir / MODEL_WEIGHTS
    if not card_path.exists() or not weights.exists():
        raise CheckpointError(f"{model_dir} holds no model ({MODEL_CARD} and {MODEL_WEIGHTS})")
    data = json.loads(card_path.read_text())
    card = ModelCard(
        config=TrainConfig.from_dict(data["config"]),
        step=int(data["step"]),
        dataset_manifest_hash=str(data["dataset_manifest_hash"]),
        code_version=str(data["code_version"]),
        weights_sha256=str(data["weights_sha256"]),
        metrics={str(k): float(v) for k, v in data["metrics"].items()},
    )
    if file_sha256(weights) != card.weights_sha256:
        raise CheckpointError(f"{weights} does not match the sha256 in its {MODEL_CARD}")
    return card


def _prefixed(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage: store independent copies.
    return {f"{prefix}.{k}": v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def _unprefixed(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(f"{prefix}.")}


def _split_optimizer(
    state_dict: dict[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser's state dict as tensors (per-parameter moments) and JSON (the rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _atomic_save_tensors(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, temporary)
    os.replace(temporary, path)


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
