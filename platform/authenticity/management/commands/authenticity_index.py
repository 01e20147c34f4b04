"""`manage.py authenticity_index`: fingerprint every registered image that has none yet.

Verifications index new images as they go; this backfills at once (after a restore, or a bulk
import of works), so the first checks do not pay for it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from authenticity.fingerprints import fingerprints_sync


class Command(BaseCommand):
    """Indexes works and certified uploads lacking a fingerprint, in batches."""

    help = "Fingerprint every registered image that has no fingerprint yet."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        while done := fingerprints_sync():
            total += done
            self.stdout.write(f"Indexed {total} so far.")
        self.stdout.write(f"Indexed {total} registered image{'' if total == 1 else 's'}.")
