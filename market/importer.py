"""Import auction exports (CSV or Excel) into the canonical sales table: every row or none.

`read_export` reads a file into raw text cells, `load_mapping` reads the TOML column mapping, and
`import_sales` turns the cells into a validated sales table with a report of every rejected row.
`save_sales` / `load_sales` keep a sales table on disk for the command line.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import string
import tomllib
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

import openpyxl
import pandas as pd

from market import parsing
from market.errors import ImportRejected, MarketError, MissingColumns, RowProblem, UnreadableValue
from market.parsing import BARE_DOLLAR, UNIT_CM, Dimensions, Money
from market.schema import FEATURE_PREFIX, REQUIRED, SALE_COLUMNS, feature_columns, validate_sales

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# Fields a mapping may fill besides the canonical columns: text to split into several columns.
COMPOSITE_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"estimate": ("low_estimate", "high_estimate"), "dimensions": ("height", "width", "depth")}
)
MAPPABLE_FIELDS: Final = (*SALE_COLUMNS, *COMPOSITE_FIELDS, "unit")
DUPLICATE_KEY: Final = ("artist", "title", "sale_date", "lot", "price")

_TEXT_FIELDS: Final = ("title", "medium", "auction_house", "location", "lot", "nationality")
_YEAR_FIELDS: Final = ("year_made", "birth_year", "death_year")
_DOLLARS: Final = frozenset({"USD", "HKD", "TWD", "AUD", "CAD", "NZD", "SGD"})
_UNSOLD: Final = frozenset(
    {
        "bought in",
        "b i",
        "bi",
        "unsold",
        "not sold",
        "passed",
        "pass",
        "withdrawn",
        "no sale",
        "n a",
        "na",
        "none",
    }
)
_SOLD_WORDS: Final = frozenset({"sold"})
_PREMIUM_IN: Final = frozenset(
    {
        "incl",
        "included",
        "including",
        "inclusive",
        "with premium",
        "including premium",
        "premium included",
        "buyer s premium",
        "buyers premium",
    }
)
_PREMIUM_OUT: Final = frozenset(
    {
        "excl",
        "excluded",
        "excluding",
        "exclusive",
        "hammer",
        "hammer price",
        "excluding premium",
        "premium excluded",
    }
)
_DELIMITERS: Final = (",", ";", "\t", "|")
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_SHOWN_PROBLEMS: Final = 20


# --- the mapping -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """How an export's columns become canonical fields.

    `columns` maps a canonical field (or `estimate`, `dimensions`, `unit`, `feature_*`) to the
    export's column name; `defaults` gives values for fields the export lacks or leaves empty;
    `premium` is the buyer's premium rate (0.25 for 25%) added to prices that exclude it;
    `dayfirst` reads 12/05/2021 as 12 May; `decimal` is the decimal mark of numbers ("." or ",").
    """

    columns: Mapping[str, str]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    date_format: str | None = None
    premium: float | None = None
    dayfirst: bool = False
    decimal: str = "."

    def __post_init__(self) -> None:
        # Copies, so that the caller's dicts changing later cannot change the mapping.
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "defaults", dict(self.defaults))
        unknown = [name for name in (*self.columns, *self.defaults) if not _mappable(name)]
        if unknown:
            raise MarketError(
                f"the mapping names unknown field(s) {', '.join(map(repr, unknown))}; "
                f"fields are {', '.join(MAPPABLE_FIELDS)} and feature_<name>"
            )
        blank = [name for name, column in self.columns.items() if not str(column).strip()]
        if blank or not all(isinstance(column, str) for column in self.columns.values()):
            raise MarketError(f"[columns] must map fields to column names; check {blank}")
        for name, value in self.defaults.items():
            if not isinstance(value, str | bool | int | float | date):
                raise MarketError(f"[defaults] {name} = {value!r} is not text, a number or a date")
        for composite, parts in COMPOSITE_FIELDS.items():
            both = [part for part in parts if part in self.columns]
            if composite in self.columns and both:
                raise MarketError(
                    f"the mapping gives both {composite} and {', '.join(both)}: "
                    f"map {composite} (one text column) or the separate columns, not both"
                )
        if self.premium is not None and not 0 <= self.premium < 1:
            raise MarketError(
                f"premium = {self.premium!r} is not a rate: write 0.25 for a 25% buyer's premium"
            )
        if self.decimal not in (".", ","):
            raise MarketError(f"decimal = {self.decimal!r}: the decimal mark is '.' or ','")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnMapping:
        """A mapping from the TOML layout as a dict: keys "columns", "defaults", "options"."""
        unknown = sorted(set(data) - {"columns", "defaults", "options"})
        if unknown:
            raise MarketError(
                f"unknown table(s) {unknown} in the mapping; use [columns], [defaults], [options]"
            )
        options = dict(data.get("options", {}))
        allowed = {"date_format", "premium", "dayfirst", "decimal"}
        if set(options) - allowed:
            raise MarketError(
                f"unknown option(s) {sorted(set(options) - allowed)}; options are {sorted(allowed)}"
            )
        premium = options.get("premium")
        return cls(
            columns=dict(data.get("columns", {})),
            defaults=dict(data.get("defaults", {})),
            date_format=options.get("date_format"),
            premium=None if premium is None else float(premium),
            dayfirst=bool(options.get("dayfirst", False)),
            decimal=str(options.get("decimal", ".")),
        )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The TOML layout as a dict (what `from_dict` reads): columns, defaults, options."""
        options: dict[str, Any] = {"dayfirst": self.dayfirst, "decimal": self.decimal}
        if self.date_format is not None:
            options["date_format"] = self.date_format
        if self.premium is not None:
            options["premium"] = self.premium
        return {"columns": dict(self.columns), "defaults": dict(self.defaults), "options": options}


def load_mapping(path: Path) -> ColumnMapping:
    """Read a TOML column mapping: `[columns]`, `[defaults]` and an optional `[options]` table."""
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as error:
        raise MarketError(f"no mapping file at {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise MarketError(f"{path} is not valid TOML: {error}") from error
    if "columns" not in data:
        raise MarketError(f"{path} has no [columns] table mapping fields to the export's columns")
    return ColumnMapping.from_dict(data)


def _mappable(name: str) -> bool:
    return name in MAPPABLE_FIELDS or (name.startswith(FEATURE_PREFIX) and name != FEATURE_PREFIX)


# --- reading files ---------------------------------------------------------------------------


def read_export(
    path: Path, *, encoding: str | None = None, sheet: str | None = None
) -> pd.DataFrame:
    """An export's cells as text ("" when empty), indexed by spreadsheet line (the header is 1).

    CSV in UTF-8, UTF-8 with BOM or UTF-16 with BOM (or `encoding`), with its delimiter (, ; tab
    |) found from the header; or an Excel workbook (.xlsx, the first sheet unless `sheet`).
    Blank rows are skipped. Raises `MarketError` for a file it cannot decode or read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise MarketError(f"no export file at {path}") from error
    if data.startswith(_ZIP_MAGIC):
        return _read_workbook(path, sheet)
    if data.startswith(_OLE_MAGIC):
        raise MarketError(
            f"{path.name} is an Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV"
        )
    return _read_csv_text(_decode(data, path.name, encoding), path.name)


def _decode(data: bytes, name: str, encoding: str | None) -> str:
    if encoding is not None:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except (UnicodeDecodeError, LookupError) as error:
            raise MarketError(f"{name} cannot be read as {encoding}: {error}") from error
    tried = "UTF-8, UTF-8 with BOM, UTF-16 with BOM"
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise MarketError(
                f"{name} starts with a UTF-16 byte order mark but is not valid UTF-16 "
                f"({error.reason} at byte {error.start}); tried {tried}"
            ) from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if data[:200].count(b"\x00") > len(data[:200]) // 4:
            hint = "it looks like UTF-16 without a byte order mark: save it as UTF-8"
        else:
            hint = (
                "save it as UTF-8 (Excel: CSV UTF-8), or give its encoding "
                "(e.g. cp1252 for older Windows exports)"
            )
        raise MarketError(
            f"{name} is not in a supported encoding: byte 0x{data[error.start]:02x} at "
            f"position {error.start} is not UTF-8; tried {tried}; {hint}"
        ) from error


def _read_csv_text(text: str, name: str) -> pd.DataFrame:
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(header_line)
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        rows = [(line, record) for line, record in enumerate(records, start=1)]
    except csv.Error as error:
        raise MarketError(f"{name} is not a readable CSV file: {error}") from error
    return _cells_frame(rows, name, delimiter=delimiter)


def _sniff_delimiter(header: str) -> str:
    """The candidate delimiter that splits the header most (outside quotes); ',' on a tie."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > 0 else ","


def _read_workbook(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise MarketError(f"{path.name} is not a readable .xlsx workbook: {error}") from error
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise MarketError(
                f"{path.name} has no sheet {sheet!r}; its sheets: {', '.join(workbook.sheetnames)}"
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = [
            (line, [_cell_text(value) for value in values])
            for line, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()
    return _cells_frame(rows, path.name, delimiter=None)


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cells_frame(
    rows: Sequence[tuple[int, list[str]]], name: str, *, delimiter: str | None
) -> pd.DataFrame:
    filled = [(line, cells) for line, cells in rows if any(cell.strip() for cell in cells)]
    if not filled:
        raise MarketError(f"{name} is empty: no header row")
    (header_line, header), body = filled[0], filled[1:]
    names = _column_names(header)
    width = len(names)
    table: list[list[str]] = []
    for line, cells in body:
        extra = [cell for cell in cells[width:] if cell.strip()]
        if extra:
            hint = (
                f": a value may contain the delimiter {delimiter!r} without quotes"
                if delimiter
                else ""
            )
            raise MarketError(
                f"{name}, line {line}: {len(cells)} values but the header (line {header_line}) "
                f"has {width} columns{hint}"
            )
        table.append([cell.strip() for cell in cells[:width]] + [""] * (width - len(cells)))
    frame = pd.DataFrame(table, columns=names, index=pd.Index([line for line, _ in body]))
    frame.index.name = "line"
    return _drop_unnamed_empty(frame, header)


def _column_names(header: list[str]) -> list[str]:
    """Stripped header names; a blank one becomes 'column C', a repeated one 'Price.1'."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for position, raw_name in enumerate(header):
        name = raw_name.strip() or f"column {_column_letter(position)}"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return names


def _column_letter(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = string.ascii_uppercase[remainder] + letters
    return letters


def _drop_unnamed_empty(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """Columns with no header and no values (trailing delimiters) are not columns."""
    empty = [
        name
        for name, raw_name in zip(frame.columns, header, strict=False)
        if not raw_name.strip() and not frame[name].astype(bool).any()
    ]
    return frame.drop(columns=empty)


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """A lot dropped because an earlier line has the same artist, title, date, lot and price."""

    line: int
    first_line: int


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and rejected, line by line."""

    rows_read: int
    imported: int
    rejected: int
    problems: tuple[RowProblem, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """The report as text for a person: counts, then every problem and warning."""
        lines = [
            f"read {self.rows_read} row(s): imported {self.imported}, rejected {self.rejected}, "
            f"dropped {len(self.duplicates)} duplicate(s)"
        ]
        lines += [f"  error: {problem}" for problem in self.problems]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class ImportResult:
    """The imported sales table (canonical, validated) and the import's report."""

    sales: pd.DataFrame
    report: ImportReport


# --- importing -------------------------------------------------------------------------------


def import_sales(
    raw: pd.DataFrame,
    mapping: ColumnMapping,
    *,
    rates: Mapping[str, float] | None = None,
    base_currency: str = "USD",
    strict: bool = True,
) -> ImportResult:
    """Turn an export's text cells into the canonical sales table, converted to `base_currency`.

    `rates` gives units of `base_currency` per unit of each other currency. Line numbers in the
    report come from `raw.index` when it is named "line" (as `read_export` makes it), else the
    first row is line 2. With `strict` (the default) any rejected row raises `ImportRejected`
    listing every problem and nothing is imported; otherwise the good rows are returned. Exact
    repeats of a lot (same artist, title, date, lot and price) are dropped with a warning.
    Raises `MissingColumns` when a mapped column is not in the export or a required field has
    neither a column nor a default.
    """
    base = base_currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", base):
        raise MarketError(f"base_currency {base_currency!r} is not an ISO 4217 code such as USD")
    conversion = _check_rates(rates, base)
    cells, lines = _text_cells(raw)
    sources = _resolve_columns(cells, mapping)
    run = _Import(cells, lines, sources, mapping, conversion, base)
    sales = run.sales()
    sales, duplicates = _drop_duplicates(sales, run.kept_lines)
    problems = tuple(
        problem for position in sorted(run.problems) for problem in run.problems[position]
    )
    warnings = [
        f"line {duplicate.line} repeats line {duplicate.first_line} (same artist, title, date, "
        "lot and price): dropped"
        for duplicate in duplicates
    ] + run.warnings
    report = ImportReport(
        rows_read=len(lines),
        imported=len(sales),
        rejected=len(run.problems),
        problems=problems,
        duplicates=tuple(duplicates),
        warnings=tuple(warnings),
    )
    if problems and strict:
        raise ImportRejected(_rejection_message(report), problems=problems)
    return ImportResult(sales=sales, report=report)


def _check_rates(rates: Mapping[str, float] | None, base: str) -> dict[str, float]:
    table = {base: 1.0}
    for code, rate in (rates or {}).items():
        key = str(code).strip().upper()
        if (
            not isinstance(rate, int | float)
            or isinstance(rate, bool)
            or not (math.isfinite(rate) and rate > 0)
        ):
            raise MarketError(
                f"rate for {key} is {rate!r}: give a positive number of {base} per {key}"
            )
        if key == base and rate != 1:
            raise MarketError(f"rate for the base currency {base} must be 1, not {rate}")
        table[key] = float(rate)
    return table


def _text_cells(raw: pd.DataFrame) -> tuple[dict[str, list[str]], list[int]]:
    """Column -> every cell as stripped text ("" when missing), leaving out rows with no text."""
    columns = {
        str(name): [
            "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            for value in raw.iloc[:, position].astype(object).where(raw.iloc[:, position].notna())
        ]
        for position, name in enumerate(raw.columns)
    }
    columns = {name: [cell.strip() for cell in cells] for name, cells in columns.items()}
    if raw.index.name == "line":
        lines = [int(line) for line in raw.index]
    else:
        lines = list(range(2, len(raw) + 2))
    keep = [any(cells[row] for cells in columns.values()) for row in range(len(raw))]
    return (
        {
            name: [cell for cell, kept in zip(cells, keep, strict=True) if kept]
            for name, cells in columns.items()
        },
        [line for line, kept in zip(lines, keep, strict=True) if kept],
    )


def _resolve_columns(cells: Mapping[str, list[str]], mapping: ColumnMapping) -> dict[str, str]:
    """Field -> the export's column, matching names exactly or else ignoring case and spaces."""
    by_loose_name: dict[str, list[str]] = defaultdict(list)
    for name in cells:
        by_loose_name[_loose(name)].append(name)
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for field_name, column in mapping.columns.items():
        if column in cells:
            resolved[field_name] = column
        elif len(by_loose_name[_loose(column)]) == 1:
            resolved[field_name] = by_loose_name[_loose(column)][0]
        else:
            missing.append(field_name)
    unmapped = [
        name for name in REQUIRED if name not in mapping.columns and name not in mapping.defaults
    ]
    if missing or unmapped:
        has = ", ".join(repr(name) for name in cells)
        parts = [f"no column {mapping.columns[name]!r} (mapped to {name})" for name in missing] + [
            f"nothing for required field {name}" for name in unmapped
        ]
        raise MissingColumns(
            f"the export has {'; '.join(parts)}. Its columns are: {has}. "
            'Fix [columns] in the mapping (field = "column name").',
            columns=[*missing, *unmapped],
        )
    return resolved


def _loose(name: str) -> str:
    return " ".join(name.casefold().split())


def _parse_each(
    keys: Sequence[K], parse: Callable[[K], T | None]
) -> tuple[list[T | None], dict[int, str]]:
    """Parse every key, each distinct one once; -> values (None where it failed), failures."""
    done: dict[K, T | None] = {}
    failed_keys: dict[K, str] = {}
    values: list[T | None] = []
    failures: dict[int, str] = {}
    for position, key in enumerate(keys):
        if key not in done and key not in failed_keys:
            try:
                done[key] = parse(key)
            except UnreadableValue as error:
                failed_keys[key] = str(error)
        if key in failed_keys:
            failures[position] = failed_keys[key]
            values.append(None)
        else:
            values.append(done[key])
    return values, failures


class _Import:
    """One import's state: the cells, where each field comes from, and the problems found."""

    def __init__(
        self,
        cells: Mapping[str, list[str]],
        lines: list[int],
        sources: Mapping[str, str],
        mapping: ColumnMapping,
        rates: Mapping[str, float],
        base: str,
    ) -> None:
        self.cells = cells
        self.lines = lines
        self.sources = sources
        self.mapping = mapping
        self.rates = rates
        self.base = base
        self.problems: dict[int, list[RowProblem]] = defaultdict(list)
        self.warnings: list[str] = []
        self.kept_lines: list[int] = []

    # - cells of one field -

    def given(self, field_name: str) -> bool:
        return field_name in self.sources or field_name in self.mapping.defaults

    def texts(self, field_name: str) -> list[str]:
        """Each row's text for a field: its cell, else the mapping's default, else ""."""
        default = self.mapping.defaults.get(field_name)
        fallback = "" if default is None else _default_text(default)
        column = self.sources.get(field_name)
        if column is None:
            return [fallback] * len(self.lines)
        return [cell or fallback for cell in self.cells[column]]

    def label(self, field_name: str) -> str:
        return self.sources.get(field_name) or f"[defaults] {field_name}"

    def reject(self, position: int, field_name: str, reason: str) -> None:
        self.problems[position].append(
            RowProblem(self.lines[position], self.label(field_name), reason)
        )

    def parse(self, field_name: str, parse: Callable[[str], T | None]) -> list[T | None]:
        values, failures = _parse_each(self.texts(field_name), parse)
        for position, reason in failures.items():
            self.reject(position, field_name, reason)
        return values

    # - the table -

    def sales(self) -> pd.DataFrame:
        mapping = self.mapping
        columns: dict[str, list[Any]] = {
            "artist": self.parse("artist", _required("artist", _clean_text)),
            "sale_date": self.parse(
                "sale_date",
                _required(
                    "sale_date",
                    lambda text: parsing.parse_date(
                        text, date_format=mapping.date_format, dayfirst=mapping.dayfirst
                    ),
                ),
            ),
        }
        for name in (*_TEXT_FIELDS, "item_id"):
            columns[name] = self.parse(name, _clean_text)
        for name in _YEAR_FIELDS:
            columns[name] = self.parse(name, parsing.parse_year)
        columns["signed"] = self.parse("signed", parsing.parse_signed)
        columns.update(self._sizes())
        columns.update(self._money())
        self._check_lifespans(columns["birth_year"], columns["death_year"])
        features = {
            name: self.texts(name) for name in mapping.columns if name.startswith(FEATURE_PREFIX)
        }
        keep = [position for position in range(len(self.lines)) if position not in self.problems]
        self.kept_lines = [self.lines[position] for position in keep]
        frame = pd.DataFrame(
            {name: [values[position] for position in keep] for name, values in columns.items()}
        )
        for name, texts in features.items():
            frame[name] = _feature_values([texts[position] for position in keep])
        if not len(self.lines):
            self.warnings.append("the export has a header but no rows")
        if not self.given("price"):
            self.warnings.append("no price column is mapped: every lot is recorded as unsold")
        frame["sale_date"] = pd.to_datetime(frame["sale_date"]) if keep else pd.NaT
        return validate_sales(frame)

    def _sizes(self) -> dict[str, list[float | None]]:
        units = self.parse("unit", lambda text: parsing.normalise_unit(text) if text else None)
        if self.given("dimensions"):
            keys = list(zip(self.texts("dimensions"), units, strict=True))
            sizes, failures = _parse_each(
                keys, lambda key: parsing.parse_dimensions(key[0], default_unit=key[1])
            )
            for position, reason in failures.items():
                self.reject(position, "dimensions", reason)
            empty = Dimensions(math.nan, math.nan, math.nan)
            return {
                name: [getattr(size or empty, name) for size in sizes]
                for name in ("height", "width", "depth")
            }
        result: dict[str, list[float | None]] = {}
        for name in ("height", "width", "depth"):
            numbers = self.parse(
                name, lambda text: parsing.parse_number(text, decimal=self.mapping.decimal)
            )
            result[name] = []
            for position, (number, unit) in enumerate(zip(numbers, units, strict=True)):
                if number is not None and unit is None:
                    self.reject(
                        position, name, "no unit: map a unit column or set unit under [defaults]"
                    )
                elif number is not None and not number > 0:
                    self.reject(position, name, f"{name} {number:g} is not above 0")
                result[name].append(
                    None if number is None or unit is None else number * UNIT_CM[unit]
                )
        return result

    def _money(self) -> dict[str, list[Any]]:
        """Price, estimates, currency, sold and premium_included for every row."""
        decimal = self.mapping.decimal
        prices = self.parse("price", lambda text: _parse_price(text, decimal))
        if self.given("estimate"):
            ranges = self.parse(
                "estimate", lambda text: parsing.parse_estimate(text, decimal=decimal)
            )
            lows = [pair[0] if pair else None for pair in ranges]
            highs = [pair[1] if pair else None for pair in ranges]
            low_field = high_field = "estimate"
        else:
            lows = self.parse(
                "low_estimate", lambda text: parsing.parse_money(text, decimal=decimal)
            )
            highs = self.parse(
                "high_estimate", lambda text: parsing.parse_money(text, decimal=decimal)
            )
            low_field, high_field = "low_estimate", "high_estimate"
        currencies = self.parse("currency", _parse_currency)
        currency_column = self.sources.get("currency")
        cells_say = (
            [bool(cell) for cell in self.cells[currency_column]]
            if currency_column
            else [False] * len(self.lines)
        )
        sold_flags = self.parse(
            "sold",
            lambda text: parsing.parse_flag(text, true_words=_SOLD_WORDS, false_words=_UNSOLD),
        )
        premium_flags = self.parse(
            "premium_included",
            lambda text: parsing.parse_flag(text, true_words=_PREMIUM_IN, false_words=_PREMIUM_OUT),
        )
        out: dict[str, list[Any]] = {
            name: []
            for name in (
                "price",
                "low_estimate",
                "high_estimate",
                "currency",
                "sold",
                "premium_included",
            )
        }
        counts: Counter[str] = Counter()
        for position in range(len(self.lines)):
            row = self._money_row(
                position,
                prices[position],
                lows[position],
                highs[position],
                (currencies[position], cells_say[position]),
                sold_flags[position],
                premium_flags[position],
                (low_field, high_field),
                counts,
            )
            for name, value in zip(out, row, strict=True):
                out[name].append(value)
        self._money_warnings(counts)
        return out

    def _money_row(
        self,
        position: int,
        price: Money | None,
        low: Money | None,
        high: Money | None,
        currency_cell: tuple[str | None, bool],
        sold_flag: bool | None,
        premium_flag: bool | None,
        estimate_fields: tuple[str, str],
        counts: Counter[str],
    ) -> tuple[float | None, float | None, float | None, str, bool, bool | None]:
        currency = self._row_currency(position, (price, low, high), *currency_cell)
        rate = None if currency is None else self.rates.get(currency)
        if currency is not None and rate is None:
            field_name = "currency" if currency_cell[0] == currency else "price"
            self.reject(
                position,
                field_name,
                f"unknown currency {currency}: add {currency} to the rates table "
                f"({self.base} per {currency})",
            )
        if currency is not None and currency != self.base and rate is not None:
            counts[f"convert {currency}"] += 1
        amounts = [
            None if money is None or rate is None else money.amount * rate
            for money in (price, low, high)
        ]
        amount, low_amount, high_amount = amounts
        if price is not None and not price.amount > 0:
            self.reject(
                position,
                "price",
                f"price {price.amount:g} is not above 0: leave it empty or write 'bought in' "
                "for an unsold lot",
            )
        sold = sold_flag if sold_flag is not None else price is not None
        if sold and price is None:
            self.reject(position, "price", "the lot is marked sold but has no price")
        if not sold and amount is not None:
            counts["unsold with price"] += 1
            amount = None
        for money, field_name in zip((low, high), estimate_fields, strict=True):
            if money is not None and not money.amount > 0:
                self.reject(position, field_name, f"estimate {money.amount:g} is not above 0")
        if low_amount is not None and high_amount is not None and low_amount > high_amount:
            self.reject(
                position,
                estimate_fields[0],
                f"low estimate {low.amount if low else 0:,g} is above high estimate "
                f"{high.amount if high else 0:,g}",
            )
        included = premium_flag
        if self.mapping.premium is not None:
            if included is False and amount is not None:
                amount *= 1 + self.mapping.premium
            elif included is None and amount is not None:
                counts["premium unknown"] += 1
            included = True if included is False else included
        return amount, low_amount, high_amount, self.base, sold, included

    def _row_currency(
        self,
        position: int,
        monies: tuple[Money | None, ...],
        cell_currency: str | None,
        from_cell: bool,
    ) -> str | None:
        """The row's currency: its currency cell, else what its amounts say, else the default."""
        written = [money.currency for money in monies if money is not None and money.currency]
        named = sorted(set(written) - {BARE_DOLLAR})
        if len(named) > 1:
            self.reject(
                position, "price", f"the amounts name different currencies: {', '.join(named)}"
            )
            return None
        if from_cell and cell_currency is not None and named and named[0] != cell_currency:
            self.reject(
                position,
                "currency",
                f"the currency column says {cell_currency} but the amounts say {named[0]}",
            )
            return None
        if from_cell and cell_currency is not None:
            currency: str | None = cell_currency
        elif named:
            currency = named[0]
        elif cell_currency is not None:
            currency = cell_currency
        elif BARE_DOLLAR in written:
            currency = "USD"
        else:
            currency = None
        if currency is None and any(money is not None for money in monies):
            self.reject(
                position,
                "currency" if self.given("currency") else "price",
                "no currency: map a currency column or set currency under [defaults]",
            )
        if BARE_DOLLAR in written and currency is not None and currency not in _DOLLARS:
            self.reject(position, "price", f"an amount in '$' but the currency is {currency}")
            return None
        return currency

    def _money_warnings(self, counts: Counter[str]) -> None:
        for key, count in sorted(counts.items()):
            if key.startswith("convert "):
                code = key.removeprefix("convert ")
                self.warnings.append(
                    f"converted {count} row(s) from {code} to {self.base} at {self.rates[code]:g} "
                    f"{self.base} per {code}"
                )
        if counts["unsold with price"]:
            self.warnings.append(
                f"{counts['unsold with price']} unsold lot(s) had a price (a bought-in level?): "
                "their price is left empty"
            )
        if counts["premium unknown"]:
            self.warnings.append(
                f"{counts['premium unknown']} row(s) do not say whether the price includes the "
                f"buyer's premium: the premium rate {self.mapping.premium:g} was not added to "
                "them; map premium_included or set it under [defaults]"
            )

    def _check_lifespans(self, births: list[Any], deaths: list[Any]) -> None:
        for position, (born, died) in enumerate(zip(births, deaths, strict=True)):
            if born is not None and died is not None and born > died:
                self.reject(position, "birth_year", f"born {born}, after the death year {died}")


def _default_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _clean_text(text: str) -> str:
    return " ".join(text.split())


def _required(name: str, parse: Callable[[str], T | None]) -> Callable[[str], T]:
    def parse_required(text: str) -> T:
        value = parse(text)
        if value is None or value == "":
            raise UnreadableValue(f"{name} is empty; it is required")
        return value

    return parse_required


def _parse_price(text: str, decimal: str) -> Money | None:
    """A price, or None for an empty cell or a word for an unsold lot ('bought in', 'passed')."""
    words = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
    if not text.strip() or text.strip() in ("-", "\u2013", "\u2014") or words in _UNSOLD:
        return None
    return parsing.parse_money(text, decimal=decimal)


def _parse_currency(text: str) -> str | None:
    """'USD', 'usd', '£', 'HK$' -> an ISO code; '$' -> BARE_DOLLAR; empty -> None."""
    if not text:
        return None
    money = parsing.parse_money(f"{text} 1")  # reuse the symbol table: '£ 1' names GBP
    if money is None or money.currency is None:
        raise UnreadableValue(f"{text!r} is not a currency code such as USD or a symbol such as £")
    return money.currency


def _feature_values(texts: Sequence[str] | pd.Series) -> pd.Series:
    """Numbers when every non-empty value is one, else text (one vectorised pass per column)."""
    cells = pd.Series(texts, dtype=object)
    given = cells.ne("").to_numpy(dtype=bool)
    numbers = pd.to_numeric(cells.where(given), errors="coerce")
    if int(numbers.notna().sum()) == int(given.sum()):
        return numbers.astype("float64")
    return cells.astype("string")


def _drop_duplicates(sales: pd.DataFrame, lines: list[int]) -> tuple[pd.DataFrame, list[Duplicate]]:
    if sales.empty:
        return sales, []
    groups = sales.groupby(list(DUPLICATE_KEY), dropna=False, sort=False).ngroup().to_numpy()
    first_line: dict[int, int] = {}
    duplicates: list[Duplicate] = []
    keep: list[bool] = []
    for group, line in zip(groups, lines, strict=True):
        if group in first_line:
            duplicates.append(Duplicate(line=line, first_line=first_line[group]))
            keep.append(False)
        else:
            first_line[group] = line
            keep.append(True)
    return sales.loc[keep].reset_index(drop=True), duplicates


def _rejection_message(report: ImportReport) -> str:
    shown = [f"  {problem}" for problem in report.problems[:_SHOWN_PROBLEMS]]
    more = len(report.problems) - len(shown)
    if more:
        shown.append(f"  ... and {more} more")
    return (
        f"import rejected, nothing was imported: {report.rejected} of {report.rows_read} row(s) "
        "have problems; fix them (or the mapping) and import again:\n" + "\n".join(shown)
    )


# --- the stored table ------------------------------------------------------------------------


def save_sales(frame: pd.DataFrame, path: Path) -> None:
    """Write a sales table as CSV (gzip when the name ends in .gz), validated first.

    Plain CSV keeps the data readable by any tool; the canonical dtypes come back from the schema
    on `load_sales`, and `feature_*` columns come back as numbers when they hold only numbers.
    """
    path = Path(path)
    sales = validate_sales(frame)
    partial = path.with_name(f".{path.name}.partial")
    compression = "gzip" if path.suffix == ".gz" else None
    sales.to_csv(partial, index=False, date_format="%Y-%m-%d", compression=compression)
    os.replace(partial, path)


def load_sales(path: Path) -> pd.DataFrame:
    """Read a table written by `save_sales` back with canonical dtypes."""
    path = Path(path)
    if not path.is_file():
        raise MarketError(
            f"no sales table at {path}; create one with `python -m market import FILE --mapping "
            "MAP.toml --out DATA`"
        )
    try:
        header = pd.read_csv(path, nrows=0).columns
        features = feature_columns(pd.DataFrame(columns=header))
        # Canonical columns as text (the schema types them); feature columns through the C
        # parser's own number detection, with only an empty cell missing.
        text = pd.read_csv(
            path,
            dtype={name: str for name in header if name not in features},
            keep_default_na=False,
            na_values={name: [""] for name in features},
        )
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise MarketError(f"{path} is not a sales table written by save_sales: {error}") from error
    for name in features:
        if pd.api.types.is_numeric_dtype(text[name]):
            text[name] = text[name].astype("float64")
        else:
            text[name] = _feature_values(text[name].fillna("").astype(str))
    return validate_sales(text)
