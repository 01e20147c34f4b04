"""The cell readers: dates, money, estimate ranges, sizes, years and yes/no in export spellings."""

from __future__ import annotations

import math
import random
from datetime import date

import pytest

from market.errors import UnreadableValue
from market.parsing import (
    BARE_DOLLAR,
    Money,
    parse_date,
    parse_dimensions,
    parse_estimate,
    parse_money,
    parse_number,
    parse_signed,
    parse_year,
)

MAY_12 = date(2021, 5, 12)


@pytest.mark.parametrize(
    "text",
    [
        "2021-05-12",
        "2021/05/12",
        "12 May 2021",
        "12 may 2021",
        "May 12, 2021",
        "May 12 2021",
        "12-May-2021",
        "12-May-21",
        "12th May 2021",
        "Wednesday, 12 May 2021",
        "2021-05-12 18:00",
        "2021-05-12T18:00:00Z",
        "12 May 2021, 7:00 PM BST",
        " 12 May 2021 ",
    ],
)
def test_dates_in_the_usual_formats_read_as_the_day(text: str) -> None:
    assert parse_date(text) == MAY_12


def test_numeric_dates_follow_dayfirst() -> None:
    assert parse_date("12/05/2021", dayfirst=True) == MAY_12
    assert parse_date("05/12/2021", dayfirst=False) == MAY_12
    assert parse_date("12.05.21", dayfirst=True) == MAY_12


def test_a_date_that_only_reads_the_other_way_says_to_flip_dayfirst() -> None:
    with pytest.raises(UnreadableValue, match=r"set dayfirst = true"):
        parse_date("25/05/2021", dayfirst=False)
    with pytest.raises(UnreadableValue, match=r"set dayfirst = false"):
        parse_date("05/25/2021", dayfirst=True)


def test_a_date_format_replaces_the_guessing() -> None:
    assert parse_date("12|05|2021", date_format="%d|%m|%Y") == MAY_12
    with pytest.raises(UnreadableValue, match=r"does not match the mapping's date_format"):
        parse_date("2021-05-12", date_format="%d|%m|%Y")


@pytest.mark.parametrize("text", ["soon", "2021-02-30", "13/13/2021", "12 Mai 2021", "0021-05-12"])
def test_unreadable_dates_say_what_they_were(text: str) -> None:
    with pytest.raises(UnreadableValue, match=repr(text).replace("|", r"\|")):
        parse_date(text)


def test_an_empty_date_is_none() -> None:
    assert parse_date("  ") is None


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("12500", 12500.0, None),
        ("$12,500", 12500.0, BARE_DOLLAR),
        ("US$ 12,500", 12500.0, "USD"),
        ("HK$1.2m", 1_200_000.0, "HKD"),
        ("£ 15,000.50", 15000.5, "GBP"),
        ("12 500 €", 12500.0, "EUR"),
        ("GBP 8,000", 8000.0, "GBP"),
        ("1,000,000 usd", 1_000_000.0, "USD"),
        ("$10 USD", 10.0, "USD"),
        ("CHF 2\u00a0000", 2000.0, "CHF"),
        ("ZZZ 5", 5.0, "ZZZ"),
        ("12k", 12000.0, None),
        ("-5", -5.0, None),
        ("(1,000)", -1000.0, None),
    ],
)
def test_money_with_separators_symbols_and_codes(text: str, amount: float, currency: str) -> None:
    assert parse_money(text) == Money(amount, currency)


def test_a_decimal_comma_is_an_option_and_its_absence_is_explained() -> None:
    assert parse_money("1.234,5 EUR", decimal=",") == Money(1234.5, "EUR")
    assert parse_money("12.500", decimal=",") == Money(12500.0, None)
    with pytest.raises(UnreadableValue, match=r"set decimal = ','"):
        parse_money("1.234,5 EUR")
    with pytest.raises(UnreadableValue, match=r"set decimal = ','"):
        parse_money("1,23")


@pytest.mark.parametrize("text", ["abc", "12 apples", "GBP 8,000 USD", "1,2,3"])
def test_unreadable_money_is_refused(text: str) -> None:
    with pytest.raises(UnreadableValue):
        parse_money(text)


def test_plain_numbers() -> None:
    assert parse_number("1,200") == 1200.0
    assert parse_number("85,5", decimal=",") == 85.5
    assert parse_number("") is None


@pytest.mark.parametrize(
    ("text", "low", "high", "currency"),
    [
        ("$10,000 - 15,000", 10000.0, 15000.0, BARE_DOLLAR),
        ("10,000\u201315,000 USD", 10000.0, 15000.0, "USD"),
        ("GBP 8,000-12,000", 8000.0, 12000.0, "GBP"),
        ("HK$ 1,000,000 \u2014 1,500,000", 1_000_000.0, 1_500_000.0, "HKD"),
        ("$10,000 - $15,000", 10000.0, 15000.0, BARE_DOLLAR),
        ("Est. 5k to 7k", 5000.0, 7000.0, None),
        ("20,000", 20000.0, 20000.0, None),
    ],
)
def test_an_estimate_range_in_one_column(
    text: str, low: float, high: float, currency: str | None
) -> None:
    assert parse_estimate(text) == (Money(low, currency), Money(high, currency))


@pytest.mark.parametrize("text", ["", "Estimate on request", "on request", "n/a"])
def test_no_estimate(text: str) -> None:
    assert parse_estimate(text) is None


def test_an_estimate_naming_two_currencies_is_refused() -> None:
    with pytest.raises(UnreadableValue, match=r"two currencies, GBP and USD"):
        parse_estimate("GBP 8,000 - 12,000 USD")


@pytest.mark.parametrize(
    ("text", "height", "width", "depth"),
    [
        ('33.66" x 16.93" (85.50cm x 43.00cm)', 85.5, 43.0, math.nan),
        ("85.5 x 43 cm", 85.5, 43.0, math.nan),
        ("85.5 x 43 x 5 cm", 85.5, 43.0, 5.0),
        ("33 x 17 in", 83.82, 43.18, math.nan),
        ("850 x 430 mm", 85.0, 43.0, math.nan),
        ("1.2 x 0.8 m", 120.0, 80.0, math.nan),
        ("85.5 x 43 cm (unframed)", 85.5, 43.0, math.nan),
        ("unframed: 85.5x43cm", 85.5, 43.0, math.nan),
        ("33 \u00bd x 17 \u00bc in. (85.1 x 43.8 cm.)", 85.1, 43.8, math.nan),
        ("33-1/2 by 17 inches", 85.09, 43.18, math.nan),
        ("85,5 \u00d7 43 cm", 85.5, 43.0, math.nan),
        ("1,200 x 800 mm", 120.0, 80.0, math.nan),
        ("h 85 x w 43 cm", 85.0, 43.0, math.nan),
        ("w 43 x h 85 cm", 85.0, 43.0, math.nan),
        ("85 (h) x 43 (w) cm", 85.0, 43.0, math.nan),
        ("Height 45 cm, width 20 cm", 45.0, 20.0, math.nan),
        ("Diam. 30 cm", 30.0, 30.0, math.nan),
        ("H. 45 cm", 45.0, math.nan, math.nan),
        ("sheet: 60 x 50 cm; image: 50 x 40 cm", 60.0, 50.0, math.nan),
    ],
)
def test_dimension_text_in_centimetres(
    text: str, height: float, width: float, depth: float
) -> None:
    size = parse_dimensions(text)
    assert size is not None
    assert size == pytest.approx((height, width, depth), nan_ok=True)


def test_numbers_without_a_unit_use_the_default_unit_or_are_refused() -> None:
    assert parse_dimensions("10 x 20", default_unit="in") == pytest.approx(
        (25.4, 50.8, math.nan), nan_ok=True
    )
    with pytest.raises(UnreadableValue, match=r"gives no unit.*unit under \[defaults\]"):
        parse_dimensions("85 x 43")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("large", "no measurements"),
        ("85 cm x 17 in", "mixes units"),
        ("12 x 0 cm", "zero measurement"),
        ("10 x 20 x 30 x 40 cm", "more than three"),
    ],
)
def test_unreadable_dimensions_say_why(text: str, reason: str) -> None:
    with pytest.raises(UnreadableValue, match=reason):
        parse_dimensions(text)


@pytest.mark.parametrize("text", ["", "dimensions variable", "unknown"])
def test_no_dimensions(text: str) -> None:
    assert parse_dimensions(text) is None


def _random_size(rng: random.Random) -> tuple[str, tuple[float, float, float]]:
    """One size written as some catalogue would, and its true height, width, depth in cm."""
    count = rng.choice((2, 2, 3))
    separator = rng.choice((" x ", "x", " X ", " \u00d7 ", " by "))
    noise_before = rng.choice(("", "unframed: ", "Sheet ", "overall "))
    noise_after = rng.choice(("", " (unframed)", ", framed", " approx."))
    style = rng.choice(("cm", "cm each", "mm", "in", "in fractions", "dual"))
    if style in ("in", "in fractions", "dual"):
        eighths = [rng.randint(8, 800) for _ in range(count)]
        inches = [e / 8 for e in eighths]
        centimetres = [round(i * 2.54, 2) for i in inches]
        if style == "in fractions":
            parts = [f"{e // 8} {e % 8}/8" if e % 8 else str(e // 8) for e in eighths]
            body = separator.join(parts) + rng.choice((" in.", " in", " inches", '"'))
            expected = [i * 2.54 for i in inches]
        elif style == "in":
            body = separator.join(f'{i:g}"' for i in inches)
            expected = [i * 2.54 for i in inches]
        else:
            inch_text = separator.join(f'{i:.2f}"' for i in inches)
            cm_text = separator.join(f"{c:.2f}cm" for c in centimetres)
            body = f"{inch_text} ({cm_text})"
            expected = centimetres
    elif style == "mm":
        millimetres = [rng.randint(10, 3000) for _ in range(count)]
        body = separator.join(str(m) for m in millimetres) + " mm"
        expected = [m / 10 for m in millimetres]
    else:
        expected = [round(rng.uniform(1, 400), 1) for _ in range(count)]
        numbers = [f"{c:g}" for c in expected]
        if rng.random() < 0.3:
            numbers = [n.replace(".", ",") for n in numbers]  # decimal comma
        if style == "cm each":
            body = separator.join(f"{n} cm" for n in numbers)
        else:
            body = separator.join(numbers) + rng.choice((" cm", "cm", " cm.", " CM"))
    padded = [*expected, math.nan][:3]
    return f"{noise_before}{body}{noise_after}", (padded[0], padded[1], padded[2])


def test_dimension_parser_reads_back_generated_sizes() -> None:
    rng = random.Random(20210512)
    for _ in range(2000):
        text, expected = _random_size(rng)
        size = parse_dimensions(text)
        assert size is not None, text
        assert size == pytest.approx(expected, rel=1e-9, nan_ok=True), text


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("1890", 1890),
        ("c. 1890", 1890),
        ("circa 1890", 1890),
        ("ca.1890", 1890),
        ("1890-95", 1890),
        ("1890\u20131895", 1890),
        ("painted in 1890", 1890),
        ("1890s", 1890),
        ("1890.0", 1890),
        ("", None),
        ("n.d.", None),
        ("19th century", None),
    ],
)
def test_year_made(text: str, year: int | None) -> None:
    assert parse_year(text) == year


def test_an_unreadable_year_is_refused() -> None:
    with pytest.raises(UnreadableValue, match=r"'early' is not a year"):
        parse_year("early")


@pytest.mark.parametrize(
    ("text", "signed"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("signed", True),
        ("Signed lower right", True),
        ("signed and dated 1890", True),
        ("initialled", True),
        ("no", False),
        ("unsigned", False),
        ("Not signed", False),
        ("", None),
    ],
)
def test_signed(text: str, signed: bool | None) -> None:
    assert parse_signed(text) is signed


def test_an_unreadable_signature_is_refused() -> None:
    with pytest.raises(UnreadableValue, match=r"'stamped' does not say whether the work is signed"):
        parse_signed("stamped")
