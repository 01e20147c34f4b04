"""Template context every page gets."""

from __future__ import annotations

from django.http import HttpRequest

from core.navigation import nav_for


def navigation(request: HttpRequest) -> dict[str, object]:
    """The signed-in person's navigation links (none for visitors)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": []}
    return {"nav_links": nav_for(user)}
