"""Importing a messy export through the pages: map, read every rejected row, fix, import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from insights.models import Sale, SalesDataset
from insights.services import mapping_guess

from accounts.models import Role, User

pytestmark = pytest.mark.django_db

MAPPING = {
    "name": "Hong Kong evening sale",
    "col_artist": "Artist",
    "col_title": "Title",
    "col_sale_date": "Date of sale",
    "col_price": "Hammer price",
    "col_estimate": "Estimate",
    "col_dimensions": "Size",
    "col_medium": "Medium",
    "col_lot": "Lot",
    "base_currency": "HKD",
    "decimal": ".",
}


def _upload(client: Client, export: SimpleUploadedFile) -> str:
    response = client.post(reverse("insights:import"), {"file": export})
    assert response.status_code == 302, response.content.decode()
    return str(response["Location"])


def test_the_mapping_step_shows_the_files_headers_rows_and_guesses(
    client: Client, analyst: User, messy_export: SimpleUploadedFile
) -> None:
    client.force_login(analyst)
    page = client.get(_upload(client, messy_export))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Date of sale" in html
    assert "Abstraction" in html
    form = page.context["form"]
    assert form["col_artist"].value() == "Artist"
    assert form["col_lot"].value() == "Lot"
    assert form["col_estimate"].value() == "Estimate"
    assert form["col_dimensions"].value() == "Size"


def test_guessing_matches_names_ignoring_case_and_usual_synonyms() -> None:
    guess = mapping_guess(["ARTIST", "Sale Date", "Price Realised", "low estimate", "Width"])

    assert guess == {
        "artist": "ARTIST",
        "sale_date": "Sale Date",
        "price": "Price Realised",
        "low_estimate": "low estimate",
        "width": "Width",
    }


def test_a_bad_mapping_lists_every_rejected_row_and_stores_nothing_then_the_fix_imports(
    client: Client, analyst: User, messy_export: SimpleUploadedFile
) -> None:
    client.force_login(analyst)
    address = _upload(client, messy_export)

    checked = client.post(address, {**MAPPING, "action": "check"})
    html = checked.content.decode()
    assert checked.status_code == 200
    problems = checked.context["report"]["problems"]
    assert {(p["line"], p["column"]) for p in problems} >= {
        (2, "Date of sale"),
        (4, "Date of sale"),
        (2, "Hammer price"),
    }
    assert "set dayfirst = true" in html
    assert "no currency" in html

    refused = client.post(address, {**MAPPING, "action": "import"})
    assert refused.status_code == 400
    assert "nothing was stored" in refused.content.decode()
    assert len(refused.context["report"]["problems"]) == len(problems)
    assert not SalesDataset.objects.exists()
    assert not Sale.objects.exists()

    fixed = {**MAPPING, "default_currency": "HKD", "dayfirst": "on"}
    clean = client.post(address, {**fixed, "action": "check"})
    assert clean.context["report"]["problems"] == []
    assert clean.context["report"]["imported"] == 3

    imported = client.post(address, {**fixed, "action": "import"})
    dataset = SalesDataset.objects.get()
    assert imported["Location"] == reverse("insights:dataset", args=[dataset.pk])
    assert dataset.base_currency == "HKD"
    lots = {sale.title: sale for sale in dataset.sales.all()}
    assert lots["Abstraction"].price == 1_200_000
    assert lots["Abstraction"].low_estimate == 800_000
    assert lots["Abstraction"].height == 85.5
    assert lots["Abstraction"].width == 43
    assert str(lots["Abstraction"].sale_date) == "2021-05-13"
    assert lots["Untitled II"].sold is False
    assert lots["Untitled II"].price is None
    assert client.get(address).status_code == 404  # the upload is gone once imported


def test_an_unreadable_file_is_refused_at_upload(client: Client, analyst: User) -> None:
    client.force_login(analyst)
    latin1 = SimpleUploadedFile("old.csv", "Artist,Title\nCézanne,Pommes\n".encode("cp1252"))

    response = client.post(reverse("insights:import"), {"file": latin1})

    assert response.status_code == 400
    assert "not in a supported encoding" in response.content.decode()


@pytest.mark.parametrize("role", [Role.ARTIST, Role.GALLERY])
def test_artists_and_galleries_are_refused(
    client: Client, make_user: Callable[..., User], role: Role
) -> None:
    client.force_login(make_user(role))

    for name, args in [("insights:index", []), ("insights:import", []), ("insights:dataset", [1])]:
        assert client.get(reverse(name, args=args)).status_code == 403


def test_staff_may_use_insights(client: Client, staff: User) -> None:
    client.force_login(staff)

    assert client.get(reverse("insights:index")).status_code == 200


def test_analysts_see_only_their_own_datasets(
    client: Client, make_user: Callable[..., User], analyst: User, **_: Any
) -> None:
    other = make_user(Role.ANALYST)
    dataset = SalesDataset.objects.create(owner=other, name="Theirs", base_currency="USD")
    client.force_login(analyst)

    assert client.get(reverse("insights:dataset", args=[dataset.pk])).status_code == 404
