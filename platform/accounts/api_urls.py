"""API addresses of the accounts app, under /api/v1/."""

from django.urls import path

from accounts import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
    path("auth/token/", apis.TokenObtainApi.as_view(), name="token-obtain"),
    path("tokens/", apis.TokenListApi.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", apis.TokenRevokeApi.as_view(), name="token-revoke"),
]
