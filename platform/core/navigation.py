"""The navigation each role sees: one table, read by the base layout."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from accounts.models import Role, User

EVERYONE = frozenset(Role.values)


@dataclass(frozen=True)
class NavItem:
    """A link in the top navigation, shown to the roles listed."""

    label: str
    url_name: str
    roles: frozenset[str] = EVERYONE


HOME_URLS = {Role.ARTIST: "studio:index"}  # roles whose home lives in their own app

HOME_LABELS = {
    Role.ARTIST: "Studio",
    Role.ANALYST: "Market",
    Role.GALLERY: "Authenticity desk",
    Role.STAFF: "Operations",
}

ITEMS = (
    NavItem("Registry", "registry:index", frozenset({Role.ARTIST})),
    NavItem("Insights", "insights:index", frozenset({Role.ANALYST, Role.STAFF})),
    NavItem("Verify", "authenticity:verify", frozenset({Role.GALLERY, Role.STAFF})),
    NavItem("Verifications", "authenticity:log", frozenset({Role.GALLERY, Role.STAFF})),
    NavItem("Jobs", "core:job-list"),
    NavItem("API tokens", "accounts:tokens"),
    NavItem("API docs", "api-docs"),
    NavItem("Health", "healthz", frozenset({Role.STAFF})),
    NavItem("Admin", "admin:index", frozenset({Role.STAFF})),
)


def nav_for(user: User) -> list[tuple[str, str]]:
    """(label, url) pairs for a signed-in person, their role's home first."""
    role = Role(user.role)
    home = (HOME_LABELS[role], reverse(HOME_URLS.get(role, "core:home")))
    return [home] + [
        (item.label, reverse(item.url_name)) for item in ITEMS if user.role in item.roles
    ]
