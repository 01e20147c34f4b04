"""Reads for people and their API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiToken, User
from accounts.services import TOKEN_PREFIX, api_token_digest


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """A person's tokens, newest first, revoked ones included."""
    return ApiToken.objects.filter(user=user)


def api_token_lookup(*, plain: str) -> ApiToken | None:
    """The usable token matching a presented bearer token, with its active owner, or None."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=api_token_digest(plain), user__is_active=True)
        .first()
    )
    return token if token is not None and token.is_usable else None
