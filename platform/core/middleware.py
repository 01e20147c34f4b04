"""Turns domain errors raised under a page view into a plain page with the right status."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import DomainError


class DomainErrorMiddleware:
    """Renders `core/error.html` for a DomainError a page view let through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A plain page for domain errors; anything else goes on to Django's handlers."""
        if not isinstance(exception, DomainError):
            return None
        context = {
            "title": exception.code.replace("_", " ").capitalize(),
            "message": exception.message,
        }
        return render(request, "core/error.html", context, status=exception.status)
