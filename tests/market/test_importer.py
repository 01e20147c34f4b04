"""Importing messy auction exports: encodings, Excel, the mapping, row errors, all or nothing."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd
import pytest

from market.errors import ImportRejected, MarketError, MissingColumns, RowProblem
from market.importer import (
    ColumnMapping,
    Duplicate,
    ImportResult,
    import_sales,
    load_mapping,
    load_sales,
    read_export,
    save_sales,
)
from market.schema import SALE_COLUMNS, load_cryptopunks
from tests.market.exports import (
    EXCEL_ROWS,
    HEADER,
    MAPPING_TOML,
    ROWS,
    cryptopunks_dir,
    write_csv,
    write_xlsx,
)

RATES = {"GBP": 1.4}
PRICE = "Sales_Price_Dollar"


@pytest.fixture
def mapping(tmp_path: Path) -> ColumnMapping:
    """The issue's example mapping, read from its TOML file."""
    path = tmp_path / "christies.toml"
    path.write_text(MAPPING_TOML, encoding="utf-8")
    return load_mapping(path)


def _import(path: Path, mapping: ColumnMapping, *, strict: bool = True) -> ImportResult:
    return import_sales(read_export(path), mapping, rates=RATES, strict=strict)


def _with(row: int, column: str, value: str) -> list[list[str]]:
    """ROWS with one cell changed (row 0 is spreadsheet line 2)."""
    rows = [list(cells) for cells in ROWS]
    rows[row][HEADER.index(column)] = value
    return rows


# --- the mapping -----------------------------------------------------------------------------


def test_mapping_file_gives_columns_defaults_and_options(mapping: ColumnMapping) -> None:
    assert mapping.columns["artist"] == "Artist"
    assert mapping.columns["price"] == PRICE
    assert mapping.columns["dimensions"] == "Size"
    assert dict(mapping.defaults) == {
        "currency": "USD",
        "auction_house": "Christie's",
        "premium_included": True,
    }
    assert mapping.dayfirst is True
    assert mapping.premium is None
    assert mapping.date_format is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[columns]\nartsit = "Artist"\n', r"unknown field\(s\) 'artsit'"),
        ('[columns]\nartist = "Artist"\n[options]\npremium = 25\n', r"write 0.25 for a 25%"),
        ('[columns]\nartist = "Artist"\n[options]\nprmeium = 0.2\n', r"unknown option"),
        (
            '[columns]\nestimate = "Est"\nlow_estimate = "Low"\n',
            r"both estimate and low_estimate",
        ),
        ('[columns]\nartist = "Artist"\n[default]\ncurrency = "USD"\n', r"unknown table"),
        ('[defaults]\ncurrency = "USD"\n', r"no \[columns\] table"),
        ("[columns\nartist = 1\n", r"is not valid TOML"),
    ],
)
def test_bad_mapping_files_are_refused_with_the_reason(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "map.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(MarketError, match=message):
        load_mapping(path)


def test_a_mapping_goes_to_a_dict_and_back(mapping: ColumnMapping) -> None:
    as_dict = mapping.to_dict()
    assert as_dict["options"] == {"dayfirst": True, "decimal": "."}
    assert ColumnMapping.from_dict(as_dict) == mapping


def test_a_missing_mapping_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MarketError, match=r"no mapping file at .*absent\.toml"):
        load_mapping(tmp_path / "absent.toml")


# --- reading files ---------------------------------------------------------------------------


def _write_utf16_be(path: Path) -> Path:
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter="\t")
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    path.write_bytes("\ufeff".encode("utf-16-be") + text.getvalue().encode("utf-16-be"))
    return path


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8", ","),
        ("utf-8-sig", ","),
        ("utf-8", ";"),
        ("utf-8-sig", ";"),
        ("utf-16", ","),  # Python writes UTF-16 with a byte order mark (little-endian here)
        ("utf-16", "\t"),
        ("utf-8", "|"),
    ],
)
def test_csv_exports_read_the_same_in_every_encoding_and_delimiter(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    plain = read_export(write_csv(tmp_path / "plain.csv", ROWS))
    other = read_export(
        write_csv(tmp_path / "other.csv", ROWS, encoding=encoding, delimiter=delimiter)
    )
    pd.testing.assert_frame_equal(other, plain)
    assert list(plain.columns) == HEADER
    assert list(plain.index) == [2, 3, 4, 5, 6]
    assert plain.loc[3, "Title"] == "Jeune fille, au jardin"
    assert plain.loc[2, "Size"] == '33.66" x 16.93" (85.50cm x 43.00cm)'


def test_utf16_big_endian_with_its_byte_order_mark_reads(tmp_path: Path) -> None:
    plain = read_export(write_csv(tmp_path / "plain.csv", ROWS))
    pd.testing.assert_frame_equal(read_export(_write_utf16_be(tmp_path / "be.txt")), plain)


def test_a_wrong_encoding_is_refused_naming_the_encodings_tried(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "windows.csv", ROWS, encoding="cp1252")
    with pytest.raises(MarketError) as caught:
        read_export(path)
    message = str(caught.value)
    assert "windows.csv is not in a supported encoding" in message
    assert "byte 0xe9" in message  # the é of Nymphéas
    assert "tried UTF-8, UTF-8 with BOM, UTF-16 with BOM" in message
    assert "cp1252" in message
    assert read_export(path, encoding="cp1252").loc[2, "Title"] == "Nymphéas"


def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bare.csv", ROWS, encoding="utf-16-le")
    with pytest.raises(MarketError, match=r"looks like UTF-16 without a byte order mark"):
        read_export(path)


def test_old_excel_workbooks_are_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "results.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(MarketError, match=r"Excel 97-2003 \(.xls\).*save it as .xlsx or CSV"):
        read_export(path)


def test_a_row_with_more_values_than_the_header_names_its_line(tmp_path: Path) -> None:
    rows = [list(row) for row in ROWS]
    rows[1] = [*rows[1], "stray"]
    with pytest.raises(MarketError, match=r"line 3: 11 values but the header \(line 1\) has 10"):
        read_export(write_csv(tmp_path / "ragged.csv", rows))


def test_line_numbers_are_spreadsheet_rows(tmp_path: Path) -> None:
    two_lines = _with(1, "Title", "Jeune fille\nau jardin")[1]
    rows = [ROWS[0], [], two_lines, ROWS[2]]
    raw = read_export(write_csv(tmp_path / "gaps.csv", rows))
    # The blank row is line 3; the quoted title's line break stays inside spreadsheet row 4.
    assert list(raw.index) == [2, 4, 5]
    assert raw.loc[4, "Title"] == "Jeune fille\nau jardin"


def test_excel_exports_read_as_text_cells(tmp_path: Path) -> None:
    raw = read_export(write_xlsx(tmp_path / "results.xlsx", EXCEL_ROWS))
    assert list(raw.columns) == HEADER
    assert list(raw.index) == [2, 3]
    assert raw.loc[2].tolist() == [
        "Claude Monet",
        "Nymphéas",
        "2021-05-12",
        "12",
        "1250000",
        "$1,000,000 - 1,500,000",
        "85.5 x 43 cm",
        "1906",
        "true",
        "oil on canvas",
    ]
    assert raw.loc[3, "Date"] == "2021-05-13 18:30:00"
    assert raw.loc[3, "Lot"] == "15"
    assert raw.loc[3, "Sales_Price_Dollar"] == "12500.5"
    assert raw.loc[3, "Estimate"] == ""


def test_excel_exports_import(tmp_path: Path, mapping: ColumnMapping) -> None:
    sales = _import(write_xlsx(tmp_path / "results.xlsx", EXCEL_ROWS), mapping).sales
    assert list(sales["sale_date"]) == [pd.Timestamp("2021-05-12"), pd.Timestamp("2021-05-13")]
    assert list(sales["price"]) == [1_250_000.0, 12_500.5]
    assert list(sales["signed"]) == [True, False]
    assert list(sales["lot"]) == ["12", "15"]


def test_a_missing_sheet_is_named(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "results.xlsx", EXCEL_ROWS)
    with pytest.raises(MarketError, match=r"no sheet 'Sheet9'; its sheets: Results"):
        read_export(path, sheet="Sheet9")


# --- importing -------------------------------------------------------------------------------


def test_a_messy_export_becomes_the_canonical_table(tmp_path: Path, mapping: ColumnMapping) -> None:
    result = _import(write_csv(tmp_path / "export.csv", ROWS), mapping)
    sales = result.sales
    assert list(sales.columns) == list(SALE_COLUMNS)
    assert {name: str(sales[name].dtype) for name in SALE_COLUMNS} == dict(SALE_COLUMNS)
    assert list(sales["artist"]) == [
        "Claude Monet",
        "Berthe Morisot",
        "Zao Wou-Ki",
        "Paul Klee",
        "Gabriele Münter",
    ]
    assert [day.date().isoformat() for day in sales["sale_date"]] == [
        "2021-05-12",
        "2021-05-12",
        "2021-05-12",
        "2021-05-13",  # 13/05/2021, read day first as the mapping says
        "2021-05-13",
    ]
    assert sales["price"].tolist()[:2] == [1_250_000.0, 450_000.0]
    assert math.isnan(sales.loc[2, "price"])  # bought in
    assert sales["price"].tolist()[3:] == [12_500.0, 98_000.0]
    assert list(sales["sold"]) == [True, True, False, True, True]
    assert sales["low_estimate"].tolist()[:3] == pytest.approx([1e6, 3e5, 8000 * 1.4])
    assert sales["high_estimate"].tolist()[:3] == pytest.approx([1.5e6, 4e5, 12000 * 1.4])
    assert set(sales["currency"]) == {"USD"}
    assert sales["height"].tolist() == pytest.approx([85.5, 85.5, 85.5, 33 * 2.54, 85.0])
    assert sales["width"].tolist() == pytest.approx([43.0, 43.0, 43.0, 17 * 2.54, 43.0])
    assert sales.loc[2, "depth"] == 5.0
    assert sales["year_made"].tolist() == [1906, 1890, 1958, 1925, 1908]
    assert sales["signed"].tolist()[:2] == [True, True]
    assert pd.isna(sales.loc[2, "signed"])
    assert sales["signed"].tolist()[3:] == [False, True]
    assert set(sales["auction_house"]) == {"Christie's"}
    assert sales["premium_included"].all()
    assert list(sales["lot"]) == ["12", "13A", "14", "15", "16"]
    assert sales.loc[0, "item_id"] == "claude monet|nympheas|1906|86x43"
    report = result.report
    assert (report.rows_read, report.imported, report.rejected) == (5, 5, 0)
    assert report.problems == ()
    assert report.warnings == ("converted 1 row(s) from GBP to USD at 1.4 USD per GBP",)
    assert "read 5 row(s): imported 5, rejected 0" in report.summary()


def test_the_same_rows_import_identically_from_every_form(
    tmp_path: Path, mapping: ColumnMapping
) -> None:
    expected = _import(write_csv(tmp_path / "plain.csv", ROWS), mapping).sales
    forms = [
        write_csv(tmp_path / "bom.csv", ROWS, encoding="utf-8-sig", delimiter=";"),
        write_csv(tmp_path / "utf16.csv", ROWS, encoding="utf-16", delimiter="\t"),
        _write_utf16_be(tmp_path / "utf16be.csv"),
        write_xlsx(tmp_path / "export.xlsx", ROWS),
    ]
    for path in forms:
        pd.testing.assert_frame_equal(_import(path, mapping).sales, expected, obj=path.name)


BAD_ROWS = [
    ROWS[0],
    ROWS[1],
    _with(2, PRICE, "0")[2],
    _with(3, PRICE, "-1,000")[3],
    _with(4, "Date", "sometime in May")[4],
    _with(0, "Size", "large")[0],
    _with(3, PRICE, "CHF 5,000")[3],
    _with(3, "Year", "early")[3],
    _with(4, "Estimate", "$20,000 - 10,000")[4],
    ROWS[3],
]
BAD_PROBLEMS = [
    (4, PRICE, "price 0 is not above 0: leave it empty or write 'bought in' for an unsold lot"),
    (5, PRICE, "price -1000 is not above 0"),
    (6, "Date", "'sometime in May' is not a date"),
    (7, "Size", "'large' has no measurements such as 85.5 x 43 cm"),
    (8, PRICE, "unknown currency CHF: add CHF to the rates table (USD per CHF)"),
    (9, "Year", "'early' is not a year"),
    (10, "Estimate", "low estimate 20,000 is above high estimate 10,000"),
]


def _assert_bad_problems(problems: tuple[RowProblem, ...]) -> None:
    assert [(p.line, p.column) for p in problems] == [(line, col) for line, col, _ in BAD_PROBLEMS]
    for problem, (_, _, reason) in zip(problems, BAD_PROBLEMS, strict=True):
        assert problem.reason.startswith(reason), problem


def test_bad_rows_reject_the_whole_import_listing_every_problem(
    tmp_path: Path, mapping: ColumnMapping
) -> None:
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    with pytest.raises(ImportRejected) as caught:
        _import(path, mapping)
    _assert_bad_problems(caught.value.problems)
    message = str(caught.value)
    assert "nothing was imported: 7 of 10 row(s) have problems" in message
    assert "line 6, column 'Date': 'sometime in May' is not a date" in message
    assert "line 8, column 'Sales_Price_Dollar': unknown currency CHF" in message


def test_not_strict_keeps_the_good_rows_and_reports_the_rest(
    tmp_path: Path, mapping: ColumnMapping
) -> None:
    result = _import(write_csv(tmp_path / "bad.csv", BAD_ROWS), mapping, strict=False)
    assert list(result.sales["artist"]) == ["Claude Monet", "Berthe Morisot", "Paul Klee"]
    report = result.report
    assert (report.rows_read, report.imported, report.rejected) == (10, 3, 7)
    _assert_bad_problems(report.problems)
    assert "error: line 7, column 'Size'" in report.summary()


def test_one_row_with_several_problems_lists_each(tmp_path: Path, mapping: ColumnMapping) -> None:
    rows = _with(0, PRICE, "0")
    rows[0][HEADER.index("Date")] = "someday"
    with pytest.raises(ImportRejected) as caught:
        _import(write_csv(tmp_path / "bad.csv", rows), mapping)
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, "Date"), (2, PRICE)]
    assert "1 of 5 row(s)" in str(caught.value)


def test_a_mapped_column_missing_from_the_export_is_named_with_the_columns_it_has(
    tmp_path: Path,
) -> None:
    mapping = ColumnMapping(
        columns={"artist": "Artist", "sale_date": "Sale date", "dimensions": "Dimensions"}
    )
    with pytest.raises(MissingColumns) as caught:
        _import(write_csv(tmp_path / "export.csv", ROWS), mapping)
    message = str(caught.value)
    assert "no column 'Sale date' (mapped to sale_date)" in message
    assert "no column 'Dimensions' (mapped to dimensions)" in message
    assert "Its columns are: 'Artist', 'Title', 'Date', 'Lot'," in message
    assert caught.value.columns == ("sale_date", "dimensions")


def test_a_required_field_without_a_column_or_default_is_named(tmp_path: Path) -> None:
    mapping = ColumnMapping(columns={"artist": "Artist", "price": PRICE})
    with pytest.raises(MissingColumns, match=r"nothing for required field sale_date") as caught:
        _import(write_csv(tmp_path / "export.csv", ROWS), mapping)
    assert caught.value.columns == ("sale_date",)


def test_column_names_match_ignoring_case_and_spacing(tmp_path: Path) -> None:
    mapping = ColumnMapping(
        columns={"artist": " ARTIST", "sale_date": "date", "price": "sales_price_dollar"},
        defaults={"currency": "USD"},
        dayfirst=True,
    )
    assert len(_import(write_csv(tmp_path / "export.csv", ROWS), mapping).sales) == 5


def test_defaults_fill_empty_cells_and_absent_fields(tmp_path: Path) -> None:
    rows = _with(0, "Medium", "")
    mapping = ColumnMapping(
        columns={"artist": "Artist", "sale_date": "Date", "medium": "Medium"},
        defaults={"medium": "oil on canvas", "location": "London", "sale_date": "2021-05-12"},
        dayfirst=True,
    )
    result = _import(write_csv(tmp_path / "export.csv", rows), mapping)
    sales = result.sales
    assert sales.loc[0, "medium"] == "oil on canvas"
    assert set(sales["location"]) == {"London"}
    assert list(sales["sold"]) == [False] * 5  # no price mapped: nothing is known to have sold
    assert "no price column is mapped" in result.report.warnings[0]


def test_exact_duplicate_lots_are_dropped_with_a_warning(
    tmp_path: Path, mapping: ColumnMapping
) -> None:
    rows = [*ROWS, ROWS[0], _with(0, "Lot", "99")[0]]
    result = _import(write_csv(tmp_path / "dupes.csv", rows), mapping)
    assert len(result.sales) == 6  # the repeat of line 2 goes; a different lot number stays
    assert result.report.duplicates == (Duplicate(line=7, first_line=2),)
    assert result.report.warnings[0] == (
        "line 7 repeats line 2 (same artist, title, date, lot and price): dropped"
    )
    assert result.report.rejected == 0


@pytest.mark.parametrize("word", ["bought in", "Bought In", "B.I.", "unsold", "passed", "", "-"])
def test_unsold_lots_have_no_price(tmp_path: Path, mapping: ColumnMapping, word: str) -> None:
    sales = _import(write_csv(tmp_path / "export.csv", _with(0, PRICE, word)), mapping).sales
    assert sales.loc[0, "sold"] is False or not sales.loc[0, "sold"]
    assert math.isnan(sales.loc[0, "price"])


def test_a_sold_column_decides_and_a_sold_lot_needs_a_price(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Price", "Status"]
    rows = [
        ["Monet", "2021-05-12", "1000", "Sold"],
        ["Monet", "2021-05-13", "900", "Bought In"],
        ["Monet", "2021-05-14", "", "sold"],
    ]
    mapping = ColumnMapping(
        columns={"artist": "Artist", "sale_date": "Date", "price": "Price", "sold": "Status"},
        defaults={"currency": "USD"},
    )
    path = write_csv(tmp_path / "status.csv", rows, header=header)
    result = _import(path, mapping, strict=False)
    assert result.report.problems == (
        RowProblem(4, "Price", "the lot is marked sold but has no price"),
    )
    assert list(result.sales["sold"]) == [True, False]
    assert math.isnan(result.sales.loc[1, "price"])
    assert "1 unsold lot(s) had a price" in result.report.warnings[0]


def test_currencies_convert_with_the_rates_table(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Price", "Currency", "Estimate"]
    rows = [
        ["Monet", "2021-05-12", "1.000", "GBP", "800 - 1.200"],
        ["Monet", "2021-05-13", "€2.000", "", ""],
        ["Monet", "2021-05-14", "3000", "usd", ""],
        ["Monet", "2021-05-15", "HK$ 10.000", "", ""],
    ]
    mapping = ColumnMapping(
        columns={
            "artist": "Artist",
            "sale_date": "Date",
            "price": "Price",
            "currency": "Currency",
            "estimate": "Estimate",
        },
        decimal=",",
    )
    rates = {"GBP": 1.25, "eur": 1.1, "HKD": 0.128}
    path = write_csv(tmp_path / "fx.csv", rows, header=header)
    result = import_sales(read_export(path), mapping, rates=rates)
    assert result.sales["price"].tolist() == pytest.approx([1250.0, 2200.0, 3000.0, 1280.0])
    assert result.sales.loc[0, "low_estimate"] == pytest.approx(1000.0)
    assert set(result.sales["currency"]) == {"USD"}
    gbp_rates = {"USD": 0.8, "EUR": 0.88, "HKD": 0.1}
    in_gbp = import_sales(read_export(path), mapping, rates=gbp_rates, base_currency="GBP")
    assert set(in_gbp.sales["currency"]) == {"GBP"}
    assert in_gbp.sales["price"].tolist() == pytest.approx([1000.0, 1760.0, 2400.0, 1000.0])
    with pytest.raises(ImportRejected) as caught:
        import_sales(read_export(path), mapping, rates={"GBP": 1.25})
    assert [str(problem) for problem in caught.value.problems] == [
        "line 3, column 'Price': unknown currency EUR: add EUR to the rates table (USD per EUR)",
        "line 5, column 'Price': unknown currency HKD: add HKD to the rates table (USD per HKD)",
    ]


def test_a_currency_cell_that_contradicts_the_amount_is_a_row_error(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Price", "Currency"]
    rows = [["Monet", "2021-05-12", "GBP 1,000", "USD"], ["Monet", "2021-05-13", "$5", "GBP"]]
    mapping = ColumnMapping(
        columns={"artist": "Artist", "sale_date": "Date", "price": "Price", "currency": "Currency"}
    )
    with pytest.raises(ImportRejected) as caught:
        import_sales(read_export(write_csv(tmp_path / "x.csv", rows, header=header)), mapping)
    assert [str(problem) for problem in caught.value.problems] == [
        "line 2, column 'Currency': the currency column says USD but the amounts say GBP",
        "line 3, column 'Price': an amount in '$' but the currency is GBP",
    ]


def test_a_row_without_any_currency_is_a_row_error(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Price"]
    rows = [["Monet", "2021-05-12", "1,000"]]
    mapping = ColumnMapping(columns={"artist": "Artist", "sale_date": "Date", "price": "Price"})
    with pytest.raises(ImportRejected, match=r"line 2, column 'Price': no currency"):
        import_sales(read_export(write_csv(tmp_path / "x.csv", rows, header=header)), mapping)


def test_bad_rates_are_refused() -> None:
    mapping = ColumnMapping(columns={"artist": "A", "sale_date": "D"})
    raw = pd.DataFrame({"A": ["Monet"], "D": ["2021-05-12"]})
    with pytest.raises(MarketError, match=r"rate for GBP is -1"):
        import_sales(raw, mapping, rates={"GBP": -1})
    with pytest.raises(MarketError, match=r"'dollars' is not an ISO 4217 code"):
        import_sales(raw, mapping, base_currency="dollars")


def test_hammer_prices_get_the_premium_added(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Hammer", "Premium?"]
    rows = [
        ["Monet", "2021-05-12", "1000", "no"],
        ["Monet", "2021-05-13", "1250", "yes"],
        ["Monet", "2021-05-14", "1000", ""],
    ]
    columns = {
        "artist": "Artist",
        "sale_date": "Date",
        "price": "Hammer",
        "premium_included": "Premium?",
    }
    mapping = ColumnMapping(columns=columns, defaults={"currency": "USD"}, premium=0.25)
    result = import_sales(read_export(write_csv(tmp_path / "p.csv", rows, header=header)), mapping)
    assert result.sales["price"].tolist() == [1250.0, 1250.0, 1000.0]
    assert result.sales["premium_included"].tolist()[:2] == [True, True]
    assert pd.isna(result.sales.loc[2, "premium_included"])
    assert (
        "1 row(s) do not say whether the price includes the buyer's premium"
        in (result.report.warnings[0])
    )
    without_rule = ColumnMapping(columns=columns, defaults={"currency": "USD"})
    kept = import_sales(read_export(tmp_path / "p.csv"), without_rule).sales
    assert kept["price"].tolist() == [1000.0, 1250.0, 1000.0]
    assert kept["premium_included"].tolist()[:2] == [False, True]


def test_separate_size_columns_use_the_unit(tmp_path: Path) -> None:
    header = ["Artist", "Date", "H", "W", "Unit"]
    rows = [["Monet", "2021-05-12", "33", "17", "in"], ["Monet", "2021-05-13", "850", "430", "mm"]]
    mapping = ColumnMapping(
        columns={
            "artist": "Artist",
            "sale_date": "Date",
            "height": "H",
            "width": "W",
            "unit": "Unit",
        }
    )
    sales = import_sales(read_export(write_csv(tmp_path / "s.csv", rows, header=header)), mapping)
    assert sales.sales["height"].tolist() == pytest.approx([83.82, 85.0])
    assert sales.sales["width"].tolist() == pytest.approx([43.18, 43.0])


def test_feature_columns_come_through(tmp_path: Path) -> None:
    header = ["Artist", "Date", "Edition", "Colour"]
    rows = [["Monet", "2021-05-12", "3", "blue"], ["Monet", "2021-05-13", "", "red"]]
    mapping = ColumnMapping(
        columns={
            "artist": "Artist",
            "sale_date": "Date",
            "feature_edition": "Edition",
            "feature_colour": "Colour",
        }
    )
    sales = import_sales(read_export(write_csv(tmp_path / "f.csv", rows, header=header)), mapping)
    assert sales.sales["feature_edition"].tolist()[0] == 3.0
    assert math.isnan(sales.sales["feature_edition"].tolist()[1])
    assert sales.sales["feature_colour"].tolist() == ["blue", "red"]


def test_a_plain_frame_counts_lines_from_two(mapping: ColumnMapping) -> None:
    raw = pd.DataFrame([ROWS[0], _with(1, "Date", "never")[1]], columns=HEADER)
    with pytest.raises(ImportRejected) as caught:
        import_sales(raw, mapping)
    assert [problem.line for problem in caught.value.problems] == [3]


def test_an_export_with_only_a_header_imports_nothing(
    tmp_path: Path, mapping: ColumnMapping
) -> None:
    result = _import(write_csv(tmp_path / "empty.csv", []), mapping)
    assert result.sales.empty
    assert list(result.sales.columns) == list(SALE_COLUMNS)
    assert result.report.warnings == ("the export has a header but no rows",)


# --- the stored table ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sales.csv", "sales.csv.gz"])
def test_saved_sales_load_back_unchanged(tmp_path: Path, mapping: ColumnMapping, name: str) -> None:
    sales = _import(write_csv(tmp_path / "export.csv", ROWS), mapping).sales
    sales["feature_edition"] = [1.0, 2.0, math.nan, 4.0, 5.5]
    sales["feature_colour"] = pd.Series(["blue", "", "NA", "red", "None"], dtype="string")
    save_sales(sales, tmp_path / name)
    pd.testing.assert_frame_equal(load_sales(tmp_path / name), sales)


def test_saved_cryptopunks_load_back(tmp_path: Path) -> None:
    punks = load_cryptopunks(cryptopunks_dir() / "tx_db.csv").iloc[:300]
    save_sales(punks, tmp_path / "punks.csv.gz")
    loaded = load_sales(tmp_path / "punks.csv.gz")
    # 0/1 trait flags come back as int64 (CSV keeps values, not widths).
    pd.testing.assert_frame_equal(loaded, punks.reset_index(drop=True), check_dtype=False)
    assert {name: str(loaded[name].dtype) for name in SALE_COLUMNS} == dict(SALE_COLUMNS)


def test_loading_a_missing_table_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(MarketError, match=r"no sales table at .*python -m market import"):
        load_sales(tmp_path / "absent.csv")
