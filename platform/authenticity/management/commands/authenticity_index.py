"""`manage.py authenticity_index`: fingerprint every registered image that has none yet.

Verifications index new images as they go; this backfills at once (after a restore, or a bulk
import of works), so the first checks do not pay for it. `--reprint` remakes prints written by an
older version (format 1 listed keypoints in OpenCV's order; the shortlist keeps each work's
first few and wants them spread over the image).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from authenticity.fingerprints import fingerprints_reprint, fingerprints_sync


class Command(BaseCommand):
    """Indexes works and certified uploads lacking a fingerprint, in batches."""

    help = "Fingerprint every registered image that has no fingerprint yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reprint", action="store_true", help="remake prints written in an older format"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reprint"]:
            remade = fingerprints_reprint()
            self.stdout.write(f"Remade {remade} print{'' if remade == 1 else 's'}.")
        total = fingerprints_sync(rescan=True)  # from the first work, not this process's floor
        while done := fingerprints_sync():
            total += done
            self.stdout.write(f"Indexed {total} so far.")
        self.stdout.write(f"Indexed {total} registered image{'' if total == 1 else 's'}.")
