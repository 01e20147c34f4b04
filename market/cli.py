"""`python -m market`: import auction exports, fit and apply price models, backtest, index.

    python -m market import FILE --mapping MAP.toml --out DATA [--rates RATES.csv|RATES.toml]
        [--base-currency USD] [--lenient] [--encoding ENC] [--sheet NAME]
    python -m market fit DATA --until DATE --out MODEL [--model boosted|hedonic] [--coverage 0.8]
        [--conformal adaptive|split] [--trees N] [--jobs 2]
    python -m market predict MODEL DATA --out CSV [--interval 0.8]
    python -m market backtest DATA --split DATE [--coverage 0.8] [--conformal adaptive|split]
        [--trees N] [--jobs 2]
    python -m market index DATA [--artist NAME] [--segment COLUMN=VALUE ...]
        [--method repeat|hedonic] [--freq Q] [--forecast 4]
    python -m market punks --out DATA [--source DIR]

DATA is a sales table as `import` writes it (CSV; gzip when the name ends in .gz). MODEL is a
folder of JSON, CSV and LightGBM's text model (`market.model_file`; no pickle). Exit status: 0
when the command did what was asked; 1 when the data or files refuse it (rejected rows, missing
columns, too few sales, an unknown artist, a changed model); 2 for a usage error (flags, dates,
unreadable paths). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from market.errors import MarketError, NotEnoughData

if TYPE_CHECKING:
    from market.importer import ImportReport
    from market.indices import IndexResult

REPO = Path(__file__).resolve().parent.parent
CRYPTOPUNKS = REPO.parent / "shared" / "data" / "cryptopunks"
MODELS: Final = ("boosted", "hedonic")
INDEX_METHODS: Final = ("repeat", "hedonic")
CONFORMAL_METHODS: Final = ("adaptive", "split")
FORECAST_COVERAGE: Final = 0.8
_METRIC_HEADINGS: Final = {
    "n": "n",
    "r2_log": "R2 log",
    "median_abs_log_error": "med |log err|",
    "mape": "MAPE",
    "inside_presale_range": "in presale range",
    "interval_coverage": "coverage",
    "mean_interval_width": "width",
}


class UsageError(MarketError):
    """The command line cannot work as given: a path that cannot be read or written."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a MarketError prints one line and exits 1 (refused) or 2 (usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args))
    except UsageError as error:
        _fail(args.command_name, error)
        return 2
    except MarketError as error:
        _fail(args.command_name, error)
        return 1
    except OSError as error:
        _fail(args.command_name, error)
        return 2
    except KeyboardInterrupt:
        print(f"market {args.command_name}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, error: BaseException) -> None:
    """One line on stderr, whatever the message holds."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"market {command}: {message}", file=sys.stderr)


def _note(command: str, message: str) -> None:
    print(f"market {command}: note: {message}", file=sys.stderr)


# --- the command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m market",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    imports = commands.add_parser(
        "import", help="import an auction export (CSV or .xlsx) and print its validation report"
    )
    imports.add_argument("file", type=Path, metavar="FILE")
    imports.add_argument("--mapping", type=Path, required=True, metavar="MAP.toml")
    imports.add_argument("--out", type=Path, required=True, metavar="DATA")
    imports.add_argument(
        "--rates",
        type=Path,
        metavar="RATES",
        help="currency rates, units of the base currency per unit: a CSV with columns "
        "currency,rate or a TOML table (EUR = 1.08)",
    )
    imports.add_argument("--base-currency", default="USD", metavar="CODE")
    imports.add_argument(
        "--lenient", action="store_true", help="import the good rows even when some are rejected"
    )
    imports.add_argument("--encoding", help="the CSV's encoding when not UTF-8/UTF-16 with BOM")
    imports.add_argument("--sheet", help="the workbook's sheet (default: the first)")
    imports.set_defaults(command=_import, command_name="import")

    fit = commands.add_parser("fit", help="fit a price model with calibrated intervals")
    fit.add_argument("data", type=Path, metavar="DATA")
    fit.add_argument("--until", type=_day, required=True, metavar="DATE", help="learn from "
                     "sales strictly before this date (YYYY-MM-DD)")  # fmt: skip
    fit.add_argument("--out", type=Path, required=True, metavar="MODEL", help="a folder")
    fit.add_argument("--model", choices=MODELS, default="boosted")
    fit.add_argument("--coverage", type=_fraction, default=0.8, help="default: %(default)s")
    _model_arguments(fit)
    fit.set_defaults(command=_fit, command_name="fit")

    predict = commands.add_parser("predict", help="predicted price and interval for each lot")
    predict.add_argument("model", type=Path, metavar="MODEL")
    predict.add_argument("data", type=Path, metavar="DATA")
    predict.add_argument("--out", type=Path, required=True, metavar="CSV")
    predict.add_argument(
        "--interval",
        type=_fraction,
        default=None,
        metavar="COVERAGE",
        help="interval coverage (default: the coverage the model was calibrated for, 0.8)",
    )
    predict.set_defaults(command=_predict, command_name="predict")

    test = commands.add_parser("backtest", help="every model beside the estimate baselines")
    test.add_argument("data", type=Path, metavar="DATA")
    test.add_argument("--split", type=_day, required=True, metavar="DATE", help="fit on sales "
                      "before this date, score the sales from it on")  # fmt: skip
    test.add_argument("--coverage", type=_fraction, default=0.8, help="default: %(default)s")
    _model_arguments(test)
    test.set_defaults(command=_backtest, command_name="backtest")

    index = commands.add_parser(
        "index", help="a price index (an artist's, a segment's, or all lots') with a forecast"
    )
    index.add_argument("data", type=Path, metavar="DATA")
    index.add_argument("--artist", metavar="NAME", help="one artist's lots")
    index.add_argument(
        "--segment",
        type=_segment,
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="lots whose column holds the value, e.g. feature_type=Zombie (repeatable)",
    )
    index.add_argument("--method", choices=INDEX_METHODS, default="repeat")
    index.add_argument("--freq", type=_freq, default="Q", help="M, Q or Y (default: Q)")
    index.add_argument(
        "--forecast",
        type=_count,
        default=4,
        metavar="PERIODS",
        help="periods to forecast, 80%% intervals (0: none; default: %(default)s)",
    )
    index.set_defaults(command=_index, command_name="index")

    punks = commands.add_parser("punks", help="write the shared CryptoPunks sales as DATA")
    punks.add_argument("--out", type=Path, required=True, metavar="DATA")
    punks.add_argument(
        "--source", type=Path, default=CRYPTOPUNKS, metavar="DIR", help="default: %(default)s"
    )
    punks.set_defaults(command=_punks, command_name="punks")
    return parser


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conformal",
        choices=CONFORMAL_METHODS,
        default="adaptive",
        help="interval calibration (default: adaptive, which follows drift)",
    )
    parser.add_argument(
        "--trees", type=_positive, help="boosting rounds (default: the boosted model's, 300)"
    )
    parser.add_argument("--jobs", type=_positive, default=2, help="threads (default: 2)")


def _day(text: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from error
    if pd.isna(day):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD")
    return day.normalize()


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number such as 0.8") from error
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1 (e.g. 0.8)")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of 1 or more")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _segment(text: str) -> tuple[str, str]:
    column, equals, value = text.partition("=")
    if not equals or not column.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=VALUE, e.g. feature_type=Ape")
    return column.strip(), value.strip()


def _freq(text: str) -> str:
    try:
        pd.Period("2000-01-01", freq=text)
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a period frequency; use M, Q or Y"
        ) from error
    return text


# --- import ----------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from market.importer import import_sales, load_mapping, read_export, save_sales

    _check_out(args.out)
    mapping = load_mapping(args.mapping)
    rates = _read_rates(args.rates) if args.rates is not None else None
    raw = read_export(args.file, encoding=args.encoding, sheet=args.sheet)
    result = import_sales(raw, mapping, rates=rates, base_currency=args.base_currency, strict=False)
    report = result.report
    refused = bool(report.problems) and not args.lenient
    print(_report_text(args.file, report, refused=refused))
    if refused:
        raise MarketError(
            f"import rejected: {report.rejected} of {report.rows_read} rows have problems "
            f"(listed above); nothing was written to {args.out}. Fix those rows or the mapping "
            f"and import again, or pass --lenient to import the {report.imported} good rows"
        )
    if report.imported == 0:
        raise MarketError(f"no lots to import from {args.file}; nothing was written")
    save_sales(result.sales, args.out)
    print(f"wrote {report.imported} lots to {args.out}")
    return 0


def _report_text(file: Path, report: ImportReport, *, refused: bool) -> str:
    good = report.imported
    imported = f"0 (strict import: {good} good rows held back)" if refused else str(good)
    lines = [
        f"import report for {file.name}",
        f"  rows read:   {report.rows_read}",
        f"  imported:    {imported}",
        f"  rejected:    {report.rejected}",
        f"  duplicates:  {len(report.duplicates)} dropped",
    ]
    if report.problems:
        lines.append("rejected rows:")
        lines += [f"  {problem}" for problem in report.problems]
    if report.warnings:
        lines.append("warnings:")
        lines += [f"  {warning}" for warning in report.warnings]
    return "\n".join(lines)


def _read_rates(path: Path) -> dict[str, float]:
    """A rates file: a TOML table (top level or [rates]) or a CSV with currency and rate."""
    if not path.is_file():
        raise UsageError(f"no rates file at {path}")
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"{path} is not valid TOML: {error}") from error
        table = data.get("rates", data)
        rows = list(table.items()) if isinstance(table, dict) else []
    elif path.suffix.lower() == ".csv":
        rows = _rate_rows(path)
    else:
        raise UsageError(f"{path}: give rates as .csv (currency,rate) or .toml (EUR = 1.08)")
    rates: dict[str, float] = {}
    for code, value in rows:
        number = _rate_number(value)
        if number is None:
            raise UsageError(
                f"{path}: the rate for {code} is {value!r}, not a positive number (units of the "
                "base currency per unit)"
            )
        rates[str(code).strip().upper()] = number
    if not rates:
        raise UsageError(f"{path} holds no rates (e.g. EUR = 1.08)")
    return rates


def _rate_rows(path: Path) -> list[tuple[str, object]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        names = {name.strip().lower(): name for name in reader.fieldnames or []}
        code = names.get("currency") or names.get("code")
        rate = names.get("rate")
        if code is None or rate is None:
            raise UsageError(
                f"{path} needs the columns currency and rate; it has {reader.fieldnames}"
            )
        return [(row[code], row[rate]) for row in reader if (row[code] or "").strip()]


def _rate_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


# --- fit and predict -------------------------------------------------------------------------


def _fit(args: argparse.Namespace) -> int:
    from market.importer import load_sales

    _check_out(args.out)
    sales = load_sales(args.data)
    until: pd.Timestamp = args.until
    training = sales.loc[(sales["sale_date"] < until).to_numpy(dtype=bool)]
    sold = _sold_count(training)
    if sold == 0:
        span = _span(sales)
        raise NotEnoughData(
            f"{args.data} has no sold lots before {until.date()} ({span}); pick a later --until"
        )
    # Imported here, once the data is known to be usable: LightGBM takes seconds to load.
    from market.model_file import check_model_destination, save_model
    from market.models import ConformalRegressor

    check_model_destination(args.out)
    model = ConformalRegressor(
        _price_model(args.model, trees=args.trees, jobs=args.jobs),
        coverage=args.coverage,
        method=args.conformal,
    )
    try:
        model.fit(training)
    except NotEnoughData as error:
        raise NotEnoughData(
            f"{args.data} has {sold} sold lots before {until.date()}, too few to fit and "
            f"calibrate: {error} Pick a later --until"
        ) from error
    info = save_model(model, training, args.out, fitted_until=until)
    calibration = info["calibration"]
    trained = info["training"]
    print(
        f"fitted {args.model} on {trained['sold_lots']} sold lots ({trained['lots']} lots, "
        f"{trained['first_sale']} to {trained['last_sale']}), sales before {until.date()}"
    )
    print(
        f"{calibration['coverage']:.0%} interval ({calibration['method']} conformal, "
        f"{calibration['n_calibration']} calibration sales from {calibration['from']}): "
        f"predicted price x/÷ {calibration['price_factor']:.3g} "
        f"(±{calibration['half_width_log']:.3f} in log price)"
    )
    print(f"wrote {args.out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from market.importer import load_sales
    from market.model_file import load_model
    from market.schema import feature_columns

    _check_out(args.out)
    saved = load_model(args.model)
    sales = load_sales(args.data)
    currencies = sorted(set(sales["currency"].astype(str)) - {""})
    trained_in = str(saved.info.get("currency", ""))
    if trained_in and currencies and currencies != [trained_in]:
        raise MarketError(
            f"the model was fitted on prices in {trained_in}; {args.data} holds "
            f"{', '.join(currencies)}: import it with --base-currency {trained_in}"
        )
    used = _model_traits(saved.info)
    missing = [name for name in used if name not in feature_columns(sales)]
    if missing:
        _note(
            "predict",
            f"{args.data} lacks {len(missing)} feature column(s) the model uses "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): they count as "
            "unknown",
        )
    coverage = args.interval if args.interval is not None else saved.coverage
    predicted, lower, upper = saved.predict_interval(sales, coverage)
    in_sample = int((sales["sale_date"] < saved.fitted_until).sum())
    if in_sample:
        _note(
            "predict",
            f"{in_sample} of the {len(sales)} lots sold before {saved.fitted_until.date()}, "
            "the model's fitted-until date: their predictions are in-sample",
        )
    out = sales.copy()
    out["predicted_price"] = np.exp(predicted)
    out["lower"] = np.exp(lower)
    out["upper"] = np.exp(upper)
    _write_csv(out, args.out)
    print(
        f"wrote {len(out)} lots with predicted_price and a {coverage:.0%} interval "
        f"(lower, upper) to {args.out}; model: {saved.kind}, fitted on sales before "
        f"{saved.fitted_until.date()}"
    )
    return 0


def _model_traits(info: dict[str, Any]) -> list[str]:
    model = info["model"]
    if "feature_names" in model:
        names = [str(name) for name in model["feature_names"]]
    else:
        # Coefficients are named "feature_type=Ape" or "feature_attr_count missing".
        names = [
            str(name).split("=")[0].removesuffix(" missing")
            for name in model.get("coefficients", {})
        ]
    return list(dict.fromkeys(name for name in names if name.startswith("feature_")))


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    compression = "gzip" if path.suffix == ".gz" else None
    frame.to_csv(partial, index=False, date_format="%Y-%m-%d", compression=compression)
    os.replace(partial, path)


# --- backtest --------------------------------------------------------------------------------


def _backtest(args: argparse.Namespace) -> int:
    from market.backtest import backtest
    from market.importer import load_sales

    sales = load_sales(args.data)
    models = {name: _price_model(name, trees=args.trees, jobs=args.jobs) for name in MODELS}
    table = backtest(sales, args.split, models, coverage=args.coverage, conformal=args.conformal)
    attrs = table.attrs
    print(
        f"backtest of {args.data.name}: fitted on {attrs['n_train']} sold lots before "
        f"{attrs['split_date']}, scored on the sold lots from then on; {args.coverage:.0%} "
        f"intervals ({args.conformal} conformal)"
    )
    has_estimates = int(table.loc["with_estimate", "n"].max()) > 0
    shown = table if has_estimates else table.loc[["all"]]
    print(_table_text(shown.reset_index(), _backtest_formats()))
    if not has_estimates:
        print("no held-out lot has a presale estimate: the estimate baselines score nothing")
    else:
        print(
            "subset with_estimate: every row scored on the same lots (those with an estimate); "
            "the auction houses' own hit rate (actual price inside the presale range): "
            f"{attrs['actual_inside_presale_range']:.1%}"
        )
    return 0


def _backtest_formats() -> dict[str, Callable[[Any], str]]:
    def share(value: Any) -> str:
        return f"{value:.1%}"

    def number(value: Any) -> str:
        return f"{value:.3f}"

    formats: dict[str, Callable[[Any], str]] = {
        "n": lambda value: f"{int(value)}",
        "r2_log": number,
        "median_abs_log_error": number,
        "mape": share,
        "inside_presale_range": share,
        "interval_coverage": share,
        "mean_interval_width": number,
    }
    return formats


# --- index -----------------------------------------------------------------------------------


def _index(args: argparse.Namespace) -> int:
    from market.importer import load_sales
    from market.indices import (
        for_artist,
        for_segment,
        forecast_index,
        hedonic_index,
        repeat_sales_index,
    )

    lots = load_sales(args.data)
    subject = []
    if args.artist:
        lots = for_artist(lots, args.artist)
        subject.append(str(lots["artist"].iloc[0]))
    if args.segment:
        where = {column: _segment_value(lots, column, value) for column, value in args.segment}
        lots = for_segment(lots, where)
        subject += [f"{column}={value}" for column, value in args.segment]
    if args.method == "repeat":
        result = repeat_sales_index(lots, freq=args.freq)
    else:
        result = hedonic_index(lots, freq=args.freq)
    print(_index_heading(result, ", ".join(subject) or "all lots"))
    table = result.table.reset_index()
    table["period"] = table["period"].astype(str)
    number: Callable[[Any], str] = lambda value: f"{value:.1f}"  # noqa: E731
    formats: dict[str, Callable[[Any], str]] = {
        "index": number,
        "lower": number,
        "upper": number,
        "n": str,
    }
    print(_table_text(table[["period", "index", "lower", "upper", "n"]], formats))
    for note in result.notes:
        print(f"note: {note}")
    if args.forecast == 0:
        return 0
    try:
        forecast = forecast_index(result, horizon=args.forecast, coverage=FORECAST_COVERAGE)
    except NotEnoughData as error:
        _note("index", f"no forecast: {error}")
        return 0
    print()
    print(
        f"forecast, {args.forecast} periods ahead ({forecast.attrs['model']}), "
        f"{FORECAST_COVERAGE:.0%} intervals:"
    )
    ahead = forecast.reset_index()
    ahead["period"] = ahead["period"].astype(str)
    print(_table_text(ahead, {"forecast": number, "lower": number, "upper": number}))
    return 0


def _segment_value(sales: pd.DataFrame, column: str, value: str) -> object:
    """The value as the column holds it: a number for a numeric column (flags are 0/1)."""
    if column in sales.columns and pd.api.types.is_numeric_dtype(sales[column]):
        try:
            return float(value)
        except ValueError:
            raise MarketError(f"{column} holds numbers; {value!r} is not one") from None
    return value


def _index_heading(result: IndexResult, artist: str) -> str:
    what = "repeat-sales pairs" if result.method == "repeat_sales" else "sales"
    name = "repeat-sales" if result.method == "repeat_sales" else "hedonic"
    first = result.table.index[0]
    return (
        f"{name} index for {artist} (freq {result.freq}, 100 = {first}), 95% bands, from "
        f"{result.n_observations} {what}"
    )


# --- punks -----------------------------------------------------------------------------------


def _punks(args: argparse.Namespace) -> int:
    from market.importer import save_sales
    from market.schema import load_cryptopunks

    _check_out(args.out)
    source: Path = args.source
    tx, traits = source / "tx_db.csv", source / "punk_db.csv"
    if not tx.is_file():
        raise UsageError(f"no CryptoPunks sales at {tx}; pass --source DIR (tx_db.csv inside)")
    sales = load_cryptopunks(tx, traits if traits.is_file() else None)
    save_sales(sales, args.out)
    print(
        f"wrote {len(sales)} CryptoPunks sales ({_span(sales)}, prices in ETH) to {args.out}; "
        f"dropped {sales.attrs['transfers_dropped']} zero-price transfers and "
        f"{sales.attrs['dust_dropped']} dust sales"
    )
    return 0


# --- helpers ---------------------------------------------------------------------------------


def _check_out(path: Path) -> None:
    """Refuse an output path whose folder is missing before any work is done."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")


def _price_model(name: str, *, trees: int | None, jobs: int) -> Any:
    from market.models import BoostedPriceModel, HedonicRegression

    if name == "boosted":
        model = BoostedPriceModel(n_jobs=jobs)
        return model if trees is None else model.set_params(n_estimators=trees)
    return HedonicRegression()


def _sold_count(sales: pd.DataFrame) -> int:
    from market.schema import log_price

    return int(np.isfinite(log_price(sales).to_numpy(dtype=np.float64)).sum())


def _span(sales: pd.DataFrame) -> str:
    if sales.empty:
        return "no sales"
    return f"sales from {sales['sale_date'].min().date()} to {sales['sale_date'].max().date()}"


def _table_text(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]]) -> str:
    """Aligned columns: text left, numbers right; a missing value shows as '-'."""
    headings = [_METRIC_HEADINGS.get(str(column), str(column)) for column in frame.columns]
    cells: list[list[str]] = []
    for _, row in frame.iterrows():
        line = []
        for column in frame.columns:
            value = row[column]
            if column in formats:
                line.append("-" if pd.isna(value) else formats[column](value))
            else:
                line.append(str(value))
        cells.append(line)
    numeric = [column in formats for column in frame.columns]
    widths = [
        max(len(heading), *(len(line[i]) for line in cells)) if cells else len(heading)
        for i, heading in enumerate(headings)
    ]

    def render(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([render(headings), *(render(line) for line in cells)])
