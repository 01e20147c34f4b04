"""`manage.py load_demo_data`: one demo person per role, for trying the platform locally."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import user_create
from core.cli import progress_bar

DEMO_PASSWORD = "atelier-demo"  # noqa: S105 (development only: the command refuses production)
DEMO_USERS = (
    ("artist", Role.ARTIST, "Ada Artist"),
    ("analyst", Role.ANALYST, "Ana Analyst"),
    ("gallery", Role.GALLERY, "Gil Gallery"),
    ("staff", Role.STAFF, "Sam Staff"),
)


class Command(BaseCommand):
    """Creates the demo people (idempotent); refuses to run in production."""

    help = "Create one demo user per role (password: atelier-demo). Development and tests only."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("load_demo_data refuses to run with DJANGO_ENV=production.")
        created = []
        for username, role, display_name in progress_bar(DEMO_USERS, description="demo users"):
            if User.objects.filter(username=username).exists():
                continue
            user_create(
                username=username,
                email=f"{username}@example.org",
                password=DEMO_PASSWORD,
                role=role,
                display_name=display_name,
            )
            created.append(username)
        self.stdout.write(f"{len(created)} demo users created.")
        logins = ", ".join(username for username, *_ in DEMO_USERS)
        self.stdout.write(f"Demo logins: {logins} (password: {DEMO_PASSWORD})")
