"""The API's one error format, and the permission classes views share.

Every error answer looks like:
    {"error": {"status": 404, "code": "not_found", "message": "…", "details": {…}}}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def error_body(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error format shared by every API answer that is not a success."""
    return {"error": {"status": status, "code": code, "message": message, "details": details or {}}}


def exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    """Turn domain errors and DRF's own exceptions into the one error format."""
    if isinstance(error, DomainError):
        body = error_body(error.status, error.code, error.message, error.details)
        return Response(body, status=error.status)
    if isinstance(error, Http404):
        error = exceptions.NotFound(str(error) or "Not found.")
    elif isinstance(error, PermissionDenied):
        error = exceptions.PermissionDenied(str(error) or None)
    response = drf_exception_handler(error, context)
    if response is None:
        return None  # unexpected: Django logs it and answers 500 (see json_server_error)
    assert isinstance(error, exceptions.APIException)
    if isinstance(error, exceptions.ValidationError):
        message, details = _validation_summary(error.detail), error.detail
    else:
        message, details = str(error.detail), {}
    response.data = error_body(response.status_code, _code(error), message, details)
    return response


def _code(error: exceptions.APIException) -> str:
    codes = error.get_codes()
    return codes if isinstance(codes, str) else error.default_code


def _validation_summary(detail: Any) -> str:
    """One readable sentence out of a serializer's nested field errors."""
    if isinstance(detail, dict):
        parts = [f"{field}: {_validation_summary(value)}" for field, value in detail.items()]
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_validation_summary(item) for item in detail)
    return str(detail)


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for an unknown API address, in the API's format."""
    body = error_body(404, "not_found", f"No API endpoint at {request.path}.")
    return JsonResponse(body, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """500 in the API's format; the details go to the log, not to the caller."""
    body = error_body(500, "server_error", "Something went wrong on our side; it has been logged.")
    return JsonResponse(body, status=500)


class HasRole(permissions.BasePermission):
    """Allows people whose role is one of `roles` (staff always pass). Use `HasRole.of(...)`."""

    roles: frozenset[str] = frozenset()
    message = "Your role may not use this endpoint."

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        """A permission class admitting these roles."""
        return type(f"HasRole_{'_'.join(roles)}", (cls,), {"roles": frozenset(roles)})

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Whether the signed-in person's role is admitted."""
        user = request.user
        return bool(user and user.is_authenticated and (user.is_staff or user.role in self.roles))
