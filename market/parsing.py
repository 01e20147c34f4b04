"""Readers for the cells of auction exports: dates, money, estimate ranges, sizes, years, yes/no.

Each reader takes one cell's text and returns a value, None for an empty cell, or raises
`UnreadableValue` whose message says what was found and what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, NamedTuple

from market.errors import UnreadableValue

# --- dates -----------------------------------------------------------------------------------

_WEEKDAY: Final = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_ORDINAL: Final = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_TIME: Final = re.compile(
    r"(?:[T\s]+|,\s*)(?:at\s+)?\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?"
    r"\s*(?:z|[a-z]{2,4}|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_ISO_DAY: Final = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC_DAY: Final = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
_NAMED_MONTH_FORMATS: Final = (
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d-%b-%Y",
    "%d-%B-%Y",
    "%d-%b-%y",
    "%d %b %y",
)
_FIRST_YEAR: Final = 1600
_LAST_YEAR: Final = 2200


def parse_date(text: str, *, date_format: str | None = None, dayfirst: bool = False) -> date | None:
    """The day of '2021-05-12', '12 May 2021', 'May 12, 2021', '12/05/2021', '2021-05-12 18:00'.

    A time of day and a weekday are ignored. Numeric day/month dates are read month first
    unless `dayfirst`; `date_format` (strptime codes) replaces the guessing when given.
    """
    stripped = text.strip()
    if not stripped:
        return None
    if date_format is not None:
        try:
            return datetime.strptime(stripped, date_format).date()
        except ValueError as error:
            raise UnreadableValue(
                f"{stripped!r} does not match the mapping's date_format {date_format!r}"
            ) from error
    cleaned = _TIME.sub("", _WEEKDAY.sub("", stripped)).strip()
    cleaned = _ORDINAL.sub(r"\1", cleaned)
    day = _iso_day(cleaned) or _numeric_day(cleaned, stripped, dayfirst=dayfirst)
    if day is None:
        words = re.sub(r"\bsept\b", "sep", cleaned.replace(",", " "), flags=re.IGNORECASE)
        words = " ".join(re.sub(r"(?<=[a-z])\.", " ", words, flags=re.IGNORECASE).split())
        for date_format_guess in _NAMED_MONTH_FORMATS:
            try:
                day = datetime.strptime(words, date_format_guess).date()
                break
            except ValueError:
                continue
    if day is None:
        raise UnreadableValue(
            f"{stripped!r} is not a date; write it like 2021-05-12, 12 May 2021, May 12, 2021 "
            "or 12/05/2021, or set date_format under [options]"
        )
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise UnreadableValue(f"{stripped!r} has an implausible year {day.year}")
    return day


def _iso_day(text: str) -> date | None:
    match = _ISO_DAY.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError as error:
        raise UnreadableValue(f"{text!r} is not a calendar date (year-month-day)") from error


def _numeric_day(text: str, original: str, *, dayfirst: bool) -> date | None:
    match = _NUMERIC_DAY.fullmatch(text)
    if match is None:
        return None
    first, second, year_text = match.groups()
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year < 69 else 1900  # strptime's %y pivot
    day, month = (int(first), int(second)) if dayfirst else (int(second), int(first))
    try:
        return date(year, month, day)
    except ValueError as error:
        order, other = ("day/month", "false") if dayfirst else ("month/day", "true")
        swapped_ok = _valid_day(year, day=month, month=day)
        hint = (
            f"; if the export writes dates the other way, set dayfirst = {other} under [options]"
            if swapped_ok
            else ""
        )
        raise UnreadableValue(f"{original!r} is not a date read as {order}/year{hint}") from error


def _valid_day(year: int, *, day: int, month: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


# --- money -----------------------------------------------------------------------------------

BARE_DOLLAR: Final = "$"
"""The currency of an amount written with a plain '$': USD unless the row says which dollar."""

_SYMBOLS: Final = {
    "US$": "USD",
    "HK$": "HKD",
    "NT$": "TWD",
    "AU$": "AUD",
    "A$": "AUD",
    "CA$": "CAD",
    "C$": "CAD",
    "NZ$": "NZD",
    "S$": "SGD",
    "SG$": "SGD",
    "R$": "BRL",
    "CN¥": "CNY",
    "RMB": "CNY",
    "JP¥": "JPY",
    "£": "GBP",
    "€": "EUR",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₣": "CHF",
    "$": BARE_DOLLAR,
}
# Codes recognised in lower case too ("usd 100"); upper-case three-letter words are always codes.
_KNOWN_CODES: Final = frozenset(
    {
        *("USD", "EUR", "GBP", "CHF", "JPY", "CNY", "HKD", "TWD", "SGD", "AUD", "CAD", "NZD"),
        *("INR", "KRW", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "TRY", "BRL", "MXN", "ZAR"),
        *("AED", "SAR", "QAR", "ILS", "THB", "IDR", "MYR", "PHP", "ETH", "BTC"),
    }
)
_MINUS: Final = "-\u2212"  # hyphen, minus sign
_SYMBOL_PATTERN: Final = "|".join(
    re.escape(symbol) for symbol in sorted(_SYMBOLS, key=len, reverse=True)
)
_CURRENCY_PREFIX: Final = re.compile(rf"^(?:({_SYMBOL_PATTERN})|([A-Za-z]{{3}})(?![A-Za-z]))\s*")
_CURRENCY_SUFFIX: Final = re.compile(rf"\s*(?:({_SYMBOL_PATTERN})|(?<![A-Za-z])([A-Za-z]{{3}}))$")
_AMOUNT: Final = re.compile(
    r"(?P<number>\d[\d,.'\s]*)\s*(?P<scale>k|m|mn|mio|million|bn|billion)?", re.IGNORECASE
)
_SCALES: Final = {"k": 1e3, "m": 1e6, "mn": 1e6, "mio": 1e6, "million": 1e6, "bn": 1e9}
_SCALES["billion"] = 1e9
_SPACES: Final = re.compile(r"[\u00a0\u2007\u2009\u202f]")


@dataclass(frozen=True)
class Money:
    """An amount and the currency its text named: an ISO code, BARE_DOLLAR, or None."""

    amount: float
    currency: str | None


def parse_money(text: str, *, decimal: str = ".") -> Money | None:
    """'$12,500', '12 500 €', 'GBP 8,000', 'HK$1.2m', '1.234,5 EUR' (decimal=","); None if empty.

    Negative amounts are read (as negative), so that the caller can say a price must be positive.
    """
    stripped = _SPACES.sub(" ", text).strip()
    if not stripped:
        return None
    body = stripped
    negative = False
    if body.startswith("(") and body.endswith(")"):
        negative, body = True, body[1:-1].strip()
    if body[:1] and body[:1] in _MINUS:
        negative, body = True, body[1:].strip()
    prefix, body = _take_currency(body, _CURRENCY_PREFIX, stripped)
    if body[:1] and body[:1] in _MINUS:
        negative, body = True, body[1:].strip()
    suffix, body = _take_currency(body, _CURRENCY_SUFFIX, stripped)
    currency = _one_currency(prefix, suffix, stripped)
    match = _AMOUNT.fullmatch(body)
    if match is None:
        raise UnreadableValue(f"{stripped!r} is not an amount of money")
    amount = _number(match["number"].strip(), decimal=decimal, original=stripped)
    if match["scale"]:
        amount *= _SCALES[match["scale"].lower()]
    return Money(-amount if negative else amount, currency)


def parse_number(text: str, *, decimal: str = ".") -> float | None:
    """A plain number: '85.5', '1,200', '1 200,5' (decimal=","); None if the cell is empty."""
    stripped = _SPACES.sub(" ", text).strip()
    if not stripped:
        return None
    negative = bool(stripped[:1]) and stripped[:1] in _MINUS
    value = _number(stripped.lstrip(_MINUS).strip(), decimal=decimal, original=stripped)
    return -value if negative else value


def _take_currency(body: str, pattern: re.Pattern[str], original: str) -> tuple[str | None, str]:
    match = pattern.search(body)
    if match is None:
        return None, body
    symbol, code = match.groups()
    if symbol is not None:
        currency = _SYMBOLS[symbol]
    elif code.isupper() or code.upper() in _KNOWN_CODES:
        currency = code.upper()
    else:
        return None, body
    return currency, (body[: match.start()] + body[match.end() :]).strip()


def _one_currency(first: str | None, second: str | None, original: str) -> str | None:
    if first is None or second is None or first == second:
        return first or second
    if BARE_DOLLAR in (first, second):
        return second if first == BARE_DOLLAR else first
    raise UnreadableValue(f"{original!r} names two currencies, {first} and {second}")


def _number(text: str, *, decimal: str, original: str) -> float:
    """'1,234,567.5' (decimal '.') or '1.234.567,5' (decimal ','); spaces and ' group digits."""
    digits = re.sub(r"[\s']", "", text)
    group = "," if decimal == "." else "."
    whole, _, fraction = digits.partition(decimal)
    if group in fraction or decimal in fraction:
        raise UnreadableValue(_number_hint(original, decimal))
    if group in whole:
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+", whole):
            raise UnreadableValue(_number_hint(original, decimal))
        whole = whole.replace(group, "")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise UnreadableValue(f"{original!r} is not a number")
    return float(f"{whole}.{fraction or 0}")


def _number_hint(original: str, decimal: str) -> str:
    other = "," if decimal == "." else "."
    return (
        f"{original!r} is not a number with {decimal!r} as the decimal mark; if the export "
        f"writes decimals with {other!r}, set decimal = {other!r} under [options]"
    )


# --- estimates -------------------------------------------------------------------------------

_ESTIMATE_NOISE: Final = re.compile(
    r"^\s*(?:pre-?sale\s+)?(?:estimated?|est)\b\.?\s*:?\s*", re.IGNORECASE
)
_NO_ESTIMATE: Final = frozenset(
    {
        "",
        "-",
        "—",
        "n/a",
        "na",
        "none",
        "on request",
        "estimate on request",
        "upon request",
        "refer to department",
        "estimate unknown",
        "unknown",
    }
)
_RANGE: Final = re.compile(
    r"(?P<low>.*?\d\s*(?:k|m|mn)?)\s*(?:-|\u2013|\u2014|\u2212|~|/|\bto\b)\s*(?P<high>\D*\d.*)",
    re.IGNORECASE,
)


def parse_estimate(text: str, *, decimal: str = ".") -> tuple[Money, Money] | None:
    """(low, high) from '$10,000 - 15,000', '10,000 - 15,000 USD', 'GBP 8,000-12,000', '5k to 7k'.

    En and em dashes separate a range too. A single figure is both bounds; 'on request' and
    empty cells give None.
    """
    stripped = _ESTIMATE_NOISE.sub("", _SPACES.sub(" ", text)).strip()
    if stripped.lower().rstrip(".") in _NO_ESTIMATE:
        return None
    match = _RANGE.fullmatch(stripped)
    if match is None:
        single = parse_money(stripped, decimal=decimal)
        if single is None:
            return None
        return single, single
    low = parse_money(match["low"], decimal=decimal)
    high = parse_money(match["high"], decimal=decimal)
    if low is None or high is None:
        raise UnreadableValue(f"{text.strip()!r} is not an estimate range such as 10,000 - 15,000")
    currency = _one_currency(low.currency, high.currency, text.strip())
    return Money(low.amount, currency), Money(high.amount, currency)


# --- dimensions ------------------------------------------------------------------------------


class Dimensions(NamedTuple):
    """A work's size in centimetres; NaN where the text gives none."""

    height: float
    width: float
    depth: float


UNIT_CM: Final = {"cm": 1.0, "mm": 0.1, "m": 100.0, "in": 2.54}
_UNIT_NAMES: Final = {
    "cm": "cm",
    "cms": "cm",
    "centimetres": "cm",
    "centimeters": "cm",
    "mm": "mm",
    "m": "m",
    "in": "in",
    "inch": "in",
    "inches": "in",
    '"': "in",
}
_UNIT_PREFERENCE: Final = ("cm", "mm", "m", "in", None)
_FRACTIONS: Final = {"½": "1/2", "¼": "1/4", "¾": "3/4", "⅓": "1/3", "⅔": "2/3", "⅛": "1/8"}
_FRACTIONS.update({"⅜": "3/8", "⅝": "5/8", "⅞": "7/8"})
_LABELS: Final = {
    "height": "height",
    "high": "height",
    "h": "height",
    "width": "width",
    "wide": "width",
    "w": "width",
    "length": "width",
    "l": "width",
    "depth": "depth",
    "deep": "depth",
    "d": "depth",
    "diameter": "diameter",
    "diam": "diameter",
    "dia": "diameter",
}
_DIMENSION_TOKEN: Final = re.compile(
    r"""
    (?P<number>\d+(?:[.,]\d+)*(?:[\s-]+\d+/\d+)?|\d+/\d+)
    |(?P<unit>centimetres|centimeters|cms|cm|mm|inches|inch|in(?![a-z])|"|m(?![a-z]))\.?
    |(?P<separator>[x\u00d7*](?![a-z])|\bby\b)
    |(?P<label>height|width|depth|length|diameter|diam|dia|high|wide|deep|[hwdl])(?![a-z])\.?
    |(?P<stop>[()\[\];:|/])
    |(?P<word>[a-z]+)
    """,
    re.VERBOSE,
)
_VAGUE_SIZE: Final = frozenset(
    {
        "",
        "-",
        "—",
        "n/a",
        "na",
        "unknown",
        "various",
        "variable",
        "dimensions variable",
        "size unknown",
        "not measured",
    }
)
_MAX_MEASURES: Final = 3


@dataclass
class _Measure:
    value: float
    unit: str | None = None
    label: str | None = None


def parse_dimensions(text: str, *, default_unit: str | None = None) -> Dimensions | None:
    """Height, width, depth in cm from '33.66" x 16.93" (85.50cm x 43.00cm)', '85.5 x 43 cm', ...

    Sizes are read height first, as catalogues write them, unless labelled ('h 85 x w 43 cm',
    'diam. 30 cm'). Where the text gives the size in several units the metric one is used.
    Numbers without a unit use `default_unit` (cm, mm, m or in). Empty or vague text ('dimensions
    variable') gives None.
    """
    original = text.strip()
    normalised = _normalise_size_text(original)
    groups = _measure_groups(normalised)
    if not groups:
        if normalised.strip(" .") in _VAGUE_SIZE:
            return None
        raise UnreadableValue(f"{original!r} has no measurements such as 85.5 x 43 cm")
    group, unit = min(
        ((group, _group_unit(group, original)) for group in groups),
        key=lambda pair: _UNIT_PREFERENCE.index(pair[1]),
    )
    if unit is None:
        if default_unit is None:
            raise UnreadableValue(
                f"{original!r} gives no unit; write cm, mm or in, or set unit under [defaults]"
            )
        unit = normalise_unit(default_unit)
    return _assign(group, UNIT_CM[unit], original)


def normalise_unit(text: str) -> str:
    """'cm', 'mm', 'm' or 'in' for a unit as written ('inches', 'CM', '"')."""
    unit = _UNIT_NAMES.get(text.strip().lower().rstrip("."))
    if unit is None:
        raise UnreadableValue(f"{text!r} is not a unit of length; use cm, mm, m or in")
    return unit


def _normalise_size_text(text: str) -> str:
    lowered = text.lower()
    for glyph, fraction in _FRACTIONS.items():
        lowered = lowered.replace(glyph, f" {fraction}")
    for quote in ("''", "\u2033", "\u201d", "\u201c", "\uff02"):  # double prime, curly, wide
        lowered = lowered.replace(quote, '"')
    lowered = _SPACES.sub(" ", lowered)
    # '85 (h) x 43 (w) cm': a label in brackets belongs to the number before it.
    return re.sub(r"\(\s*(height|width|depth|h|w|d)\.?\s*\)", r" \1 ", lowered)


def _measure_groups(text: str) -> list[list[_Measure]]:
    """Runs of numbers joined by 'x' or 'by', each number with its unit and label if any."""
    groups: list[list[_Measure]] = []
    current: list[_Measure] = []
    previous: str | None = None
    pending_label: str | None = None
    for token in _DIMENSION_TOKEN.finditer(text):
        kind = token.lastgroup
        value = token[kind] if kind else ""
        if kind == "number":
            if current and previous != "separator" and not _continues(current, pending_label):
                groups.append(current)
                current = []
            current.append(_Measure(_size_number(value, text), label=pending_label))
            pending_label = None
        elif kind == "unit" and current and previous in ("number", "label"):
            if current[-1].unit is None:
                current[-1].unit = _UNIT_NAMES[value]
        elif kind == "separator" and current:
            pass
        elif kind == "label":
            label = _LABELS[value]
            if current and previous in ("number", "unit") and current[-1].label is None:
                current[-1].label = label
            else:
                pending_label = label
                continue  # 'x w 43': the label does not end the run of numbers
        elif kind == "stop":
            if current:
                groups.append(current)
            current, pending_label = [], None
        else:
            continue  # noise: 'unframed', 'sheet', 'approx.'
        previous = kind
    if current:
        groups.append(current)
    return groups


def _continues(current: list[_Measure], label: str | None) -> bool:
    """'height 45 cm, width 20 cm': labelled measures stay one size without an 'x' between."""
    return label is not None and all(measure.label not in (None, label) for measure in current)


def _size_number(text: str, original: str) -> float:
    """'85.5', '85,5' (decimal comma), '1,200' (thousands), '33 1/2' or '33-1/2' (inches)."""
    whole, _, fraction = re.sub(r"[\s-]+(?=\d+/\d+$)", " ", text).partition(" ")
    if "/" in whole:
        whole, fraction = "0", whole
    if "," in whole:
        whole = (
            whole.replace(",", "")
            if re.fullmatch(r"\d{1,3}(?:,\d{3})+", whole)
            else whole.replace(",", ".")
        )
    if whole.count(".") > 1:
        raise UnreadableValue(f"{original!r}: {text!r} is not a number")
    value = float(whole)
    if fraction:
        numerator, denominator = (int(part) for part in fraction.split("/"))
        if denominator == 0:
            raise UnreadableValue(f"{original!r}: {text!r} divides by zero")
        value += numerator / denominator
    return value


def _group_unit(group: list[_Measure], original: str) -> str | None:
    units = {measure.unit for measure in group if measure.unit is not None}
    if len(units) > 1:
        raise UnreadableValue(f"{original!r} mixes units ({', '.join(sorted(units))})")
    return units.pop() if units else None


def _assign(group: list[_Measure], factor: float, original: str) -> Dimensions:
    if len(group) > _MAX_MEASURES:
        raise UnreadableValue(f"{original!r} has more than three measurements in one size")
    sizes: dict[str, float] = {}
    for measure in group:
        if measure.label is None:
            continue
        fields = ("height", "width") if measure.label == "diameter" else (measure.label,)
        for field in fields:
            if field in sizes:
                raise UnreadableValue(f"{original!r} gives the {field} twice")
            sizes[field] = measure.value * factor
    free = [field for field in ("height", "width", "depth") if field not in sizes]
    unlabelled = [measure for measure in group if measure.label is None]
    if len(unlabelled) > len(free):
        raise UnreadableValue(f"{original!r} has more measurements than height, width and depth")
    for field, measure in zip(free, unlabelled, strict=False):
        sizes[field] = measure.value * factor
    if any(not value > 0 for value in sizes.values()):
        raise UnreadableValue(f"{original!r} has a zero measurement")
    return Dimensions(
        sizes.get("height", math.nan), sizes.get("width", math.nan), sizes.get("depth", math.nan)
    )


# --- years and yes/no ------------------------------------------------------------------------

_NO_YEAR: Final = frozenset({"", "-", "—", "n.d.", "n.d", "nd", "undated", "unknown", "n/a", "na"})
_YEAR: Final = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def parse_year(text: str) -> int | None:
    """1890 from '1890', 'c. 1890', 'circa 1890', '1890-95', 'painted in 1890', '1890s'.

    Empty, 'n.d.', 'undated' and century-only text ('19th century') give None.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in _NO_YEAR:
        return None
    match = _YEAR.search(lowered)
    if match is None:
        if "century" in lowered or "cent." in lowered:
            return None
        raise UnreadableValue(f"{stripped!r} is not a year such as 1890, c. 1890 or 1890-95")
    year = int(match[1])
    if not 1000 <= year <= _LAST_YEAR:
        raise UnreadableValue(f"{stripped!r} has an implausible year {year}")
    return year


_TRUE: Final = frozenset({"yes", "y", "true", "t", "1", "x", "✓"})
_FALSE: Final = frozenset({"no", "n", "false", "f", "0"})


def parse_flag(
    text: str,
    *,
    true_words: frozenset[str] = frozenset(),
    false_words: frozenset[str] = frozenset(),
) -> bool | None:
    """True for yes/true/1/y (and `true_words`), False for no/false/0/n (and `false_words`)."""
    word = " ".join(re.sub(r"[^\w✓/]+", " ", text.lower()).split())
    if not word:
        return None
    if word in _TRUE or word in true_words:
        return True
    if word in _FALSE or word in false_words:
        return False
    raise UnreadableValue(f"{text.strip()!r} is not yes or no")


def parse_signed(text: str) -> bool | None:
    """True for 'yes', 'signed', 'signed lower right', 'initialled'; False for 'no', 'unsigned'."""
    word = " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())
    if word.startswith(("unsigned", "not signed", "no signature")):
        return False
    if word.startswith(("signed", "initialled", "initialed", "monogrammed", "inscribed signed")):
        return True
    try:
        return parse_flag(text)
    except UnreadableValue as error:
        raise UnreadableValue(
            f"{text.strip()!r} does not say whether the work is signed (yes, no, signed ...)"
        ) from error
