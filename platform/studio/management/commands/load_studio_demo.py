"""`manage.py load_studio_demo`: the demo artist's portfolio, prepared, and a training run queued.

Uses real paintings from ../shared/data (Hokusai's Thirty-six Views of Mount Fuji by default).
The run is small enough for a CPU worker to finish in a few minutes, and generates works when
it ends, so a fresh `make run` shows training progress, then a model and its works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from core.progress import run_job
from studio.models import Dataset
from studio.services import dataset_create, dataset_prepare, run_create

DEFAULT_PAINTINGS = Path(settings.REPO_DIR).parent / "shared" / "data" / "paintings"


class Command(BaseCommand):
    """Creates the demo dataset and run for the `artist` demo user (once)."""

    help = "Give the demo artist a prepared portfolio and a queued training run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, default=DEFAULT_PAINTINGS / "katsushika_hokusai")
        parser.add_argument("--steps", type=int, default=400)

    def handle(self, *args: Any, folder: Path, steps: int, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("load_studio_demo refuses to run with DJANGO_ENV=production.")
        artist = User.objects.filter(username="artist").first()
        if artist is None:
            raise CommandError("There is no demo user `artist`; run load_demo_data first.")
        if Dataset.objects.filter(owner=artist).exists():
            self.stdout.write("The demo artist already has a portfolio.")
            return
        paths = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not paths:
            self.stdout.write(f"No paintings at {folder}; the studio demo is skipped.")
            return
        files = [File(path.open("rb"), name=path.name) for path in paths]
        try:
            dataset = dataset_create(
                owner=artist,
                name=folder.name.replace("_", " ").title(),
                resolution=64,
                uploads=files,
            )
        finally:
            for file in files:
                file.close()
        assert dataset.job is not None
        # Prepared here and now (seconds), so the run can be queued at once; the worker finds
        # the preparation job already done when its message arrives.
        run_job(
            dataset.job.pk,
            lambda progress: dataset_prepare(dataset_id=dataset.pk, progress=progress),
        )
        dataset.refresh_from_db()
        run = run_create(
            owner=artist, dataset=dataset, preset="sketch", steps=steps, works_on_finish=16
        )
        self.stdout.write(
            f"Demo portfolio {dataset.name!r}: {dataset.image_count} images; "
            f"training run {run.pk} queued ({steps} steps, then 16 works)."
        )
