"""`python -m gan` end to end on real paintings, as a user runs it: prepare, train, resume,
generate, evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOKUSAI = REPO.parent / "shared" / "data" / "paintings" / "katsushika_hokusai"


def gan(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "gan", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HOKUSAI.is_dir():
        pytest.fail(f"the shared paintings are missing: expected {HOKUSAI} (see ../shared/data)")
    return tmp_path_factory.mktemp("cli")


def test_prepare_train_resume_generate_and_evaluate_on_real_paintings(workdir: Path) -> None:
    dataset, run, out = workdir / "dataset", workdir / "run", workdir / "works"

    prepared = gan("prepare", HOKUSAI, "--out", dataset, "--resolution", "64")
    assert prepared.returncode == 0, prepared.stderr
    summary = json.loads(prepared.stdout)
    assert (summary["accepted"], summary["refused"]) == (36, 0)

    common = [
        "--arch",
        "fastgan",
        "--width",
        "16",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "3",
        "--sample-every",
        "3",
        "--device",
        "cpu",
    ]
    trained = gan("train", dataset, "--out", run, "--steps", "3", "--evaluate-every", "3", *common)
    assert trained.returncode == 0, trained.stderr
    first_card = json.loads(trained.stdout)
    assert first_card["step"] == 3
    assert set(first_card["metrics"]) == {"kid", "fid"}  # Inception ran during training
    assert "step 3: kid" in trained.stderr
    resumed = gan("train", dataset, "--out", run, "--steps", "6", "--resume", "--device", "cpu")
    assert resumed.returncode == 0, resumed.stderr
    card = json.loads(resumed.stdout)
    assert card["step"] == 6
    assert card["dataset_manifest_hash"] == summary["manifest_hash"]

    first = gan("generate", run, "--seeds", "0-3", "--out", out / "a", "--truncation", "0.8")
    second = gan("generate", run, "--seeds", "2,3", "--out", out / "b", "--truncation", "0.8")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in (out / "a").iterdir()) == [f"seed{s:06d}.png" for s in range(4)]
    for seed in (2, 3):
        name = f"seed{seed:06d}.png"
        assert (out / "a" / name).read_bytes() == (out / "b" / name).read_bytes()

    evaluated = gan("evaluate", run, dataset, "--samples", "36", "--device", "cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["fid"] > 0
    assert report["kid_mean"] > 0


def test_bad_input_gets_a_plain_message_and_status_2(workdir: Path) -> None:
    missing = gan("train", workdir / "no-such-dataset", "--out", workdir / "x", "--steps", "1")
    bad_seeds = gan("generate", workdir / "run", "--seeds", "a-b", "--out", workdir / "y")

    assert missing.returncode == 2
    assert "no-such-dataset" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert bad_seeds.returncode == 2
    assert "'a-b' is not a number or a range like 0-15" in bad_seeds.stderr
