"""The attribution model on the platform: trained on its own data, retrained as models arrive.

Hand-made: every ready studio dataset's prepared images (the artists' portfolios, as the
generators saw them). Machine-made: for each trained generator, its stored works plus fresh
samples from seeds no work uses, up to `SAMPLES_PER_MODEL`. The fit is
provenance.attribution's (calibrated, with held-out accuracy, calibration error and the
false-positive rate on hand-made images); a verification reads the newest ready one.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from PIL import Image
from studio.models import Dataset, DatasetState, GanModel, Work, WorkKind

from authenticity.models import Attributor, AttributorState
from core.errors import InvalidInput
from core.models import Job
from core.progress import ProgressReporter
from core.services import job_submit
from provenance.attribution import (
    MODEL_PREFIX,
    PORTFOLIO,
    AttributionModel,
    image_features,
)
from provenance.errors import ProvenanceError

SAMPLES_PER_MODEL = 120
PORTFOLIO_LIMIT = 2000
MIN_PER_CLASS = 20
# Fresh samples come from seeds far above those the studio offers, so none is a stored work.
SAMPLE_SEED_BASE = 2**40


def attributor_train_request(*, requested_by: Any = None) -> Job:
    """Queue a training of the attribution model (a job on `default`)."""
    with transaction.atomic():
        attributor = Attributor.objects.create()
        attributor.job = job_submit(
            kind="attribution",
            owner=requested_by,
            task_name="authenticity.train_attributor",
            params={"attributor_id": attributor.pk},
        )
        attributor.save(update_fields=["job"])
    assert attributor.job is not None
    return attributor.job


def attributor_train(*, attributor_id: int, progress: ProgressReporter) -> dict[str, Any]:
    """The task's work: gather images, fit, save, record the held-out scores."""
    attributor = Attributor.objects.get(pk=attributor_id)
    try:
        return _train(attributor, progress)
    except BaseException:
        Attributor.objects.filter(pk=attributor.pk).update(state=AttributorState.FAILED)
        raise


def _train(attributor: Attributor, progress: ProgressReporter) -> dict[str, Any]:
    progress.update(0.05, "Reading the artists' portfolios.", force=True)
    portfolio, artists = _portfolio_images(progress)
    features = [image_features(portfolio)]
    labels = [PORTFOLIO] * len(portfolio)
    classes = {PORTFOLIO: "hand-made portfolio images"}
    generators = list(GanModel.objects.select_related("run").order_by("pk"))
    for number, generator in enumerate(generators):
        share = 0.1 + 0.7 * number / max(len(generators), 1)
        progress.update(share, f"Sampling {generator}.", force=True)
        images = _model_images(generator)
        if len(images) < MIN_PER_CLASS:
            progress.log(f"{generator}: {len(images)} images, too few; left out.")
            continue
        features.append(image_features(images))
        labels += [f"{MODEL_PREFIX}{generator.pk}"] * len(images)
        classes[f"{MODEL_PREFIX}{generator.pk}"] = str(generator)
    if len(portfolio) < MIN_PER_CLASS or len(classes) < 2:
        raise InvalidInput(
            f"The attribution model needs at least {MIN_PER_CLASS} portfolio images and one "
            f"generator with as many works; there are {len(portfolio)} portfolio images and "
            f"{len(classes) - 1} usable generators."
        )
    progress.update(0.85, f"Fitting on {len(labels)} images.", force=True)
    matrix = np.vstack(features)
    try:
        model = AttributionModel(min_per_class=MIN_PER_CLASS).fit(matrix, labels)
    except ProvenanceError as error:
        raise InvalidInput(str(error)) from error
    by_artist = _false_positives_by_artist(model, matrix, artists)
    path = Path(settings.MEDIA_ROOT) / "authenticity" / "attributors" / f"{attributor.pk}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    attributor.classes = classes
    attributor.metrics = {
        "heldout_accuracy": model.heldout_accuracy_,
        "heldout_ece": model.heldout_ece_,
        "heldout_ece_uncalibrated": model.heldout_ece_uncalibrated_,
        "heldout_auc_machine": model.heldout_auc_machine_,
        "portfolio_false_positive_rate": model.portfolio_false_positive_rate_,
        "heldout_count": model.heldout_count_,
        "class_counts": model.class_counts_,
        "portfolio_false_positive_rate_by_artist": by_artist,
    }
    attributor.file = str(path.relative_to(Path(settings.MEDIA_ROOT)))
    attributor.file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    attributor.state = AttributorState.READY
    attributor.save(update_fields=["classes", "metrics", "file", "file_sha256", "state"])
    return {"attributor_id": attributor.pk, **attributor.metrics}


def _false_positives_by_artist(
    model: AttributionModel, features: np.ndarray[Any, Any], artists: list[str]
) -> dict[str, dict[str, float | int]]:
    """Per artist: the share of their held-out hand-made images scored machine-made (> 0.5)."""
    held = [row for row in model.heldout_index_.tolist() if row < len(artists)]
    if not held:
        return {}
    answers = model.attribute(features[held])
    counts: dict[str, list[int]] = {}
    for row, answer in zip(held, answers, strict=True):
        flagged, total = counts.setdefault(artists[row], [0, 0])
        counts[artists[row]] = [flagged + (answer.machine_made > 0.5), total + 1]
    return {
        name: {"rate": flagged / total, "n": total} for name, (flagged, total) in counts.items()
    }


def _portfolio_images(progress: ProgressReporter) -> tuple[list[np.ndarray[Any, Any]], list[str]]:
    """The ready datasets' prepared images, and each one's artist (the dataset's owner)."""
    from studio.services import dataset_folder

    from gan.data import load_prepared
    from gan.errors import GanError

    images: list[np.ndarray[Any, Any]] = []
    artists: list[str] = []
    ready = Dataset.objects.filter(state=DatasetState.READY).select_related("owner")
    for dataset in ready.order_by("pk"):
        try:
            prepared = load_prepared(dataset_folder(dataset) / "prepared")
        except GanError as error:  # a damaged dataset is left out, and said so
            progress.log(f"Dataset {dataset.pk} left out: {error}")
            continue
        batch = prepared.images.permute(0, 2, 3, 1).numpy()  # (N, R, R, 3) uint8
        taken = list(batch[: PORTFOLIO_LIMIT - len(images)])
        images += taken
        artists += [dataset.owner.get_username()] * len(taken)
        if len(images) >= PORTFOLIO_LIMIT:
            break
    return images, artists


def _model_images(model: GanModel) -> list[np.ndarray[Any, Any] | Image.Image]:
    from studio.services import model_samples

    images: list[np.ndarray[Any, Any] | Image.Image] = []
    for work in Work.objects.filter(model=model, kind=WorkKind.IMAGE)[:SAMPLES_PER_MODEL]:
        with work.image.open("rb") as stored, Image.open(stored) as image:
            images.append(image.convert("RGB"))
    missing = SAMPLES_PER_MODEL - len(images)
    if missing > 0:
        images += model_samples(
            model=model, seeds=range(SAMPLE_SEED_BASE, SAMPLE_SEED_BASE + missing)
        )
    return images


# --- reading ---------------------------------------------------------------------------------

_loaded: tuple[int, AttributionModel] | None = None
_lock = threading.Lock()


def attributor_current() -> tuple[Attributor, AttributionModel] | None:
    """The newest ready attribution model, loaded once per process (None before any)."""
    global _loaded
    record = Attributor.objects.filter(state=AttributorState.READY).first()
    if record is None:
        return None
    with _lock:
        if _loaded is None or _loaded[0] != record.pk:
            path = Path(settings.MEDIA_ROOT) / record.file
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != record.file_sha256:
                raise InvalidInput(f"The file of attribution model {record.pk} has changed.")
            _loaded = (record.pk, AttributionModel.load(path))
        return record, _loaded[1]


def attribution_view(picture: Image.Image, *, artist: str = "") -> dict[str, Any] | None:
    """The attribution of an image for a report, worded as weak evidence (None without a model).

    With `artist` (the matched work's), the false-positive rate on that artist's own hand-made
    images is given beside the score, when the model held out some of them.
    """
    current = attributor_current()
    if current is None:
        return None
    record, model = current
    answer = model.attribute(image_features([picture]))[0]
    named = {label: record.classes.get(label, label) for label in answer.probabilities}
    label = named.get(answer.label, answer.label)
    return {
        "attributor_id": record.pk,
        "machine_made": round(answer.machine_made, 4),
        "label": label,
        "reason": answer.reason,
        "probabilities": {named[k]: round(v, 4) for k, v in answer.probabilities.items()},
        "heldout_accuracy": answer.heldout_accuracy,
        "heldout_ece": answer.heldout_ece,
        "portfolio_false_positive_rate": answer.portfolio_false_positive_rate,
        "heldout_count": answer.heldout_count,
        "summary": answer.summary().replace(answer.label, label, 1),
        "artist_false_positive_rate": record.metrics.get(
            "portfolio_false_positive_rate_by_artist", {}
        ).get(artist),
        "artist": artist,
    }
