"""API endpoints for the signed-in person and their tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.http import signed_in
from accounts.models import ApiToken
from accounts.selectors import api_token_list
from accounts.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    CredentialsSerializer,
    MeSerializer,
    NewTokenSerializer,
)
from accounts.services import api_token_create, api_token_revoke


def _new_token_data(token: ApiToken, plain: str) -> dict[str, Any]:
    """A new token's public facts plus, this once, the token itself (see NewTokenSerializer)."""
    return {**ApiTokenSerializer(token).data, "token": plain}


class MeApi(APIView):
    """Who you are signed in as, and your role."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(signed_in(request)).data)


class TokenListApi(APIView):
    """Your API tokens; POST makes a new one (its token is in this answer only)."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = api_token_list(user=signed_in(request))
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: NewTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plain = api_token_create(user=signed_in(request), **serializer.validated_data)
        return Response(_new_token_data(token, plain), status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    """Revoke one of your tokens."""

    @extend_schema(request=None, responses=ApiTokenSerializer)
    def delete(self, request: Request, token_id: int) -> Response:
        token = api_token_revoke(user=signed_in(request), token_id=token_id)
        return Response(ApiTokenSerializer(token).data)


class TokenObtainApi(APIView):
    """Exchange a username and password for a new API token (rate-limited)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def get_authenticate_header(self, request: Request) -> str:
        """A failed exchange is a 401 that names the scheme to use next."""
        return 'Bearer realm="api"'

    @extend_schema(request=CredentialsSerializer, responses={201: NewTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            raise AuthenticationFailed("Unknown username or wrong password.")
        token, plain = api_token_create(
            user=user, name=data["name"], expires_in_days=data.get("expires_in_days")
        )
        return Response(_new_token_data(token, plain), status=status.HTTP_201_CREATED)
