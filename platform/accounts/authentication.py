"""API authentication by bearer token (`Authorization: Bearer atl_…`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.selectors import api_token_lookup
from accounts.services import api_token_touch


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a request by one of the person's API tokens."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        """The token's owner, None when no bearer token is presented, or 401 for a bad one."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; send `Authorization: Bearer <token>`."
            )
        token = api_token_lookup(plain=header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Unknown, revoked or expired API token; create a new one on your account page."
            )
        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        """Makes unauthenticated answers 401 with a WWW-Authenticate header."""
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes the bearer token in the OpenAPI schema (drf-spectacular finds subclasses)."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """An HTTP bearer scheme."""
        return {"type": "http", "scheme": "bearer", "bearerFormat": "atl_…"}
