"""Writes for people and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import SELF_SERVICE_ROLES, ApiToken, Role, User
from core.errors import Conflict, InvalidInput, NotFound, Throttled

SIGN_IN_FAILURES_ALLOWED = 10
SIGN_IN_WINDOW_SECONDS = 15 * 60
TOKEN_PREFIX = "atl_"  # noqa: S105 (a marker, not a secret)
MAX_TOKEN_DAYS = 3650


@transaction.atomic
def user_create(
    *, username: str, email: str, password: str, role: Role | str, display_name: str = ""
) -> User:
    """A new person with a validated password; any role (staff included: callers decide who may)."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; choose one of: {', '.join(Role.values)}.")
    user = User(username=username, email=email, role=role, display_name=display_name)
    problems: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password", "last_login"])
    except ValidationError as error:
        problems |= error.message_dict
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        problems["password"] = error.messages
    if problems:
        summary = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in problems.items())
        raise InvalidInput(summary, details=problems)
    user.set_password(password)
    try:
        user.save()
    except IntegrityError as error:  # two sign-ups racing for one name
        raise Conflict(f"The username {username!r} is taken.") from error
    return user


def user_sign_up(*, username: str, email: str, password: str, role: Role | str) -> User:
    """A person signing themselves up, as an artist, analyst or gallery (never staff)."""
    if role not in SELF_SERVICE_ROLES:
        choices = ", ".join(str(r) for r in SELF_SERVICE_ROLES)
        raise InvalidInput(f"Role {role!r} cannot be chosen at sign-up; choose one of: {choices}.")
    return user_create(username=username, email=email, password=password, role=role)


def api_token_digest(token: str) -> str:
    """The SHA-256 kept in place of a token (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new API token for a person; the plain token is returned here and never again."""
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name that says what it is for.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"expires_in_days={expires_in_days} must be 1 to {MAX_TOKEN_DAYS}.")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=plain[:12],
        digest=api_token_digest(plain),
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return token, plain


@transaction.atomic
def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Revoke one of a person's tokens; it stops working at once."""
    try:
        token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    except ApiToken.DoesNotExist:
        raise NotFound(f"You have no API token with id {token_id}.") from None
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record a token's use, at most once a minute (a write per request would be wasteful)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _sign_in_key(username: str, client: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}|{client}".encode()).hexdigest()
    return f"sign-in-failures:{digest}"


def sign_in_throttle_check(*, username: str, client: str) -> None:
    """Refuse a sign-in for a name from an address that failed too often in the last minutes."""
    if cache.get(_sign_in_key(username, client), 0) >= SIGN_IN_FAILURES_ALLOWED:
        minutes = SIGN_IN_WINDOW_SECONDS // 60
        raise Throttled(
            f"Too many failed sign-ins for {username!r}; wait {minutes} minutes and try again."
        )


def sign_in_failure_record(*, username: str, client: str) -> None:
    """Count a failed sign-in; the count expires SIGN_IN_WINDOW_SECONDS after the first."""
    key = _sign_in_key(username, client)
    cache.add(key, 0, timeout=SIGN_IN_WINDOW_SECONDS)
    cache.incr(key)


def sign_in_failures_clear(*, username: str, client: str) -> None:
    """Forget the failures once the person signs in."""
    cache.delete(_sign_in_key(username, client))
