"""`manage.py insights_sweep_uploads`: delete auction exports uploaded but never imported.

Every new upload sweeps too; run this from cron where uploads are rare.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from insights.services import uploads_sweep


class Command(BaseCommand):
    """Removes uploads older than INSIGHTS_UPLOAD_TTL_SECONDS (or --older-than seconds)."""

    help = "Delete auction exports left in the mapping step for longer than the upload TTL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="default: INSIGHTS_UPLOAD_TTL_SECONDS",
        )

    def handle(self, *args: Any, older_than: float | None, **options: Any) -> None:
        removed = uploads_sweep(older_than=older_than)
        self.stdout.write(f"Removed {removed} abandoned upload{'' if removed == 1 else 's'}.")
