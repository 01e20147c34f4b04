"""Writes of the studio: upload and prepare datasets, train, cancel and resume runs, generate
works. The GAN work itself is the `gan` library's; this module keeps the records and files."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image

from accounts.models import Role, User
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Job
from core.progress import ProgressReporter
from core.services import job_cancel, job_submit
from gan.checkpoint import has_checkpoint
from gan.config import ConfigError, ModelConfig, TrainConfig
from gan.data import (
    DatasetError,
    Rejection,
    SourceItem,
    iter_source,
    load_prepared,
    prepare_dataset,
)
from gan.errors import GanError
from gan.generate import (
    generate,
    grid,
    interpolation_latents,
    latents_for_seeds,
    load_generator,
    png_bytes,
)
from gan.metrics import InceptionFeatures, TrainingEvaluator
from gan.train import MIN_IMAGES, Progress, train
from provenance.matching import PDQ_BITS, MatcherConfig, hamming_distances, pdq256
from provenance.watermark import MIN_EMBED_SIDE, PAYLOAD_BYTES, embed
from studio.models import Dataset, DatasetState, GanModel, TrainingRun, Work, WorkKind

logger = logging.getLogger(__name__)

RESOLUTIONS = (64, 128, 256, 512)
MAX_UPLOAD_FILES = 5000
MAX_FILE_BYTES = 64 * 2**20  # per image; zips are opened member by member with the same cap
MAX_WORKS_PER_REQUEST = 256
MAX_FRAMES = 32
HISTORY_LIMIT = 1000  # loss points kept per run; the oldest are dropped
METRIC_POINTS = 5  # KID/FID evaluations per run (Inception is slow on a CPU worker)
MIN_STEPS_FOR_METRICS = 100


class Upload(Protocol):
    """What a view hands over for an uploaded file (Django's UploadedFile fits)."""

    name: str | None

    def chunks(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class Preset:
    """A named starting point for a training run."""

    label: str
    arch: str
    width: int
    steps: int
    batch_size: int


PRESETS: dict[str, Preset] = {
    "sketch": Preset("Sketch: a quick look, minutes on a CPU", "fastgan", 32, 800, 16),
    "study": Preset("Study: about an hour on one GPU", "fastgan", 64, 20_000, 32),
    "masterwork": Preset("Masterwork: several GPU hours", "fastgan", 64, 100_000, 32),
    "baseline": Preset("Baseline: the classic DCGAN, for comparison", "dcgan", 64, 5_000, 64),
}


def studio_root() -> Path:
    """Where the studio keeps datasets and runs (inside MEDIA_ROOT, served only through views)."""
    return Path(settings.MEDIA_ROOT) / "studio"


def dataset_folder(dataset: Dataset) -> Path:
    """A dataset's folder: `upload/` as received, `prepared/` for training."""
    return studio_root() / "datasets" / str(dataset.pk)


def run_folder(run: TrainingRun) -> Path:
    """A run's folder: checkpoint, samples, the exported model."""
    return studio_root() / "runs" / str(run.pk)


def _require_artist(user: User) -> None:
    if not user.acts_as(Role.ARTIST):
        raise Forbidden("Only artists use the studio.")


# --- datasets --------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(
    *, owner: User, name: str, resolution: int, uploads: Sequence[Upload]
) -> Dataset:
    """Store uploaded images (files, or zips of them) and start preparing them as a dataset."""
    _require_artist(owner)
    name = name.strip()
    if not name:
        raise InvalidInput("Give the dataset a name.")
    if resolution not in RESOLUTIONS:
        raise InvalidInput(
            f"resolution={resolution}: choose one of {', '.join(map(str, RESOLUTIONS))}."
        )
    if not uploads:
        raise InvalidInput("Choose some images (JPEG, PNG or WebP) or a zip of them to upload.")
    if len(uploads) > MAX_UPLOAD_FILES:
        raise InvalidInput(f"{len(uploads)} files in one upload; at most {MAX_UPLOAD_FILES}.")
    dataset = Dataset.objects.create(owner=owner, name=name[:120], resolution=resolution)
    folder = dataset_folder(dataset) / "upload"
    try:
        # A folder under a brand-new id is left over from a database that was reset: not ours.
        shutil.rmtree(dataset_folder(dataset), ignore_errors=True)
        folder.mkdir(parents=True)
        for index, upload in enumerate(uploads):
            # A numbered, sanitised name: two files may share a name, and names may hold paths.
            original = Path(upload.name or f"file-{index}").name
            with (folder / f"{index:05d}-{_safe_name(original)}").open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        dataset.job = job_submit(
            kind="dataset",
            owner=owner,
            task_name="studio.prepare_dataset",
            params={"dataset_id": dataset.pk},
        )
        dataset.save(update_fields=["job"])
    except BaseException as error:
        shutil.rmtree(dataset_folder(dataset), ignore_errors=True)  # the row rolls back too
        if isinstance(error, OSError):
            raise InvalidInput(f"The upload could not be stored: {error.strerror}.") from error
        raise
    return dataset


def _safe_name(name: str) -> str:
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return kept[-100:] or "file"


def _upload_items(folder: Path) -> Iterator[SourceItem]:
    """Every uploaded file as (name, bytes), with zips opened up; names as the artist gave them."""
    for path in sorted(folder.iterdir()):
        shown = path.name.split("-", 1)[1] if "-" in path.name else path.name
        if path.suffix.lower() == ".zip":
            try:
                for item in iter_source(path):
                    if isinstance(item, Rejection):
                        yield Rejection(f"{shown}/{item.name}", item.reason)
                    else:
                        yield (f"{shown}/{item[0]}", item[1])
            except DatasetError as error:
                yield Rejection(shown, str(error))
        elif path.stat().st_size > MAX_FILE_BYTES:
            megabytes = path.stat().st_size // 2**20
            yield Rejection(
                shown, f"{megabytes} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit"
            )
        else:
            yield (shown, path.read_bytes())


def dataset_prepare(*, dataset_id: int, progress: ProgressReporter) -> dict[str, Any]:
    """Validate, deduplicate and crop the uploaded images; record what was taken and refused."""
    dataset = Dataset.objects.get(pk=dataset_id)
    folder = dataset_folder(dataset)
    shutil.rmtree(folder / "prepared", ignore_errors=True)  # a retried job starts clean

    def on_progress(done: int, total: int | None, name: str) -> None:
        progress.update(done / total if total else 0.0, f"Checked {done} files: {name}")

    try:
        report = prepare_dataset(
            _upload_items(folder / "upload"),
            folder / "prepared",
            resolution=dataset.resolution,
            on_progress=on_progress,
        )
    except DatasetError as error:
        Dataset.objects.filter(pk=dataset.pk).update(
            state=DatasetState.FAILED, report={"accepted": [], "refused": [], "error": str(error)}
        )
        raise InvalidInput(str(error)) from error
    summary = {
        "accepted": [dataclasses.asdict(entry) for entry in report.accepted],
        "refused": [dataclasses.asdict(rejection) for rejection in report.rejections],
    }
    Dataset.objects.filter(pk=dataset.pk).update(
        state=DatasetState.READY,
        manifest_hash=report.manifest_hash,
        image_count=len(report.accepted),
        refused_count=len(report.rejections),
        report=summary,
    )
    progress.log(f"Took {len(report.accepted)} images, refused {len(report.rejections)}.")
    return {
        "images": len(report.accepted),
        "refused": len(report.rejections),
        "manifest_hash": report.manifest_hash,
    }


# --- training --------------------------------------------------------------------------------


@transaction.atomic
def run_create(
    *,
    owner: User,
    dataset: Dataset,
    preset: str,
    arch: str | None = None,
    steps: int | None = None,
    works_on_finish: int = 0,
) -> TrainingRun:
    """Start training a GAN on a ready dataset, on the GPU queue."""
    _require_artist(owner)
    if dataset.owner_id != owner.pk:
        raise Forbidden("You can train only on your own datasets.")
    if dataset.state != DatasetState.READY:
        raise Conflict(f"Dataset {dataset.name!r} is {dataset.state}; wait until it is ready.")
    if dataset.image_count < MIN_IMAGES:
        raise InvalidInput(
            f"Dataset {dataset.name!r} has {dataset.image_count} usable images; training needs at "
            f"least {MIN_IMAGES}, and a few hundred give far better results. Upload more."
        )
    if preset not in PRESETS:
        raise InvalidInput(f"Unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}.")
    if not 0 <= works_on_finish <= MAX_WORKS_PER_REQUEST:
        raise InvalidInput(f"works_on_finish={works_on_finish}: 0 to {MAX_WORKS_PER_REQUEST}.")
    chosen = PRESETS[preset]
    arch = arch or chosen.arch
    try:
        config = TrainConfig(
            model=ModelConfig(
                arch=arch,  # type: ignore[arg-type]
                resolution=dataset.resolution,
                latent_dim=100 if arch == "dcgan" else 128,
                width=chosen.width,
            ),
            steps=steps or chosen.steps,
            batch_size=chosen.batch_size,
            sample_every=max(1, (steps or chosen.steps) // 20),
            checkpoint_every=max(1, (steps or chosen.steps) // 20),
        )
    except ConfigError as error:
        raise InvalidInput(str(error)) from error
    run = TrainingRun.objects.create(
        owner=owner,
        dataset=dataset,
        name=f"{dataset.name} · {preset}",
        preset=preset,
        config=json.loads(config.to_json()),
        works_on_finish=works_on_finish,
    )
    shutil.rmtree(run_folder(run), ignore_errors=True)  # as for datasets: a reset database's
    _submit_training(run)
    return run


def _submit_training(run: TrainingRun) -> None:
    run.job = job_submit(
        kind="training",
        owner=run.owner,
        task_name="studio.train",
        queue="gpu",
        params={"run_id": run.pk},
    )
    run.save(update_fields=["job"])


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Stop a run at its next report; it keeps a checkpoint there and can be resumed."""
    if run.job is None:
        raise Conflict("This run has no job to cancel.")
    job_cancel(job=run.job)
    return run


@transaction.atomic
def run_resume(*, run: TrainingRun) -> TrainingRun:
    """Continue a cancelled or failed run from its last checkpoint."""
    if hasattr(run, "model"):
        raise Conflict(f"Run {run.name!r} has finished; start a new run to train further.")
    if run.job is not None and not run.job.is_final:
        raise Conflict(f"Run {run.name!r} is still {run.job.state}.")
    _submit_training(run)
    return run


def run_train(*, run_id: int, progress: ProgressReporter) -> dict[str, Any]:
    """Train (or resume) a run on this worker's best device, then record its model."""
    run = TrainingRun.objects.select_related("dataset", "owner").get(pk=run_id)
    config = TrainConfig.from_dict(run.config)
    folder = run_folder(run)
    dataset = load_prepared(dataset_folder(run.dataset) / "prepared")
    device = _device()
    resume = has_checkpoint(folder)
    progress.log(
        f"{'Resuming' if resume else 'Starting'} on {device.type}: {config.model.arch} at "
        f"{config.model.resolution} px, {dataset.images.shape[0]} images, {config.steps} steps."
    )
    history = list(run.history)

    def on_progress(update: Progress) -> None:
        if update.losses:
            history.append({"step": update.step, **update.losses})
            del history[: max(0, len(history) - HISTORY_LIMIT)]
            losses = " · ".join(f"{k} {v:.3f}" for k, v in update.losses.items())
            TrainingRun.objects.filter(pk=run.pk).update(step=update.step, history=history)
            progress.update(
                update.fraction * 0.95,
                f"Step {update.step}/{update.total_steps} · {losses} · "
                f"{update.images_per_second:.0f} img/s",
            )
        elif update.event == "sample":
            run.samples.append(update.step)
            TrainingRun.objects.filter(pk=run.pk).update(step=update.step, samples=run.samples)
            progress.log(f"Sample grid at step {update.step}.")
        elif update.event == "metrics":
            run.metrics.append({"step": update.step, **update.metrics})
            TrainingRun.objects.filter(pk=run.pk).update(metrics=run.metrics)
            kid, fid = update.metrics["kid"], update.metrics["fid"]
            progress.log(f"Step {update.step}: KID {kid:.4f}, FID {fid:.1f}.")
        elif update.event == "checkpoint":
            progress.log(f"Checkpoint at step {update.step}.")
            progress.update(update.fraction * 0.95, force=True)  # a cancel point

    evaluate_every = config.steps // METRIC_POINTS if config.steps >= MIN_STEPS_FOR_METRICS else 0
    evaluator = None
    if evaluate_every:
        evaluator = TrainingEvaluator(
            dataset.images,
            extractor=InceptionFeatures(device=device),
            latent_dim=config.model.latent_dim,
            cache_path=dataset_folder(run.dataset) / "inception_features.safetensors",
            cache_key=dataset.manifest_hash,
            samples=min(len(dataset.images), 256),
        )
    try:
        result = train(
            config,
            dataset.images,
            out_dir=folder,
            device=device,
            dataset_manifest_hash=dataset.manifest_hash,
            on_progress=on_progress,
            resume=resume,
            evaluate=evaluator,
            evaluate_every=evaluate_every,
        )
    except GanError as error:
        raise InvalidInput(str(error)) from error
    assert result.card is not None  # a single process is rank 0
    model, created = GanModel.objects.get_or_create(
        run=run,
        defaults={
            "owner": run.owner,
            "weights_sha256": result.card.weights_sha256,
            "card": result.card.to_dict(),
        },
    )
    if created:  # a new generator: the attribution model learns to tell its works apart
        from authenticity.attribution import attributor_train_request

        attributor_train_request()
    TrainingRun.objects.filter(pk=run.pk).update(step=result.card.step)
    if run.works_on_finish:
        progress.update(0.96, f"Generating {run.works_on_finish} works.", force=True)
        works_generate(model=model, seeds=list(range(run.works_on_finish)), truncation=0.8)
    return {"model_id": model.pk, "step": result.card.step, "weights_sha256": model.weights_sha256}


# --- works -----------------------------------------------------------------------------------


def _check_generation(model: GanModel, owner: User, truncation: float) -> None:
    _require_artist(owner)
    if model.owner_id != owner.pk:
        raise Forbidden("You can generate only from your own models.")
    if not 0 < truncation <= 1:
        raise InvalidInput(f"truncation={truncation}: must be more than 0 and at most 1.")


def random_seeds(count: int) -> list[int]:
    """`count` distinct seeds drawn at random (from the OS, not from any model's RNG)."""
    seeds: set[int] = set()
    while len(seeds) < count:
        seeds.add(secrets.randbelow(2**31))
    return sorted(seeds)


def works_request(*, owner: User, model: GanModel, seeds: Sequence[int], truncation: float) -> Job:
    """Generate works for seeds, as a job on the GPU queue."""
    _check_generation(model, owner, truncation)
    if not seeds or len(seeds) > MAX_WORKS_PER_REQUEST:
        raise InvalidInput(f"Ask for 1 to {MAX_WORKS_PER_REQUEST} seeds at a time.")
    if any(seed < 0 or seed >= 2**63 for seed in seeds):
        raise InvalidInput("Seeds are whole numbers from 0 to 2^63 - 1.")
    return job_submit(
        kind="generation",
        owner=owner,
        task_name="studio.generate",
        queue="gpu",
        params={"model_id": model.pk, "seeds": list(seeds), "truncation": truncation},
    )


def interpolation_request(
    *, owner: User, model: GanModel, seed: int, seed_end: int, frames: int, truncation: float
) -> Job:
    """Generate a strip morphing from one seed's image to another's, as a job."""
    _check_generation(model, owner, truncation)
    if not 2 <= frames <= MAX_FRAMES:
        raise InvalidInput(f"frames={frames}: must be 2 to {MAX_FRAMES}.")
    return job_submit(
        kind="interpolation",
        owner=owner,
        task_name="studio.interpolate",
        queue="gpu",
        params={
            "model_id": model.pk,
            "seed": seed,
            "seed_end": seed_end,
            "frames": frames,
            "truncation": truncation,
        },
    )


def works_generate(*, model: GanModel, seeds: Sequence[int], truncation: float) -> list[Work]:
    """Generate and store one work per seed (seeds already generated are returned as they are).

    One seed at a time: a batch may round differently from a single image (kernels are chosen
    by batch size), and a work's bytes must depend only on its model, seed and truncation, so
    the re-render proof can make them again byte for byte.
    """
    generator, card = load_generator(run_folder(model.run), _device())
    works = []
    for seed in seeds:
        latents = latents_for_seeds([seed], card.config.model.latent_dim, _device())
        image = generate(generator, latents, truncation=truncation)[0]
        works.append(
            _store_work(
                model, png_bytes(image), kind=WorkKind.IMAGE, seed=seed, truncation=truncation
            )
        )
    return works


def model_samples(
    *, model: GanModel, seeds: Sequence[int], truncation: float = 0.8
) -> list[npt.NDArray[np.uint8]]:
    """Images of the generator for `seeds`, not stored: uint8 (H, W, 3) each (for attribution)."""
    generator, card = load_generator(run_folder(model.run), _device())
    latents = latents_for_seeds(seeds, card.config.model.latent_dim, _device())
    images = generate(generator, latents, truncation=truncation)  # (N, 3, R, R) uint8
    return list(images.permute(0, 2, 3, 1).cpu().numpy())


def interpolation_generate(
    *, model: GanModel, seed: int, seed_end: int, frames: int, truncation: float
) -> Work:
    """Generate and store an interpolation strip between two seeds."""
    generator, card = load_generator(run_folder(model.run), _device())
    ends = latents_for_seeds([seed, seed_end], card.config.model.latent_dim, torch.device("cpu"))
    latents = interpolation_latents(ends[0], ends[1], frames)
    images = generate(generator, latents.to(_device()), truncation=truncation)
    return _store_work(
        model,
        png_bytes(grid(images, columns=frames)),
        kind=WorkKind.INTERPOLATION,
        seed=seed,
        seed_end=seed_end,
        frames=frames,
        truncation=truncation,
    )


def work_rerender(work: Work) -> bytes:
    """The work made again from its model, seed(s) and truncation, marked as it was stored.

    The re-render proof compares these bytes with the stored ones: the same device gives the
    same bytes; another device may differ by rounding (the proof reports by how much).
    """
    model = work.model
    generator, card = load_generator(run_folder(model.run), _device())
    latent_dim = card.config.model.latent_dim
    if work.kind == WorkKind.INTERPOLATION and work.seed_end is not None:
        ends = latents_for_seeds([work.seed, work.seed_end], latent_dim, torch.device("cpu"))
        latents = interpolation_latents(ends[0], ends[1], work.frames)
        images = generate(generator, latents.to(_device()), truncation=work.truncation)
        data = png_bytes(grid(images, columns=work.frames))
    else:
        latents = latents_for_seeds([work.seed], latent_dim, _device())
        data = png_bytes(generate(generator, latents, truncation=work.truncation)[0])
    mark = work_mark(
        model,
        kind=work.kind,
        seed=work.seed,
        truncation=work.truncation,
        seed_end=work.seed_end,
        frames=work.frames,
    )
    return _watermarked(data, mark)[0]


def device_name() -> str:
    """What this worker computes on, for reports ("cpu", or the GPU's name)."""
    device = _device()
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _device() -> torch.device:
    """The device this worker generates and trains on: a GPU when it has one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _store_work(
    model: GanModel,
    data: bytes,
    *,
    kind: str,
    seed: int,
    truncation: float,
    seed_end: int | None = None,
    frames: int = 1,
) -> Work:
    key = {
        "model": model,
        "kind": kind,
        "seed": seed,
        "seed_end": seed_end,
        "frames": frames,
        "truncation": truncation,
    }
    existing = Work.objects.filter(**key).first()
    if existing is not None:
        return existing
    mark = work_mark(
        model, kind=kind, seed=seed, truncation=truncation, seed_end=seed_end, frames=frames
    )
    data, carried = _watermarked(data, mark)
    work = Work(
        owner=model.owner,
        sha256=hashlib.sha256(data).hexdigest(),
        mark=f"{mark:012x}" if carried else "",
        **key,
    )
    work.image.save(
        f"{model.pk}/{kind}-{seed}-{seed_end or seed}-{frames}-{truncation:g}.png",
        ContentFile(data),
        save=False,
    )
    try:
        with transaction.atomic():
            work.save()
    except IntegrityError:  # the same work was stored meanwhile by another job
        work.image.delete(save=False)
        return Work.objects.get(**key)
    from authenticity.fingerprints import fingerprint_work

    fingerprint_work(work)  # verifiable at once; verifications would otherwise index it first
    return work


def work_mark(
    model: GanModel,
    *,
    kind: str,
    seed: int,
    truncation: float,
    seed_end: int | None = None,
    frames: int = 1,
) -> int:
    """The watermark payload of a work: 48 bits of a hash of what fixes its pixels.

    Derived rather than random, so re-rendering the work from its model and seed gives the same
    marked bytes (the re-render proof compares them).
    """
    what = f"{model.weights_sha256}|{kind}|{seed}|{seed_end}|{frames}|{truncation!r}"
    digest = hashlib.sha256(b"atelier-work-mark|" + what.encode()).digest()
    return int.from_bytes(digest[:PAYLOAD_BYTES], "big")


def _watermarked(data: bytes, mark: int) -> tuple[bytes, bool]:
    """PNG bytes carrying the mark, and whether they do (images under 128 px cannot)."""
    with Image.open(io.BytesIO(data)) as decoded:
        image = decoded.convert("RGB")
    if min(image.size) < MIN_EMBED_SIDE:
        return data, False
    buffer = io.BytesIO()
    embed(image, mark).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue(), True


def work_memorization(work: Work) -> dict[str, Any]:
    """How close a generated work is to its nearest training image (PDQ-style hash, 256 bits).

    A generator that memorised its portfolio hands back near-copies; at or under the matcher's
    threshold (the distance at which the registry calls two files one image) the work counts
    as a copy of that training image, and is not certified. A work's bytes and its dataset never
    change, so a checked answer is kept per process (certificate pages and verifications ask
    for it on every view).
    """
    key = (work.pk, work.sha256, work.model.run.dataset.manifest_hash)
    cached = _memorization_cache.get(key)
    if cached is None:
        cached = _memorization(work)
        if cached["checked"]:
            if len(_memorization_cache) >= _MEMORIZATION_CACHE_SIZE:
                _memorization_cache.pop(next(iter(_memorization_cache)))
            _memorization_cache[key] = cached
    return dict(cached)


_MEMORIZATION_CACHE_SIZE = 4096
_memorization_cache: dict[tuple[int, str, str], dict[str, Any]] = {}


def _memorization(work: Work) -> dict[str, Any]:
    dataset = work.model.run.dataset
    names, codes = _training_codes(dataset)
    with work.image.open("rb") as stored, Image.open(stored) as image:
        frames = max(work.frames, 1)
        side = image.width // frames  # a strip is judged by its first frame
        first = image.convert("RGB").crop((0, 0, side, image.height))
    distances = hamming_distances(codes, pdq256(first)) if len(codes) else np.empty(0)
    if not len(distances):
        return {"checked": False, "summary": "the training images are not available"}
    nearest = int(distances.argmin())
    distance, threshold = int(distances[nearest]), MatcherConfig().hash_threshold
    return {
        "checked": True,
        "nearest": names[nearest],
        "distance": distance,
        "threshold": threshold,
        "bits": PDQ_BITS,
        "near_copy": distance <= threshold,
        "summary": (
            f"nearest training image {names[nearest]!r} is {distance} of {PDQ_BITS} bits away "
            f"({'a near-copy' if distance <= threshold else 'not a copy'}: the registry "
            f"treats {threshold} or fewer as the same image)"
        ),
    }


def _training_codes(dataset: Dataset) -> tuple[tuple[str, ...], npt.NDArray[np.uint64]]:
    """The names and PDQ-style codes of a dataset's prepared images, cached beside them."""
    folder = dataset_folder(dataset) / "prepared"
    cache = folder / f"pdq256-{dataset.manifest_hash[:16]}.npz"
    try:
        with np.load(cache, allow_pickle=False) as stored:
            return tuple(str(n) for n in stored["names"]), stored["codes"].astype(np.uint64)
    except (OSError, ValueError, KeyError):
        pass
    try:
        prepared = load_prepared(folder)
    except GanError:
        return (), np.empty((0, PDQ_BITS // 64), dtype=np.uint64)
    pixels = prepared.images.permute(0, 2, 3, 1).numpy()  # (N, R, R, 3) uint8
    codes = np.stack([pdq256(Image.fromarray(image)) for image in pixels])
    partial = cache.with_name(f".{cache.name}.partial.npz")
    np.savez(partial, names=np.array(prepared.names), codes=codes)
    partial.replace(cache)
    return prepared.names, codes


@transaction.atomic
def work_set_favourite(*, owner: User, work: Work, favourite: bool) -> Work:
    """Mark or unmark a work as a favourite."""
    if work.owner_id != owner.pk:
        raise Forbidden("You can mark only your own works.")
    work.is_favourite = favourite
    work.save(update_fields=["is_favourite"])
    return work
