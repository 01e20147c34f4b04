"""Sign-up, sign-in, sign-out: right statuses, plain messages, nothing stored on failure."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from tests.platform.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_up_creates_the_account_with_its_role_and_signs_in(client: Client) -> None:
    response = client.post(
        reverse("accounts:signup"),
        {
            "username": "monet",
            "email": "claude@example.org",
            "role": "artist",
            "password": PASSWORD,
        },
    )

    assert response.status_code == 302
    user = User.objects.get(username="monet")
    assert user.role == Role.ARTIST
    assert user.check_password(PASSWORD)
    assert client.get(reverse("core:home"), follow=True).context["user"] == user


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": "x", "role": "artist", "password": "123"}, "too short"),
        ({"username": "x", "role": "staff", "password": PASSWORD}, "Select a valid choice"),
        (
            {"username": "bad name!", "role": "artist", "password": PASSWORD},
            "Enter a valid username",
        ),
    ],
)
def test_invalid_sign_up_answers_400_and_stores_nothing(
    client: Client, form: dict[str, str], message: str
) -> None:
    response = client.post(reverse("accounts:signup"), form)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_sign_up_with_a_taken_username_says_so(
    client: Client, make_user: Callable[..., User]
) -> None:
    make_user(Role.ANALYST, username="pissarro")

    response = client.post(
        reverse("accounts:signup"), {"username": "pissarro", "role": "artist", "password": PASSWORD}
    )

    assert response.status_code == 400
    assert "That username is taken." in response.content.decode()
    assert User.objects.get(username="pissarro").role == Role.ANALYST


def test_sign_in_with_the_right_password_lands_on_the_role_home(
    client: Client, artist: User
) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": artist.username, "password": PASSWORD}, follow=True
    )

    assert response.status_code == 200
    assert "studio/index.html" in [t.name for t in response.templates]  # an artist's home


@pytest.mark.parametrize("username", ["nobody", None])
def test_unknown_user_or_wrong_password_answers_401_with_one_plain_message(
    client: Client, artist: User, username: str | None
) -> None:
    response = client.post(
        reverse("accounts:login"),
        {"username": username or artist.username, "password": "wrong password"},
    )

    assert response.status_code == 401
    assert "Unknown username or wrong password." in response.content.decode()
    artist.refresh_from_db()
    assert artist.last_login is None
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post_and_ends_the_session(client: Client, artist: User) -> None:
    client.force_login(artist)

    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_pages_for_signed_in_people_send_visitors_to_sign_in(client: Client) -> None:
    response = client.get(reverse("core:job-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_staff_pages_are_forbidden_to_other_roles_with_a_plain_message(
    client: Client, artist: User
) -> None:
    client.force_login(artist)

    selftest = client.post(reverse("core:selftest"), {"queue": "default"})
    admin = client.get("/admin/")

    assert selftest.status_code == 403
    assert "Only staff run worker self-tests." in selftest.content.decode()
    assert admin.status_code == 302
    assert "/admin/login/" in admin["Location"]


def test_an_unknown_page_is_a_plain_404(client: Client) -> None:
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "There is no page at /no/such/page/." in response.content.decode()


@pytest.mark.parametrize(
    ("role", "label"),
    [
        (Role.ARTIST, "Studio"),
        (Role.ANALYST, "Market"),
        (Role.GALLERY, "Authenticity desk"),
        (Role.STAFF, "Operations"),
    ],
)
def test_each_role_gets_its_home_and_navigation(
    client: Client, make_user: Callable[..., User], role: Role, label: str
) -> None:
    client.force_login(make_user(role))

    page = client.get(reverse("core:home"), follow=True).content.decode()

    assert f"<h1>{label}</h1>" in page
    assert ('href="/admin/"' in page) == (role == Role.STAFF)


def test_repeated_failed_sign_ins_are_throttled_even_with_the_right_password(
    client: Client, artist: User
) -> None:
    from accounts.services import SIGN_IN_FAILURES_ALLOWED

    for _ in range(SIGN_IN_FAILURES_ALLOWED):
        wrong = {"username": artist.username, "password": "guess"}
        assert client.post(reverse("accounts:login"), wrong).status_code == 401

    right = {"username": artist.username, "password": PASSWORD}
    response = client.post(reverse("accounts:login"), right)

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_forgets_earlier_failures(client: Client, artist: User) -> None:
    from accounts.services import SIGN_IN_FAILURES_ALLOWED

    for _ in range(SIGN_IN_FAILURES_ALLOWED - 1):
        client.post(reverse("accounts:login"), {"username": artist.username, "password": "guess"})
    client.post(reverse("accounts:login"), {"username": artist.username, "password": PASSWORD})
    client.logout()

    response = client.post(
        reverse("accounts:login"), {"username": artist.username, "password": "x"}
    )

    assert response.status_code == 401
