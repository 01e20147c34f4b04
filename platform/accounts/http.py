"""The signed-in person behind a request, for views: services take the person, never the request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.request import Request

from accounts.models import Role, User

View = Callable[..., HttpResponseBase]


def signed_in(request: HttpRequest | Request) -> User:
    """The request's person; views call it behind a sign-in check, so a visitor here is a bug."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def role_required(role: Role, *, refusal: str) -> Callable[[View], View]:
    """A view decorator: signed-in people of `role` (and staff) only; others get a 403 with why."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = signed_in(request)
            if not user.acts_as(role):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return guarded

    return decorate
