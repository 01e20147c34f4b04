"""Domain errors: raised by services and selectors, turned into HTTP answers in one place each
for the API (core.api.exception_handler) and the pages (core.middleware.DomainErrorMiddleware)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A failure a person can act on; `message` says what was wrong and what to do."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    """The input breaks a rule of the domain."""


class NotFound(DomainError):
    """The thing asked for does not exist, or is not the caller's to see."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, a finished job)."""

    status = 409
    code = "conflict"


class Throttled(DomainError):
    """Too many attempts in a short time; wait and try again."""

    status = 429
    code = "throttled"


class Unavailable(DomainError):
    """A part the request needs (broker, chain) is not answering; try again later."""

    status = 503
    code = "unavailable"
