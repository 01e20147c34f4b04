"""`python -m market` as a person runs it: a messy export, the CryptoPunks sales, every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from market.importer import load_sales, save_sales
from market.synthetic import synthetic_sales
from tests.helpers import REPO
from tests.market.exports import HEADER, MAPPING_TOML, ROWS, cryptopunks_dir, write_csv

PRICE = HEADER.index("Sales_Price_Dollar")
DATE = HEADER.index("Date")
TITLE = HEADER.index("Title")


def market(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "market", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with `code` and one plain line on stderr (no traceback)."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("market-cli")
    (folder / "christies.toml").write_text(MAPPING_TOML, encoding="utf-8")
    (folder / "rates.toml").write_text("[rates]\nGBP = 1.25\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def messy_export(workdir: Path) -> Path:
    """The export rows as a UTF-16, semicolon-separated file, with line 7 repeating line 2."""
    return write_csv(workdir / "christies.csv", [*ROWS, ROWS[0]], encoding="utf-16", delimiter=";")


@pytest.fixture(scope="module")
def imported(workdir: Path, messy_export: Path) -> Path:
    out = workdir / "christies_sales.csv"
    result = market(
        "import", messy_export, "--mapping", workdir / "christies.toml", "--out", out,
        "--rates", workdir / "rates.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def punks(workdir: Path) -> Path:
    source = cryptopunks_dir()
    out = workdir / "punks.csv.gz"
    result = market("punks", "--out", out, "--source", source)
    assert result.returncode == 0, result.stderr
    assert "CryptoPunks sales" in result.stdout
    return out


@pytest.fixture(scope="module")
def punks_model(workdir: Path, punks: Path) -> Path:
    out = workdir / "punks-model"
    result = market("fit", punks, "--until", "2021-07-01", "--out", out, "--trees", "40")
    assert result.returncode == 0, result.stderr
    assert "sales before 2021-07-01" in result.stdout
    return out


# --- import ----------------------------------------------------------------------------------


def test_import_prints_the_report_and_writes_the_sales(workdir: Path, imported: Path) -> None:
    sales = load_sales(imported)

    assert len(sales) == 5  # six rows read, one a repeat
    assert set(sales["currency"]) == {"USD"}
    zao = sales.loc[sales["artist"] == "Zao Wou-Ki"].iloc[0]
    assert not zao["sold"]
    assert zao["low_estimate"] == pytest.approx(8000 * 1.25)


def test_import_report_counts_rows_duplicates_and_conversions(
    workdir: Path, messy_export: Path
) -> None:
    result = market(
        "import", messy_export, "--mapping", workdir / "christies.toml",
        "--out", workdir / "again.csv", "--rates", workdir / "rates.toml",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "rows read:   6" in result.stdout
    assert "imported:    5" in result.stdout
    assert "duplicates:  1 dropped" in result.stdout
    assert "line 7 repeats line 2" in result.stdout
    assert "converted 1 row(s) from GBP to USD at 1.25 USD per GBP" in result.stdout


def test_rejected_rows_are_listed_with_line_and_reason_and_nothing_is_written(
    workdir: Path,
) -> None:
    rows = [list(row) for row in ROWS] + [list(ROWS[3]), list(ROWS[4])]
    rows[5][DATE], rows[5][TITLE] = "31/02/2021", "Another"
    rows[6][PRICE], rows[6][TITLE] = "-5", "Yet another"
    export = write_csv(workdir / "bad.csv", rows)
    out = workdir / "bad_sales.csv"
    common = ("--mapping", workdir / "christies.toml", "--rates", workdir / "rates.toml")

    strict = market("import", export, "--out", out, *common)

    message = assert_one_line_error(strict, 1)
    assert "2 of 7 rows have problems" in message
    assert "--lenient" in message
    assert "line 7, column 'Date': '31/02/2021' is not a date" in strict.stdout
    assert "line 8, column 'Sales_Price_Dollar': price -5 is not above 0" in strict.stdout
    assert "imported:    0 (strict import: 5 good rows held back)" in strict.stdout
    assert not out.exists()

    lenient = market("import", export, "--out", out, *common, "--lenient")

    assert lenient.returncode == 0, lenient.stderr
    assert "line 7, column 'Date'" in lenient.stdout
    assert len(load_sales(out)) == 5


def test_unknown_currency_without_rates_rejects_the_row(workdir: Path, messy_export: Path) -> None:
    result = market(
        "import", messy_export, "--mapping", workdir / "christies.toml",
        "--out", workdir / "no_rates.csv",
    )  # fmt: skip

    assert_one_line_error(result, 1)
    assert "line 4, column 'Sales_Price_Dollar': unknown currency GBP" in result.stdout
    assert not (workdir / "no_rates.csv").exists()


def test_missing_column_is_named(workdir: Path) -> None:
    header = ["Price USD" if name == "Sales_Price_Dollar" else name for name in HEADER]
    export = write_csv(workdir / "renamed.csv", ROWS, header=header)

    result = market(
        "import", export, "--mapping", workdir / "christies.toml", "--out", workdir / "x.csv"
    )

    message = assert_one_line_error(result, 1)
    assert "no column 'Sales_Price_Dollar' (mapped to price)" in message
    assert "'Price USD'" in message


# --- fit and predict -------------------------------------------------------------------------


def test_fit_writes_a_model_that_says_its_date_and_calibration(punks_model: Path) -> None:
    info = json.loads((punks_model / "model.json").read_text())

    assert info["kind"] == "boosted"
    assert info["fitted_until"] == "2021-07-01"
    assert info["training"]["last_sale"] < "2021-07-01"
    assert info["currency"] == "ETH"
    calibration = info["calibration"]
    assert calibration["coverage"] == 0.8
    assert calibration["method"] == "adaptive"
    assert calibration["n_calibration"] > 1000
    assert calibration["half_width_log"] > 0
    assert (punks_model / "booster.txt").read_text().startswith("tree")
    assert not list(punks_model.glob("*.pkl"))


@pytest.fixture(scope="module")
def predictions(
    workdir: Path, punks: Path, punks_model: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = workdir / "predictions.csv"
    return market("predict", punks_model, punks, "--out", out), out


def test_predict_keeps_the_lots_and_adds_price_and_interval(
    punks: Path, predictions: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    result, out = predictions

    assert result.returncode == 0, result.stderr
    assert "80% interval" in result.stdout
    assert "in-sample" in result.stderr  # the lots before 2021-07-01 are told apart
    lots = load_sales(punks)
    predicted = pd.read_csv(out)
    assert list(predicted.columns) == [*lots.columns, "predicted_price", "lower", "upper"]
    assert len(predicted) == len(lots)
    assert (predicted["lower"] < predicted["predicted_price"]).all()
    assert (predicted["predicted_price"] < predicted["upper"]).all()
    later = pd.to_datetime(predicted["sale_date"]) >= "2021-07-01"
    inside = predicted["price"].between(predicted["lower"], predicted["upper"])[later]
    assert 0.6 < inside.mean() < 0.95
    assert predicted["item_id"].astype(str).tolist() == lots["item_id"].astype(str).tolist()


def test_fit_refuses_too_few_sales_naming_the_count(imported: Path, workdir: Path) -> None:
    result = market("fit", imported, "--until", "2030-01-01", "--out", workdir / "tiny")

    message = assert_one_line_error(result, 1)
    assert "has 4 sold lots before 2030-01-01, too few" in message
    assert not (workdir / "tiny").exists()


def test_fit_refuses_a_date_before_every_sale(imported: Path, workdir: Path) -> None:
    result = market("fit", imported, "--until", "2020-01-01", "--out", workdir / "early")

    message = assert_one_line_error(result, 1)
    assert "no sold lots before 2020-01-01 (sales from 2021-05-12 to 2021-05-13)" in message


def test_flags_that_cannot_work_exit_2(workdir: Path, imported: Path, messy_export: Path) -> None:
    bad_date = market("fit", imported, "--until", "soon", "--out", workdir / "m")
    bad_coverage = market("predict", workdir / "m", imported, "--out", "p.csv", "--interval", "80")
    nowhere = workdir / "missing" / "sales.csv"
    no_folder = market(
        "import", messy_export, "--mapping", workdir / "christies.toml", "--out", nowhere
    )

    assert bad_date.returncode == bad_coverage.returncode == 2
    assert "argument --until: 'soon' is not a date" in bad_date.stderr
    assert "argument --interval: 80 is not strictly between 0 and 1" in bad_coverage.stderr
    assert f"the folder {nowhere.parent} does not exist" in assert_one_line_error(no_folder, 2)


# --- backtest --------------------------------------------------------------------------------


def test_backtest_prints_every_model_beside_both_estimate_baselines(workdir: Path) -> None:
    data = workdir / "synthetic.csv"
    save_sales(synthetic_sales(1500, seed=3), data)

    result = market("backtest", data, "--split", "2016-01-01", "--trees", "40")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for subset in ("all", "with_estimate"):
        for model in ("boosted", "hedonic", "estimate midpoint", "rescaled estimate"):
            assert any(line.split()[:1] == [subset] and model in line for line in lines), model
    assert "med |log err|" in result.stdout
    assert "presale range" in result.stdout


# --- index -----------------------------------------------------------------------------------


def test_index_prints_bands_and_a_forecast_for_cryptopunks(punks: Path) -> None:
    result = market("index", punks, "--artist", "larva labs", "--forecast", "2")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("repeat-sales index for Larva Labs (freq Q, 100 = 2017Q2)")
    assert "period    index    lower    upper" in out
    assert "2017Q2    100.0    100.0    100.0" in out
    assert "forecast, 2 periods ahead" in out
    assert "2022Q4" in out
    assert "2023Q1" in out


def test_index_of_a_segment_keeps_only_its_lots(punks: Path) -> None:
    result = market(
        "index", punks, "--segment", "feature_gender=female", "--method", "hedonic",
        "--freq", "Y", "--forecast", "0",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    heading = result.stdout.splitlines()[0]
    assert heading.startswith("hedonic index for feature_gender=female (freq Y, 100 = 2017)")
    females = load_sales(punks)["feature_gender"].eq("Female").sum()
    assert heading.endswith(f"from {females} sales")


def test_a_segment_too_small_or_malformed_is_refused(punks: Path) -> None:
    aliens = market("index", punks, "--segment", "feature_type=Alien")
    message = assert_one_line_error(aliens, 1)
    assert "segment feature_type='Alien' has 2 sales" in message
    flag = market("index", punks, "--segment", "feature_attr_earring=yes")
    assert "feature_attr_earring holds numbers; 'yes' is not one" in assert_one_line_error(flag, 1)
    malformed = market("index", punks, "--segment", "feature_type")
    assert malformed.returncode == 2
    assert "is not COLUMN=VALUE" in malformed.stderr


def test_unknown_artist_gets_suggestions(imported: Path) -> None:
    result = market("index", imported, "--artist", "Claude Monnet")

    message = assert_one_line_error(result, 1)
    assert "no sales for artist 'Claude Monnet'" in message
    assert "did you mean 'Claude Monet'" in message


def test_index_refuses_an_artist_with_too_few_sales(imported: Path) -> None:
    result = market("index", imported, "--artist", "Claude Monet", "--method", "hedonic")

    message = assert_one_line_error(result, 1)
    assert "artist 'Claude Monet' has 1 sale" in message
    assert "needs at least 10" in message
