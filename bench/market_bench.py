"""Market benchmarks: fit/predict time and peak memory; accuracy and coverage held out by time.

    .venv/bin/python bench/market_bench.py [--sizes 10000 100000 1000000] [--skip-speed]
        [--skip-accuracy] [--skip-wait-policy] [--estimate-lots 50000] [--json results.json]

Speed: synthetic lots (`market.synthetic`), each measurement in a fresh child process on 2 threads
(OMP_NUM_THREADS=2, OPENBLAS_NUM_THREADS=1, OMP_WAIT_POLICY=PASSIVE for every model alike; the
wait-policy rows show why). Each child builds the lots, then fits on all of them and predicts
all of them; peak memory is the process's resident-set high-water mark (VmHWM, which counts
LightGBM's and OpenMP's C allocations that tracemalloc misses), reset before fit and again before
predict, next to the resident size of the data alone. Models, same run, same lots:

- `BoostedPriceModel` with its defaults (LightGBM), end to end from the sales table;
- scikit-learn's `HistGradientBoostingRegressor` on the same feature matrix (the model's own
  `FeatureBuilder`) with the boosted model's settings mirrored (iterations, learning rate, leaves,
  L1 loss, minimum leaf size, L2, feature fraction, bins; no early stopping; no row subsampling,
  which HGB lacks), the feature step included in its times and also shown alone;
- `LGBMRegressor` with the boosted model's settings on that same matrix (learner against learner;
  measured below a million lots, where it costs minutes without changing the picture).

Categorical columns with more levels than HGB's 255 bins (the artist, at scale) reach HGB as
ordinal codes; LightGBM takes them as categories.

Accuracy (in this process): `market.backtest.backtest` on real CryptoPunks sales split by time
(2021-07-01 and 2022-01-01; they have no presale estimates) and on synthetic lots with estimates
(the estimate-baseline goal). Prints Markdown tables for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator, RegressorMixin

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CRYPTOPUNKS = REPO.parent / "shared" / "data" / "cryptopunks"
THREADS = 2
SEED = 7
CHILD_TIMEOUT = 900


def boosted_defaults() -> dict[str, Any]:
    """The boosted model's default settings, which the two baselines mirror."""
    from market.models import BoostedPriceModel

    return dict(BoostedPriceModel().get_params())


# --- measurements in a child process ---------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Reset the resident-set high-water mark (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _mib(kib: int) -> float:
    return kib / 1024


class HistGradientPrice(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """HistGradientBoostingRegressor on the boosted model's feature matrix (no anchoring)."""

    def fit(self, X: Any, y: Any = None) -> HistGradientPrice:
        """Features from the sales table, then HGB on the sold lots' log prices."""
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingRegressor

        from market.features import FeatureBuilder, log_price

        target = np.asarray(log_price(X) if y is None else y, dtype=np.float64)
        self.builder_ = FeatureBuilder().fit(X)
        self.columns_ = None
        features = self.matrix(X)
        sold = np.isfinite(target)
        # HGB cannot bin a column with no values (CryptoPunks have no sizes, no categories for
        # location): such columns carry nothing, so they are left out.
        self.columns_ = [
            column
            for column in features.columns
            if features[column].loc[sold].notna().any()
            and not (
                str(features[column].dtype) == "category"
                and len(features[column].cat.categories) == 0
            )
        ]
        features = features[self.columns_]
        mirrored = boosted_defaults()
        self.hgb_ = HistGradientBoostingRegressor(
            loss="absolute_error" if mirrored["objective"] == "l1" else "squared_error",
            learning_rate=mirrored["learning_rate"],
            max_iter=mirrored["n_estimators"],
            max_leaf_nodes=mirrored["num_leaves"],
            min_samples_leaf=mirrored["min_child_samples"],
            l2_regularization=mirrored["reg_lambda"],
            max_features=mirrored["colsample_bytree"],
            max_bins=mirrored["max_bin"],
            categorical_features="from_dtype",
            early_stopping=False,
            random_state=0,
        ).fit(features[sold], target[sold])
        return self

    def matrix(self, X: Any) -> Any:
        """The FeatureBuilder matrix; categoricals with more levels than HGB's 255 bins as codes."""
        features = self.builder_.transform(X)
        if self.columns_ is not None:
            features = features[self.columns_]
        for column in features.columns:
            if (
                str(features[column].dtype) == "category"
                and len(features[column].cat.categories) > 255
            ):
                codes = features[column].cat.codes.astype("float64")
                features[column] = codes.where(codes >= 0)
        return features

    def predict(self, X: Any) -> Any:
        """Predicted log price."""
        return self.hgb_.predict(self.matrix(X))


def child(task: dict[str, Any]) -> dict[str, Any]:
    """One measurement: build the lots, fit, predict; times and peak resident memory."""
    import numpy as np

    from market.features import FeatureBuilder, log_price
    from market.models import BoostedPriceModel
    from market.synthetic import synthetic_sales

    n, model = int(task["n"]), str(task["model"])
    started = time.perf_counter()
    sales = synthetic_sales(n, SEED)
    made = time.perf_counter() - started
    data_kib = _status_kib("VmRSS")
    result: dict[str, Any] = {"n": n, "model": model, "make_s": made, "data_mib": _mib(data_kib)}
    result["load_before"] = os.getloadavg()[0]
    _reset_peak()
    if model == "boosted":
        fitted = BoostedPriceModel(n_jobs=THREADS)
        started = time.perf_counter()
        fitted.fit(sales)
        result["fit_s"] = time.perf_counter() - started
        result["fit_peak_mib"] = _mib(_status_kib("VmHWM"))
        _reset_peak()
        started = time.perf_counter()
        predicted = fitted.predict(sales)
        result["predict_s"] = time.perf_counter() - started
    elif model == "hgb":
        fitted_hgb = HistGradientPrice()
        started = time.perf_counter()
        builder = FeatureBuilder().fit(sales)
        builder.transform(sales)
        result["features_s"] = time.perf_counter() - started
        _reset_peak()
        started = time.perf_counter()
        fitted_hgb.fit(sales)
        result["fit_s"] = time.perf_counter() - started
        result["fit_peak_mib"] = _mib(_status_kib("VmHWM"))
        _reset_peak()
        started = time.perf_counter()
        predicted = fitted_hgb.predict(sales)
        result["predict_s"] = time.perf_counter() - started
    elif model == "lightgbm":
        from lightgbm import LGBMRegressor

        started = time.perf_counter()
        builder = FeatureBuilder().fit(sales)
        features = builder.transform(sales)
        result["features_s"] = time.perf_counter() - started
        target = log_price(sales).to_numpy(dtype=np.float64)
        sold = np.isfinite(target)
        _reset_peak()
        started = time.perf_counter()
        mirrored = boosted_defaults()
        booster = LGBMRegressor(
            n_estimators=mirrored["n_estimators"],
            learning_rate=mirrored["learning_rate"],
            num_leaves=mirrored["num_leaves"],
            min_child_samples=mirrored["min_child_samples"],
            subsample=mirrored["subsample"],
            subsample_freq=1,
            colsample_bytree=mirrored["colsample_bytree"],
            reg_lambda=mirrored["reg_lambda"],
            objective=mirrored["objective"],
            max_bin=mirrored["max_bin"],
            n_jobs=THREADS,
            random_state=0,
            verbose=-1,
        ).fit(features[sold], target[sold])
        result["fit_s"] = time.perf_counter() - started  # the learner alone: matrix given
        result["fit_peak_mib"] = _mib(_status_kib("VmHWM"))
        _reset_peak()
        started = time.perf_counter()
        predicted = booster.predict(features)
        result["predict_s"] = time.perf_counter() - started
    else:
        raise ValueError(f"unknown model {model!r}")
    result["predict_peak_mib"] = _mib(_status_kib("VmHWM"))
    result["predicted_finite"] = bool(np.isfinite(predicted).all())
    result["load_after"] = os.getloadavg()[0]
    return result


def run_child(task: dict[str, Any], *, wait_policy: str | None = "PASSIVE") -> dict[str, Any]:
    """Run `child(task)` in a fresh interpreter limited to THREADS threads."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    try:
        done = subprocess.run(  # noqa: S603 (our own script)
            [sys.executable, __file__, "--child", json.dumps(task)],
            capture_output=True,
            text=True,
            env=env,
            timeout=task.get("timeout", CHILD_TIMEOUT),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**task, "error": f"timed out after {task.get('timeout', CHILD_TIMEOUT)} s"}
    if done.returncode != 0:
        return {**task, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "?"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- accuracy --------------------------------------------------------------------------------


def accuracy_punks() -> list[dict[str, Any]]:
    """CryptoPunks held out by time at two dates: every model, adaptive and split intervals."""
    from market.backtest import backtest
    from market.models import BoostedPriceModel, HedonicRegression
    from market.schema import load_cryptopunks

    tx = CRYPTOPUNKS / "tx_db.csv"
    if not tx.is_file():
        raise SystemExit(f"the CryptoPunks data is missing: expected {tx}")
    sales = load_cryptopunks(tx, CRYPTOPUNKS / "punk_db.csv")
    rows: list[dict[str, Any]] = []
    for split in ("2021-07-01", "2022-01-01"):
        runs = [
            ("adaptive", True, {
                "boosted": BoostedPriceModel(n_jobs=THREADS),
                "hedonic": HedonicRegression(),
                "HGB (same features)": HistGradientPrice(),
            }),
            ("split", True, {"boosted": BoostedPriceModel(n_jobs=THREADS)}),
            ("adaptive", False, {"boosted": BoostedPriceModel(n_jobs=THREADS)}),
        ]  # fmt: skip
        for method, rolling, models in runs:
            started = time.perf_counter()
            table = backtest(sales, split, models, conformal=method, rolling=rolling)
            seconds = time.perf_counter() - started
            for name in models:
                scores = table.loc[("all", name)]
                rows.append(
                    {
                        "data": "CryptoPunks",
                        "split": split,
                        "model": name,
                        "intervals": method,
                        "rolling": rolling,
                        "n_train": table.attrs["n_train"],
                        "seconds": seconds,
                        **{key: float(value) for key, value in scores.items()},
                    }
                )
            print(f"  punks {split} {method} rolling={rolling}: {seconds:.0f} s", file=sys.stderr)
    return rows


def accuracy_estimates(n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Synthetic lots with presale estimates: every model beside both estimate baselines."""
    from market.backtest import backtest
    from market.models import BoostedPriceModel, HedonicRegression
    from market.synthetic import synthetic_sales

    sales = synthetic_sales(n, SEED)
    split = "2015-01-01"
    models = {
        "boosted": BoostedPriceModel(n_jobs=THREADS),
        "hedonic": HedonicRegression(),
        "HGB (same features)": HistGradientPrice(),
    }
    started = time.perf_counter()
    table = backtest(sales, split, models)
    seconds = time.perf_counter() - started
    rows = [
        {
            "subset": subset,
            "model": name,
            **{k: float(v) for k, v in table.loc[(subset, name)].items()},
        }
        for subset, name in table.index
    ]
    meta = {
        "n": n,
        "split": split,
        "n_train": table.attrs["n_train"],
        "actual_inside_presale_range": table.attrs["actual_inside_presale_range"],
        "seconds": seconds,
    }
    return rows, meta


# --- tables ----------------------------------------------------------------------------------


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:,.{digits}f}"


def speed_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| lots | model | fit s | predict s | features alone s | fit peak RSS MiB | "
        "predict peak RSS MiB | data alone RSS MiB | load avg (before / after) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    names = {
        "boosted": "BoostedPriceModel (end to end)",
        "hgb": "HistGradientBoostingRegressor (features + HGB)",
        "lightgbm": "LGBMRegressor alone (matrix given)",
    }
    for row in results:
        label = names.get(row["model"], row["model"])
        if row.get("wait_policy"):
            label += f", OMP_WAIT_POLICY={row['wait_policy']}"
        if "error" in row:
            lines.append(f"| {row['n']:,} | {label} | {row['error']} | | | | | | |")
            continue
        lines.append(
            f"| {row['n']:,} | {label} | {_f(row['fit_s'])} | {_f(row['predict_s'])} | "
            f"{_f(row.get('features_s'))} | {_f(row['fit_peak_mib'], 0)} | "
            f"{_f(row['predict_peak_mib'], 0)} | {_f(row['data_mib'], 0)} | "
            f"{row['load_before']:.1f} / {row['load_after']:.1f} |"
        )
    return "\n".join(lines)


def punks_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| split | model | intervals | n held out | R² log | median abs log error | "
        "80% coverage | mean width (/ predicted price) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        how = row["intervals"] + ("" if row["rolling"] else ", fixed at the split")
        lines.append(
            f"| {row['split']} | {row['model']} | {how} | {int(row['n']):,} | "
            f"{row['r2_log']:.3f} | {row['median_abs_log_error']:.3f} | "
            f"{row['interval_coverage']:.1%} | {row['mean_interval_width']:.2f} |"
        )
    return "\n".join(lines)


def estimates_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| lots scored | model | n | R² log | median abs log error | MAPE | "
        "inside presale range | 80% coverage | mean width |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['subset']} | {row['model']} | {int(row['n']):,} | {row['r2_log']:.3f} | "
            f"{row['median_abs_log_error']:.3f} | {row['mape']:.1%} | "
            f"{_f(row['inside_presale_range'] * 100)}% | {row['interval_coverage']:.1%} | "
            f"{_f(row['mean_interval_width'], 2)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=["boosted", "hgb", "lightgbm"])
    parser.add_argument(
        "--large-models",
        nargs="+",
        default=["boosted", "hgb"],
        help="models measured at a million lots or more (time)",
    )
    parser.add_argument("--estimate-lots", type=int, default=50_000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-wait-policy", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import lightgbm
    import pandas as pd
    import sklearn

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, LightGBM {lightgbm.__version__}, scikit-learn "
        f"{sklearn.__version__}, pandas {pd.__version__}; load average at start "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n"
    )
    everything: dict[str, Any] = {}
    if not args.skip_speed:
        speed: list[dict[str, Any]] = []
        if not args.skip_wait_policy:
            for policy in (None, "PASSIVE"):
                row = run_child(
                    {"n": 10_000, "model": "boosted", "timeout": 300}, wait_policy=policy
                )
                row["wait_policy"] = policy or "unset"
                speed.append(row)
                print(
                    f"  wait policy {policy}: {row.get('fit_s', row.get('error'))}", file=sys.stderr
                )
        for n in args.sizes:
            for model in args.models if n < 1_000_000 else args.large_models:
                row = run_child({"n": n, "model": model})
                speed.append(row)
                print(f"  {n} {model}: {row.get('fit_s', row.get('error'))}", file=sys.stderr)
        everything["speed"] = speed
        print("### Fit and predict, synthetic lots, 2 threads\n")
        print(speed_table(speed) + "\n")
    if not args.skip_accuracy:
        punks = accuracy_punks()
        everything["cryptopunks"] = punks
        print("### CryptoPunks held out by time\n")
        print(punks_table(punks) + "\n")
        rows, meta = accuracy_estimates(args.estimate_lots)
        everything["estimates"] = {"rows": rows, **meta}
        print(
            f"### Synthetic lots with presale estimates ({meta['n']:,} lots, split "
            f"{meta['split']}, {meta['n_train']:,} sold lots before it; actual price inside the "
            f"presale range: {meta['actual_inside_presale_range']:.1%})\n"
        )
        print(estimates_table(rows) + "\n")
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
