"""In a real browser (Debian's Chromium driven by Playwright): each role signs in and sees its
navigation; staff start a self-test and watch its progress bar fill as a real worker runs it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accounts.models import Role, User
from tests.platform.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium package.")
    # Playwright's sync API keeps an event loop in this thread while the browser is open; the
    # tests' own ORM calls (and pytest-django's database teardown) are still plain synchronous
    # code, so Django's guard against ORM calls from async code must stand aside meanwhile.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


NAVIGATION = {
    Role.ARTIST: ["Studio", "Registry", "Jobs", "API tokens", "API docs"],
    Role.ANALYST: ["Market", "Insights", "Jobs", "API tokens", "API docs"],
    Role.GALLERY: [
        "Authenticity desk",
        "Verify",
        "Verifications",
        "Jobs",
        "API tokens",
        "API docs",
    ],
    Role.STAFF: [
        "Operations",
        "Insights",
        "Verify",
        "Verifications",
        "Jobs",
        "API tokens",
        "API docs",
        "Health",
        "Admin",
    ],
}


@pytest.mark.parametrize("role", list(NAVIGATION))
def test_each_role_signs_in_and_sees_its_navigation(
    page: Page, live_server: object, make_user: Callable[..., User], role: Role
) -> None:
    user = make_user(role)

    _sign_in(page, str(live_server), user)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(NAVIGATION[role])
    expect(page.get_by_role("heading", level=1)).to_have_text(NAVIGATION[role][0])
    expect(page.locator(".role")).to_have_text(role.label)


def test_a_wrong_password_shows_a_plain_message(
    page: Page, live_server: object, make_user: Callable[..., User]
) -> None:
    user = make_user(Role.GALLERY)
    page.goto(f"{live_server}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("not the password")

    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()

    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("Unknown username or wrong password.")


@pytest.mark.worker
def test_staff_watch_a_selftest_progress_bar_fill_as_the_worker_runs_it(
    page: Page,
    live_server: object,
    make_user: Callable[..., User],
    filesystem_worker: subprocess.Popen[bytes],
) -> None:
    _sign_in(page, str(live_server), make_user(Role.STAFF))

    page.get_by_label("Queue").select_option("default")
    page.get_by_role("button", name="Run self-test").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Selftest job")
    expect(page.locator("#job-state")).to_have_text("Succeeded", timeout=90_000)
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    expect(page.locator("#job-log")).to_contain_text("Database")
    expect(page.locator("#job-cancel")).to_have_count(0)


@pytest.mark.worker
def test_an_artist_uploads_a_zip_trains_and_sees_works_appear(
    page: Page,
    live_server: object,
    make_user: Callable[..., User],
    filesystem_worker: subprocess.Popen[bytes],
    portfolio_zip: Callable[..., Any],
    tmp_path: Path,
) -> None:
    archive = tmp_path / "fuji.zip"
    archive.write_bytes(portfolio_zip(10).read())
    _sign_in(page, str(live_server), make_user(Role.ARTIST))

    page.get_by_role("link", name="Upload a portfolio").click()
    page.get_by_label("Name").fill("Mount Fuji")
    page.get_by_label("Images").set_input_files(archive)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mount Fuji")
    expect(page.get_by_role("button", name="Start training")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("cell", name="broken.jpg")).to_be_visible()

    page.get_by_label("Preset").select_option("sketch")
    page.get_by_label("Steps").fill("40")
    page.get_by_label("Works to generate when done").fill("4")
    page.get_by_role("button", name="Start training").click()

    bar = page.locator("#job-progress")
    expect(bar).to_be_visible()
    seen: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the bar moves as the worker trains; then a reload
        if page.get_by_role("link", name="Open the model and generate works").count():
            break
        if bar.count():
            seen.add(bar.get_attribute("value") or "")
        page.wait_for_timeout(250)
    assert len(seen - {"0", "100", ""}) >= 1, f"the bar never showed a step in between: {seen}"

    page.get_by_role("link", name="Open the model and generate works").click()
    expect(page.locator(".works img")).to_have_count(4)
    page.get_by_role("link", name="Studio").click()
    expect(page.locator(".works img").first).to_be_visible()
