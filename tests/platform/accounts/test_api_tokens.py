"""API tokens: made once and shown once, stored hashed, revocable, and the API's only credential."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_digest
from tests.platform.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_api_calls_and_only_its_hash_is_stored(
    api: APIClient, artist: User
) -> None:
    token, plain = api_token_create(user=artist, name="laptop")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")

    response = api.get(reverse("api:me"))

    assert response.status_code == 200
    assert response.json()["username"] == artist.username
    assert response.json()["role"] == "artist"
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == api_token_digest(plain) != plain
    assert plain not in str(ApiToken.objects.values().get(pk=token.pk))
    assert stored.last_used_at is not None


def test_password_exchange_gives_a_token_and_a_wrong_password_gives_401(
    api: APIClient, artist: User
) -> None:
    good = api.post(
        reverse("api:token-obtain"),
        {"username": artist.username, "password": PASSWORD, "name": "cli"},
    )
    bad = api.post(reverse("api:token-obtain"), {"username": artist.username, "password": "nope"})

    assert good.status_code == 201
    assert good.json()["token"].startswith("atl_")
    assert bad.status_code == 401
    assert bad.json()["error"]["message"] == "Unknown username or wrong password."
    assert ApiToken.objects.filter(user=artist).count() == 1


def test_a_revoked_token_stops_working_at_once(api: APIClient, artist: User) -> None:
    _, plain = api_token_create(user=artist, name="old")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    token_id = api.get(reverse("api:token-list")).json()[0]["id"]

    assert api.delete(reverse("api:token-revoke", args=[token_id])).status_code == 200
    response = api.get(reverse("api:me"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "revoked or expired" in response.json()["error"]["message"]


def test_a_token_is_listed_without_its_secret(api: APIClient, artist: User) -> None:
    api.force_authenticate(artist)

    created = api.post(reverse("api:token-list"), {"name": "ci", "expires_in_days": 30}).json()
    listed = api.get(reverse("api:token-list")).json()

    assert created["token"].startswith(created["prefix"])
    assert listed[0]["prefix"] == created["prefix"]
    assert "token" not in listed[0]
    assert "digest" not in listed[0]


def test_someone_elses_token_cannot_be_revoked(api: APIClient, artist: User, staff: User) -> None:
    token, _ = api_token_create(user=staff, name="ops")
    api.force_authenticate(artist)

    response = api.delete(reverse("api:token-revoke", args=[token.pk]))

    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_tokens_page_shows_a_new_token_once(client: Client, artist: User) -> None:
    client.force_login(artist)

    created = client.post(reverse("accounts:tokens"), {"name": "notebook"})
    again = client.get(reverse("accounts:tokens"))

    plain = created.context["new_token"]
    assert plain.startswith("atl_")
    assert plain in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert plain not in again.content.decode()


def test_the_tokens_page_rejects_a_nameless_token_with_400(client: Client, artist: User) -> None:
    client.force_login(artist)

    response = client.post(reverse("accounts:tokens"), {"name": ""})

    assert response.status_code == 400
    assert not ApiToken.objects.exists()
