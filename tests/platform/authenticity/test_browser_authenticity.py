"""In a real browser, against anvil: a gallery verifies a recompressed, resized copy of a minted
work and reads the work, its artist, its token and its lineage; an unregistered painting gets
"no match"."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from registry import tasks
from registry.models import MintState
from registry.services import (
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
)
from studio.models import Work

from accounts.models import Role, User
from tests.platform import test_browser
from tests.platform.authenticity.conftest import RegistryChain, jpeg_copy, monets, painting

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.django_db(transaction=True)]

browser = test_browser.browser
page = test_browser.page

PISSARRO = "camille_pissarro_0001_the-hill-at-jallais-pontoise-1875.jpg"


def test_a_gallery_identifies_a_copy_of_a_minted_work_and_an_unregistered_painting(
    page: Page,
    live_server: object,
    registry_chain: RegistryChain,
    make_user: Callable[..., User],
    make_painting_work: Callable[..., Work],
    tmp_path: Path,
) -> None:
    artist = make_user(Role.ARTIST, username="hiroko")
    gallery = make_user(Role.GALLERY)
    works = [make_painting_work(artist, path, seed=n) for n, path in enumerate(monets(8), 1)]
    work = works[2]
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificate = certificate_prepare(
        owner=artist, wallet=wallet, work=work, title="Morning on the Seine", royalty_bps=500
    )
    certificate_sign_custodial(certificate=certificate, owner=artist)
    mint = mint_request(certificate=certificate, owner=artist)
    tasks.mint.run(str(mint.job_id))
    mint.refresh_from_db()
    assert mint.state == MintState.CONFIRMED, mint.error
    with work.image.open("rb") as stored:
        copy = tmp_path / "seen-at-a-fair.jpg"
        copy.write_bytes(jpeg_copy(stored.read(), scale=0.6, quality=55))

    test_browser._sign_in(page, str(live_server), gallery)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verify").click()
    page.get_by_label("Image").set_input_files(copy)
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Probably a registered work")
    expect(page.locator("#work-title")).to_have_text("Morning on the Seine")
    expect(page.locator("#work-artist")).to_have_text("hiroko")
    expect(page.locator("#token")).to_contain_text(f"#{mint.token_id}")
    expect(page.get_by_text(f"{work.seed} (truncation")).to_be_visible()
    expect(page.locator("#match")).to_contain_text(re.compile("global hash|local features"))
    pdf = page.get_by_role("link", name="PDF")
    answer = page.request.get(str(live_server) + (pdf.get_attribute("href") or ""))
    assert answer.body().startswith(b"%PDF")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verify").click()
    page.get_by_label("Image").set_input_files(painting(PISSARRO))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("No match")
    expect(page.get_by_text("No registered work matches this image.")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verifications").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="seen-at-a-fair.jpg")).to_contain_text("Probably a registered work")
