"""Attribution: real paintings against real (tiny, briefly trained) generators from gan/."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import ModelConfig, TrainConfig
from gan.data import load_prepared, prepare_dataset
from gan.generate import generate, latents_for_seeds
from gan.train import train
from provenance.attribution import (
    FEATURE_COUNT,
    PORTFOLIO,
    UNKNOWN,
    AttributionError,
    AttributionModel,
    expected_calibration_error,
    image_features,
)
from tests.helpers import REPO

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
PER_ARTIST = 60  # 252 paintings in all (two artists have only 36)
FRESH_PER_ARTIST = 10  # paintings after those, never fitted (from the three larger folders)
WORKS_PER_GENERATOR = 160
FITTED_WORKS = 120  # works from seeds 0-119 are fitted on; 120-159 are never seen
# (id, artist it learns from, architecture width, seed): two registered, one never registered.
GENERATORS = (("a", "claude_monet", 16, 0), ("b", "vincent_van_gogh", 24, 1))
UNSEEN = ("c", "camille_pissarro", 8, 2)
STEPS = 12


@dataclass(frozen=True)
class Corpus:
    """Features of held-apart groups: paintings, each generator's works."""

    paintings: np.ndarray
    fresh_paintings: np.ndarray
    works: dict[str, np.ndarray]
    work_images: dict[str, np.ndarray]  # uint8 (N, R, R, 3)


def _painting_files() -> tuple[list[Path], list[Path]]:
    """(paintings to fit on, paintings kept apart), taken in name order from every artist."""
    if not PAINTINGS.is_dir():
        pytest.fail(f"the shared paintings are missing at {PAINTINGS}; these tests need them")
    fitted: list[Path] = []
    fresh: list[Path] = []
    for artist in sorted(p for p in PAINTINGS.iterdir() if p.is_dir()):
        files = sorted(artist.glob("*.jpg"))
        fitted.extend(files[:PER_ARTIST])
        fresh.extend(files[PER_ARTIST : PER_ARTIST + FRESH_PER_ARTIST])
    return fitted, fresh


def _train_generator(
    spec: tuple[str, str, int, int], root: Path
) -> np.ndarray:  # uint8 (N, 64, 64, 3)
    name, artist, width, seed = spec
    files = sorted((PAINTINGS / artist).glob("*.jpg"))[:48]
    dataset = prepare_dataset(
        [(f.name, f.read_bytes()) for f in files], root / f"data-{name}", resolution=64
    )
    images = load_prepared(dataset.out_dir).images
    config = TrainConfig(
        model=ModelConfig(arch="dcgan", resolution=64, width=width, latent_dim=32),
        steps=STEPS,
        batch_size=8,
        ema_decay=0.5,  # a run this short: export (nearly) the trained generator, not its init
        sample_every=10**6,
        checkpoint_every=10**6,
        seed=seed,
    )
    result = train(
        config,
        images,
        out_dir=root / f"run-{name}",
        device=torch.device("cpu"),
        dataset_manifest_hash=dataset.manifest_hash,
    )
    latents = latents_for_seeds(range(WORKS_PER_GENERATOR), 32, torch.device("cpu"))
    return generate(result.generator, latents).permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Paintings and the works of three generators trained here, as features."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("attribution")
    fitted, fresh = _painting_files()
    paintings = image_features(f.read_bytes() for f in fitted)
    fresh_paintings = image_features(f.read_bytes() for f in fresh)
    work_images = {spec[0]: _train_generator(spec, root) for spec in (*GENERATORS, UNSEEN)}
    works = {name: image_features(list(images)) for name, images in work_images.items()}
    return Corpus(
        paintings=paintings, fresh_paintings=fresh_paintings, works=works, work_images=work_images
    )


@pytest.fixture(scope="module")
def model(corpus: Corpus) -> AttributionModel:
    """The attribution model fitted on the paintings and the two registered generators."""
    a, b = corpus.works["a"][:FITTED_WORKS], corpus.works["b"][:FITTED_WORKS]
    features = np.vstack([corpus.paintings, a, b])
    labels = [PORTFOLIO] * len(corpus.paintings) + ["model:a"] * len(a) + ["model:b"] * len(b)
    return AttributionModel().fit(features, labels)


def test_features_have_a_fixed_length_for_any_image_size() -> None:
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (300, 200), (1024, 700)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in sizes]
    features = image_features(images)
    assert features.shape == (3, FEATURE_COUNT)
    assert np.isfinite(features).all()


def test_calibrated_probabilities_sum_to_one(model: AttributionModel, corpus: Corpus) -> None:
    probabilities = model.predict_proba(corpus.paintings[:50])
    assert probabilities.shape == (50, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert model.classes_ == ("model:a", "model:b", PORTFOLIO)


def test_heldout_accuracy_is_clearly_above_chance(model: AttributionModel) -> None:
    chance = max(model.heldout_counts_.values()) / model.heldout_count_  # always the majority
    assert model.heldout_accuracy_ > chance + 0.2
    assert 0 <= model.heldout_ece_ < 0.1
    assert model.heldout_unknown_rate_ < 0.1  # known classes are seldom answered "unknown"
    assert model.heldout_counts_[PORTFOLIO] == 63  # stratified: a quarter of 252


def test_machine_made_is_high_on_generated_works_and_low_on_paintings(
    model: AttributionModel, corpus: Corpus
) -> None:
    for name in ("a", "b"):
        answers = model.attribute(corpus.works[name][FITTED_WORKS:])  # seeds never fitted on
        assert np.mean([a.machine_made for a in answers]) > 0.8, name
        assert np.mean([a.label == f"model:{name}" for a in answers]) > 0.8, name
    assert model.portfolio_false_positive_rate_ < 0.1  # held-out paintings
    fresh = model.attribute(corpus.fresh_paintings)  # paintings outside the fitted set
    assert len(fresh) == 30
    assert np.mean([a.machine_made > 0.5 for a in fresh]) < 0.1
    # Every answer carries the model's record, to be shown beside it.
    answer = model.attribute(corpus.works["a"][:1])[0]
    assert answer.heldout_accuracy == model.heldout_accuracy_
    assert answer.portfolio_false_positive_rate == model.portfolio_false_positive_rate_
    assert "held-out accuracy" in answer.summary()


def test_unseen_generator_is_not_confidently_attributed_to_a_known_one(
    model: AttributionModel, corpus: Corpus
) -> None:
    answers = model.attribute(corpus.works["c"])
    labels = [a.label for a in answers]
    known = sum(label in ("model:a", "model:b") for label in labels)
    print(  # shown with -s: what the model actually does with an unregistered generator
        "unseen generator:",
        {label: labels.count(label) for label in sorted(set(labels))},
        "mean machine-made",
        round(float(np.mean([a.machine_made for a in answers])), 3),
    )
    assert known <= 0.2 * len(answers)
    assert labels.count(UNKNOWN) >= 0.8 * len(answers)


def test_save_and_load_give_identical_probabilities(
    model: AttributionModel, corpus: Corpus, tmp_path: Path
) -> None:
    path = tmp_path / "attribution.json"
    model.save(path)
    loaded = AttributionModel.load(path)
    features = np.vstack([corpus.paintings[:20], corpus.works["c"][:20]])
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    assert loaded.attribute(features) == model.attribute(features)
    assert json.loads(path.read_text())["recipe"].startswith("provenance.attribution/")


def test_bytes_are_decoded_safely_and_match_decoded_images(corpus: Corpus) -> None:
    image = corpus.work_images["a"][0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    np.testing.assert_allclose(
        image_features([buffer.getvalue()]), image_features([image]), rtol=0, atol=0
    )


def test_too_few_examples_names_the_class_and_the_count(corpus: Corpus) -> None:
    features = np.vstack([corpus.paintings[:40], corpus.works["a"][:7]])
    labels = [PORTFOLIO] * 40 + ["model:a"] * 7
    with pytest.raises(AttributionError, match=r"class 'model:a' has 7 examples; at least 20"):
        AttributionModel().fit(features, labels)


def test_unrecognised_labels_and_unfitted_use_say_what_to_do() -> None:
    features = np.zeros((40, FEATURE_COUNT))
    with pytest.raises(AttributionError, match="label 'gan' is not recognised"):
        AttributionModel().fit(features, ["gan"] * 20 + [PORTFOLIO] * 20)
    with pytest.raises(AttributionError, match="not fitted; call fit"):
        AttributionModel().predict_proba(features)


def test_expected_calibration_error_of_a_perfectly_calibrated_toy() -> None:
    probabilities = np.array([[0.75, 0.25]] * 4)
    truth = np.array([0, 0, 0, 1])  # 75% right at 75% confidence
    assert expected_calibration_error(probabilities, truth) == pytest.approx(0.0)


def test_importing_the_module_pulls_in_neither_torch_nor_django() -> None:
    code = (
        "import sys, provenance.attribution; "
        "heavy = {'torch', 'django', 'sklearn'}; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
