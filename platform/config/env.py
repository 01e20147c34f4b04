"""Strict reading of the environment: every bad value stops start-up with the variable's name.

Only the settings module uses this; nothing else in the platform reads the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_DATABASE_SCHEMES = frozenset({"sqlite", "postgres", "postgresql", "pgsql", "psql"})
_BROKER_SCHEMES = frozenset({"filesystem", "redis", "rediss", "amqp", "amqps", "pyamqp"})
_UNSET: Any = object()


class Environment:
    """Typed, validated access to environment variables; errors name the variable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def _raw(self, name: str, default: Any) -> str | Any:
        value = self._values.get(name)
        if value is None or value == "":
            if default is _UNSET:
                raise ImproperlyConfigured(
                    f"{name} is required but not set; see .env.example for what it means."
                )
            return default
        return value

    def text(self, name: str, default: Any = _UNSET) -> Any:
        """A string; required unless a default is given."""
        return self._raw(name, default)

    def flag(self, name: str, *, default: bool) -> bool:
        """A boolean written as 1/0, true/false, yes/no or on/off; anything else is an error."""
        raw = self._raw(name, None)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a boolean; use 1/0, true/false or on/off."
        )

    def integer(self, name: str, *, default: int, minimum: int, maximum: int) -> int:
        """An integer within [minimum, maximum]."""
        raw = self._raw(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
        if not minimum <= value <= maximum:
            raise ImproperlyConfigured(f"{name}={value} is outside {minimum}..{maximum}.")
        return value

    def choice(self, name: str, choices: Sequence[str], *, default: str) -> str:
        """One of a fixed set of words."""
        value: str = self._raw(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
        return value

    def items(self, name: str, *, default: Sequence[str] = ()) -> list[str]:
        """A comma-separated list; blanks are dropped."""
        raw = self._raw(name, None)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def path(self, name: str, *, default: Path) -> Path:
        """A filesystem path, made absolute."""
        raw = self._raw(name, None)
        return Path(raw).expanduser().resolve() if raw is not None else default

    def database(self, name: str, *, default: str | None) -> dict[str, Any]:
        """A database URL (sqlite:///PATH, postgres://…) as settings; required without a default."""
        raw = self._raw(name, _UNSET if default is None else default)
        scheme = urlsplit(raw).scheme
        if scheme not in _DATABASE_SCHEMES:
            raise ImproperlyConfigured(
                f"{name}={_redact(raw)!r} has scheme {scheme!r}; use sqlite:///PATH or "
                "postgres://USER:PASSWORD@HOST:PORT/NAME."
            )
        config: dict[str, Any] = environ.Env.db_url_config(raw)
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name}={_redact(raw)!r} names no database.")
        return config

    def broker(self, name: str, *, default: str | None) -> str:
        """A Celery broker URL (filesystem://, redis://…, amqp://…); required if no default."""
        raw: str = self._raw(name, _UNSET if default is None else default)
        scheme = urlsplit(raw).scheme
        if scheme not in _BROKER_SCHEMES:
            raise ImproperlyConfigured(
                f"{name}={_redact(raw)!r} has scheme {scheme!r}; use one of "
                f"{', '.join(sorted(_BROKER_SCHEMES))}."
            )
        return raw

    def url(self, name: str, *, schemes: Sequence[str]) -> str | None:
        """An optional URL whose scheme is one of `schemes`."""
        raw = self._raw(name, None)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ImproperlyConfigured(
                f"{name}={_redact(raw)!r} is not a URL of the form {schemes[0]}://host:port."
            )
        return str(raw)


def _redact(url: str) -> str:
    """The URL with any password replaced, fit for an error message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def local_secret_key(path: Path) -> str:
    """A secret key for development and tests, made once and kept (owner-only) in the var folder."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(50))
    try:
        # A hard link never replaces: of two processes starting together, the first one wins.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
