"""In a real browser (Debian's Chromium through Playwright), with a real worker on `default`: an
analyst imports a messy auction export (a wrong mapping first, whose report lists the rejected
row by its line, then the fix), opens the dataset's index chart for an artist, fits a hedonic
model and reads its backtest beside the estimate baselines, then downloads its forecasts CSV."""

from __future__ import annotations

import csv
import io
import random
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.platform import test_browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

# The Chromium and page of the platform's own browser tests.
browser = test_browser.browser
page = test_browser.page

HEADER = ["Artist", "Title", "Date of sale", "Hammer price", "Estimate", "Size", "Medium", "Lot"]
BAD_DATE_LINE = 20  # the one row whose day (25) is above 12: rejected unless read day first


def _messy_export(path: Path) -> Path:
    """80 lots of two artists over 2017-2021, written as a house would: day-first dates, prices
    with thousands separators and no currency, an estimate range in one column, sizes as text."""
    rng = random.Random(11)
    rows = []
    for i in range(80):
        artist = "Zao Wou-Ki" if i % 4 else "Chu Teh-Chun"
        year = 2017 + i * 5 // 80
        day = 25 if i + 2 == BAD_DATE_LINE else rng.randint(1, 12)
        height, width = rng.choice([(50, 40), (85.5, 43), (100, 81), (130, 97), (162, 130)])
        price = round(
            200_000
            * (height * width / 4000) ** 0.8
            * 1.15 ** (year - 2017)
            * rng.uniform(0.7, 1.4),
            -3,
        )
        low = round(price * rng.uniform(0.6, 1.0), -4)
        rows.append(
            [
                artist,
                f"Composition {i}",
                f"{day:02d}/{rng.randint(1, 12):02d}/{year}",
                f"{price:,.0f}",
                f"{low:,.0f} - {low * 1.5:,.0f}",
                f"{height} x {width} cm",
                rng.choice(["oil on canvas", "ink on paper"]),
                str(i + 1),
            ]
        )
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_an_analyst_imports_a_messy_export_draws_an_index_fits_and_downloads_forecasts(
    page: Page,
    live_server: object,
    analyst: User,
    filesystem_worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    export = _messy_export(tmp_path / "hk_sale.csv")
    test_browser._sign_in(page, str(live_server), analyst)

    # Step 1: upload.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insights").click()
    page.get_by_role("link", name="Import an auction export").click()
    page.get_by_label("Auction export").set_input_files(export)
    page.get_by_role("button", name="Upload and map the columns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Map the columns of hk_sale.csv")

    # Step 2, wrongly: price read from the estimate column, dates month first (the default).
    page.get_by_label("price:", exact=True).select_option("Estimate")
    page.get_by_label("Base currency").fill("HKD")
    page.get_by_label("Default currency").fill("HKD")
    page.get_by_role("button", name="Check the mapping").click()
    report = page.locator("#validation-report")
    expect(report).to_be_visible()
    problems = report.locator("table.problems tbody tr")
    bad_date = problems.filter(
        has=page.locator("td:nth-child(1)", has_text=re.compile(rf"^{BAD_DATE_LINE}$"))
    ).filter(has_text="Date of sale")
    expect(bad_date).to_have_count(1)
    expect(problems.filter(has_text="Estimate").first).to_be_visible()

    # Step 3: fix the mapping on the page, check again, import.
    page.get_by_label("price:", exact=True).select_option("Hammer price")
    page.get_by_label("Day first (12/05/2021 is 12 May)").check()
    page.get_by_role("button", name="Check the mapping").click()
    expect(report).to_contain_text("Every row reads.")
    expect(report).to_contain_text("80 would import, 0 rejected")
    page.get_by_role("button", name="Import every row").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("hk sale")
    expect(page.get_by_role("status")).to_contain_text("Imported 80 sales.")

    # The index chart of an artist with enough sales, and the table under it.
    artists = page.locator("section[aria-labelledby=artists] tbody tr")
    artists.filter(has_text="Zao Wou-Ki").get_by_role("link", name="hedonic").click()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("svg.chart")).to_contain_text("Zao Wou-Ki")
    expect(page.locator("table.chart-table tbody tr").first).to_contain_text("2017")

    # Fit a hedonic model; the worker runs it and the page reloads with the backtest.
    page.get_by_label("Model:", exact=True).select_option("hedonic")
    page.get_by_role("button", name="Fit and backtest").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hedonic regression on hk sale")
    expect(page.get_by_role("heading", name=re.compile("^Backtest from"))).to_be_visible(
        timeout=60_000
    )
    backtest = page.locator("table.backtest").first
    for name in ("hedonic (this model)", "estimate midpoint", "rescaled estimate"):
        expect(backtest.get_by_role("rowheader", name=name)).to_be_visible()
    expect(page.locator("table.forecasts tbody tr").first).to_be_visible()

    # The forecasts CSV behind the link, fetched with the analyst's session.
    link = page.get_by_role("link", name="download every forecast as CSV")
    answer = page.request.get(str(live_server) + (link.get_attribute("href") or ""))
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(answer.text())))
    assert {"predicted_price", "lower", "upper"} <= set(header)

    # An upcoming sale's catalogue (no prices), mapped like past sales, forecast lot by lot.
    catalogue = tmp_path / "spring_sale.csv"
    catalogue.write_text(
        "Artist,Title,Date of sale,Estimate,Size,Medium,Lot\n"
        'Zao Wou-Ki,Spring 1,03/05/2022,"900,000 - 1,300,000",100 x 81 cm,oil on canvas,1\n'
        'Chu Teh-Chun,Spring 2,03/05/2022,"300,000 - 450,000",50 x 40 cm,ink on paper,2\n',
        encoding="utf-8",
    )
    page.get_by_label("Upcoming lots").set_input_files(catalogue)
    page.get_by_role("button", name="Upload and map the lots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Map the columns of spring_sale.csv")
    expect(page.get_by_label("Base currency")).to_have_value("HKD")
    page.get_by_label("Default currency").fill("HKD")
    page.get_by_label("Day first (12/05/2021 is 12 May)").check()
    page.get_by_role("button", name="Import and forecast every lot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forecasts for spring sale")
    expect(page.get_by_role("status")).to_contain_text("Forecast 2 lots.")
    lots = page.locator("table.forecasts tbody tr")
    expect(lots).to_have_count(2)
    expect(lots.first).to_contain_text("2022-05-03")
    expect(lots.first).to_contain_text(re.compile(r"900000\.00 \W 1300000\.00"))
