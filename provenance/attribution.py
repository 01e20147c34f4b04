"""Is a work machine-made, and by which registered model: calibrated, weak evidence.

`image_features` turns an image into a short vector of cheap statistics (numpy and scipy only, a
few milliseconds per image): the image's largest centred square is resized to 64x64 (Lanczos, as
`gan.data` prepares training sets, so a 64 px generator output is used pixel for pixel and every
other image is compared at the same scale), then

- the azimuthally averaged log power spectrum of a high-pass residual (the image minus its 3x3
  median), 32 radial bins, plus its log power at the Nyquist and half-Nyquist peaks where
  transposed-convolution up-sampling leaves periodic artefacts (Durall et al. 2020, "Watch your
  up-convolution"; Frank et al. 2020);
- the azimuthally averaged log power spectrum of the image itself (its 1/f fall-off);
- noise-residual statistics: per-channel residual level and kurtosis, the correlation of the
  residual between colour channels and between neighbouring pixels.

Chosen by measurement (bench/attribution_bench.py; 64 px DCGAN and FastGAN generators trained
for 2 minutes each on a shared 2-core CPU, 290-1,400 steps: their works are early-training blobs
with visible up-sampling checkerboards, far easier than a converged generator). Every group alone
separated held-out works from paintings (accuracy 0.998-1.000), so the choice rests on the harder
checks. Alone, the residual spectrum answered "unknown" for 77% of the works of two generators
the model never saw (22% went to a registered one), the image spectrum for 88%; residual
statistics alone called half the registered generators' works hand-made once re-encoded as JPEG.
All three together: 100% "unknown" for the unseen generators, every JPEG-re-encoded work still
machine-made. Colour statistics (channel means and spreads, saturation, clipping) were dropped
after a first run of the benchmark that included them: all groups with and without colour gave
the same results on every check, and colour alone sent 35% of the unseen generators' works to a
registered generator (3% "unknown"): it describes the palette a generator learned, not how an
image was made.

What such a model learns is whatever differs between the sources it is fitted on: generator
artefacts, but also pipeline differences (the portfolio is JPEG photographs of paintings; works
are PNG renders), and it has only seen the generators it was fitted on, as they were then. It is
weak evidence and is presented as such: every `Attribution` carries the model's held-out
accuracy, calibration error and its false-positive rate on hand-made portfolio images.

`AttributionModel` is a scikit-learn style estimator: multinomial logistic regression on
standardised features, temperature-scaled on out-of-fold predictions of its training split, and
judged on a stratified held-out split it never saw. A sample is answered "unknown" when its top
calibrated probability is below a threshold chosen out-of-fold, or when it is far (Mahalanobis, a
shrunk shared covariance) from the training examples of every class, which is how a generator that
was never registered should come out: "machine-made, unknown model" at best. The model is saved as
JSON (no pickle; nothing in the file runs code).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage  # type: ignore[import-untyped, unused-ignore]

from provenance.errors import ProvenanceError
from provenance.hashing import DEFAULT_MAX_PIXELS, open_image

FEATURE_SIZE: Final = 64
"""Side in pixels of the centred square every image is resized to before its features are taken."""

FEATURE_RECIPE: Final = "provenance.attribution/v1"
"""Names the feature recipe; a saved model is refused by code whose recipe differs."""

PORTFOLIO: Final = "portfolio"
"""Label of hand-made portfolio images (also `portfolio:<artist>` for one class per artist)."""

MODEL_PREFIX: Final = "model:"
"""Labels of machine-made images start with this, followed by the generator's id."""

UNKNOWN: Final = "unknown"
"""The answer when no class is likely enough, or the image is unlike all training data."""

ECE_BINS: Final = 15
"""Equal-width confidence bins used for the expected calibration error."""

FORMAT_VERSION: Final = 1

FloatArray = npt.NDArray[np.float64]

_BINS: Final = FEATURE_SIZE // 2
_LUMA: Final = np.array([0.299, 0.587, 0.114])
_EPS: Final = 1e-12


class AttributionError(ProvenanceError, ValueError):
    """Attribution cannot go on: bad labels, too few examples, an unfitted or damaged model."""


# -- features ----------------------------------------------------------------------------------


def _radial_index(size: int) -> npt.NDArray[np.int64]:
    """For each FFT bin of a size x size spectrum, its integer radius (0 = DC)."""
    freq = np.fft.fftfreq(size) * size
    radius = np.hypot(freq[:, None], freq[None, :])
    index: npt.NDArray[np.int64] = np.rint(radius).astype(np.int64)
    return index


_RADIUS: Final = _radial_index(FEATURE_SIZE)
_RING_COUNTS: Final = np.bincount(_RADIUS.ravel())
_WINDOW: Final = np.outer(np.hanning(FEATURE_SIZE), np.hanning(FEATURE_SIZE))
_PEAKS: Final = (
    (_BINS, 0),
    (0, _BINS),
    (_BINS, _BINS),
    (_BINS // 2, 0),
    (0, _BINS // 2),
    (_BINS // 2, _BINS // 2),
)


def _square(image: Image.Image) -> FloatArray:
    """The largest centred square resized to FEATURE_SIZE, as floats in [0, 1]: (S, S, 3)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    side = min(rgb.width, rgb.height)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    box = (left, top, left + side, top + side)
    if side == FEATURE_SIZE:
        square = rgb.crop(box)
    else:
        square = rgb.resize(
            (FEATURE_SIZE, FEATURE_SIZE), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0
        )
    return np.asarray(square, dtype=np.float64) / 255.0


def _log_power(plane: FloatArray) -> FloatArray:
    """log10 power spectrum (S, S) of a plane (S, S), mean removed and Hann-windowed."""
    power = np.abs(np.fft.fft2((plane - plane.mean()) * _WINDOW)) ** 2
    result: FloatArray = np.log10(power + _EPS)
    return result


def _radial_mean(log_power: FloatArray) -> FloatArray:
    """Mean of a log power spectrum (S, S) over each integer radius 1..S/2: (S/2,)."""
    sums = np.bincount(_RADIUS.ravel(), weights=log_power.ravel())
    means: FloatArray = sums[1 : _BINS + 1] / _RING_COUNTS[1 : _BINS + 1]
    return means


def _residual_stats(residual: FloatArray) -> list[float]:
    """Level, kurtosis, cross-channel and neighbour correlations of a residual (S, S, 3)."""
    stats: list[float] = []
    flat = residual.reshape(-1, 3)
    spread = flat.std(axis=0) + 1e-6
    stats.extend(np.log10(spread).tolist())
    centred = (flat - flat.mean(axis=0)) / spread
    stats.extend(np.log10(np.mean(centred**4, axis=0) + 1e-6).tolist())
    corr = (centred.T @ centred) / len(centred)
    stats.extend([corr[0, 1], corr[0, 2], corr[1, 2]])
    gray = residual @ _LUMA
    gray = (gray - gray.mean()) / (gray.std() + 1e-6)
    for lag in (1, 2):
        stats.append(float(np.mean(gray[:, lag:] * gray[:, :-lag])))
        stats.append(float(np.mean(gray[lag:, :] * gray[:-lag, :])))
    return stats


def features_of_image(image: Image.Image) -> FloatArray:
    """The feature vector (FEATURE_COUNT,) of a decoded image (see the module doc)."""
    rgb = _square(image)  # (S, S, 3) in [0, 1]
    gray = rgb @ _LUMA  # (S, S)
    # The median residual is non-linear, so its spectrum is not a rescaled image spectrum; the
    # per-channel statistics use the cheaper linear residual (3x3 mean).
    gray_residual = gray - ndimage.median_filter(gray, size=3, mode="reflect")  # (S, S)
    residual = rgb - ndimage.uniform_filter(rgb, size=(3, 3, 1), mode="reflect")  # (S, S, 3)
    power = _log_power(gray_residual)  # (S, S)
    spectrum = _radial_mean(power)  # (S/2,)
    level = float(spectrum.mean())
    reference = float(np.median(power))
    peaks = [float(power[row, column]) - reference for row, column in _PEAKS]
    image_spectrum = _radial_mean(_log_power(gray))  # (S/2,)
    vector = [
        *(spectrum - level).tolist(),
        level,
        *peaks,
        *(image_spectrum - image_spectrum.mean()).tolist(),
        float(image_spectrum.mean()),
        *_residual_stats(residual),
    ]
    return np.asarray(vector, dtype=np.float64)


FEATURE_GROUPS: Final[Mapping[str, tuple[int, int]]] = {
    "residual_spectrum": (0, _BINS + 1 + len(_PEAKS)),  # shape, level, up-sampling peaks
    "image_spectrum": (_BINS + 1 + len(_PEAKS), 2 * _BINS + 2 + len(_PEAKS)),  # shape, level
    "residual_stats": (2 * _BINS + 2 + len(_PEAKS), 2 * _BINS + 15 + len(_PEAKS)),
}
"""Which columns of a feature vector hold which kind of statistic: [start, stop)."""

FEATURE_COUNT: Final = 2 * _BINS + 15 + len(_PEAKS)
"""Length of every feature vector (85)."""


def image_features(
    images: Iterable[Image.Image | bytes | npt.NDArray[np.uint8]],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FloatArray:
    """Features (N, FEATURE_COUNT) of images given as PIL images, file bytes or uint8 (H, W, 3).

    Bytes are decoded by `open_image` (safe decoding; raises `InvalidImage`).
    """
    rows = []
    for item in images:
        if isinstance(item, bytes):
            image = open_image(item, max_pixels=max_pixels)
        elif isinstance(item, np.ndarray):
            if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
                raise AttributionError(
                    f"arrays must be uint8 (H, W, 3); got {item.dtype} {item.shape} "
                    "(a torch batch (N, 3, H, W) needs .permute(0, 2, 3, 1).numpy())"
                )
            image = Image.fromarray(item, mode="RGB")
        else:
            image = item
        rows.append(features_of_image(image))
    if not rows:
        return np.empty((0, FEATURE_COUNT))
    return np.stack(rows)


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    """One image's answer: calibrated probabilities, and how far the model can be trusted."""

    probabilities: Mapping[str, float]  # class label -> calibrated probability (sums to 1)
    machine_made: float  # sum of the probabilities of the `model:` classes
    label: str  # the most likely class, or UNKNOWN
    reason: str  # why that label: "confident", "low confidence" or "unlike the training data"
    novelty: float  # distance to the nearest class over that class's threshold (> 1: far)
    heldout_accuracy: float
    heldout_ece: float
    portfolio_false_positive_rate: float
    heldout_count: int

    @property
    def machine_made_model(self) -> str | None:
        """The generator id when the label names one, else None."""
        return self.label[len(MODEL_PREFIX) :] if self.label.startswith(MODEL_PREFIX) else None

    def summary(self) -> str:
        """One line for a report: the answer with the model's held-out record beside it."""
        who = self.label if self.label != UNKNOWN else f"unknown ({self.reason})"
        caveat = (
            " (the image is unlike both the portfolio and every registered generator the model "
            "was fitted on, so this probability means little)"
            if self.novelty > 1.0
            else ""
        )
        return (
            f"machine-made probability {self.machine_made:.2f}{caveat}, attribution: {who}; weak "
            f"evidence: held-out accuracy {self.heldout_accuracy:.1%}, calibration error (ECE) "
            f"{self.heldout_ece:.3f}, {self.portfolio_false_positive_rate:.1%} of held-out "
            f"hand-made portfolio images scored machine-made (n={self.heldout_count})"
        )


def expected_calibration_error(
    probabilities: FloatArray, truth: npt.NDArray[np.int64], *, bins: int = ECE_BINS
) -> float:
    """Top-label ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted."""
    if len(truth) == 0:
        raise AttributionError("expected_calibration_error needs at least one sample")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            gap = abs(float(correct[members].mean()) - float(confidence[members].mean()))
            total += gap * int(members.sum()) / len(truth)
    return total


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return result


def _fit_temperature(logits: FloatArray, truth: npt.NDArray[np.int64]) -> float:
    """The temperature minimising the negative log-likelihood of `truth` (bounded search)."""
    from scipy.optimize import minimize_scalar  # type: ignore[import-untyped, unused-ignore]

    rows = np.arange(len(truth))

    def nll(log_t: float) -> float:
        scaled = logits / math.exp(log_t)
        shifted = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        return float(np.mean(log_norm - shifted[rows, truth]))

    result = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(result.x))


def _check_label(label: str) -> None:
    if label == PORTFOLIO or label.startswith(PORTFOLIO + ":"):
        return
    if label.startswith(MODEL_PREFIX) and len(label) > len(MODEL_PREFIX):
        return
    raise AttributionError(
        f"label {label!r} is not recognised; use {PORTFOLIO!r} (or 'portfolio:<artist>') for "
        f"hand-made images and '{MODEL_PREFIX}<id>' for a generator's works"
    )


def _is_machine(label: str) -> bool:
    return label.startswith(MODEL_PREFIX)


@dataclass(frozen=True)
class _Fitted:
    """The numeric parts of a fitted model: enough to predict, nothing to refit."""

    mean: FloatArray  # (D,) feature means of the training split
    scale: FloatArray  # (D,) feature spreads of the training split
    coef: FloatArray  # (K, D) logistic-regression weights on standardised features
    intercept: FloatArray  # (K,)
    temperature: float
    centroids: FloatArray  # (K, D) class means in standardised space
    precision: FloatArray  # (D, D) inverse of the shrunk within-class covariance
    novelty_thresholds: FloatArray  # (K,) Mahalanobis distance beyond which a sample is far

    def logits(self, features: FloatArray) -> FloatArray:
        standard = (features - self.mean) / self.scale
        result: FloatArray = standard @ self.coef.T + self.intercept
        return result

    def distances(self, features: FloatArray) -> FloatArray:
        """Mahalanobis distance of each sample to each class centroid: (N, K)."""
        standard = (features - self.mean) / self.scale  # (N, D)
        diff = standard[:, None, :] - self.centroids[None, :, :]  # (N, K, D)
        squared = np.einsum("nkd,de,nke->nk", diff, self.precision, diff)
        result: FloatArray = np.sqrt(np.maximum(squared, 0.0))
        return result


def _fit_numeric(
    features: FloatArray,
    truth: npt.NDArray[np.int64],
    classes: int,
    *,
    regularization: float,
    novelty_quantile: float,
    temperature: float = 1.0,
    thresholds: FloatArray | None = None,
) -> _Fitted:
    """Scaler, logistic regression and class geometry on one set of examples."""
    from sklearn.covariance import ledoit_wolf  # type: ignore[import-untyped, unused-ignore]
    from sklearn.linear_model import (  # type: ignore[import-untyped, unused-ignore]
        LogisticRegression,
    )

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    standard = (features - mean) / scale
    classifier = LogisticRegression(C=regularization, max_iter=2000)
    classifier.fit(standard, truth)
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    intercept = np.asarray(classifier.intercept_, dtype=np.float64)
    if classes == 2:  # scikit-learn keeps one row for two classes; spell out both
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    centroids = np.stack([standard[truth == k].mean(axis=0) for k in range(classes)])
    within = standard - centroids[truth]
    covariance, _ = ledoit_wolf(within, assume_centered=True)
    precision = np.linalg.pinv(covariance, hermitian=True)
    return _Fitted(
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        centroids=centroids,
        precision=precision,
        novelty_thresholds=np.full(classes, np.inf) if thresholds is None else thresholds,
    )


class AttributionModel:
    """Calibrated "hand-made or which generator" classifier over `image_features` vectors.

    `fit(features, labels)` with labels `portfolio` (or `portfolio:<artist>`) and `model:<id>`
    holds out a stratified `heldout_fraction` to judge the final model, calibrates on
    out-of-fold predictions of the rest, and fits on the rest. Learned attributes: `classes_`,
    `class_counts_`, `temperature_`, `confidence_threshold_`, `heldout_accuracy_`,
    `heldout_ece_`, `heldout_ece_uncalibrated_`, `heldout_auc_machine_`,
    `portfolio_false_positive_rate_`, `machine_recall_`, `heldout_unknown_rate_` (share of
    held-out images of known classes answered "unknown"), `heldout_count_`, `heldout_counts_`,
    `heldout_index_` (rows of the fitted data that were held out).
    """

    def __init__(
        self,
        *,
        heldout_fraction: float = 0.25,
        folds: int = 5,
        min_per_class: int = 20,
        regularization: float = 0.1,
        target_precision: float = 0.9,
        novelty_quantile: float = 0.99,
        random_state: int = 0,
    ) -> None:
        self.heldout_fraction = heldout_fraction
        self.folds = folds
        self.min_per_class = min_per_class
        self.regularization = regularization
        self.target_precision = target_precision
        self.novelty_quantile = novelty_quantile
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, features: npt.ArrayLike, labels: Sequence[str]) -> AttributionModel:
        """Hold out, calibrate out-of-fold, fit, and measure on the held-out split; returns self."""
        from sklearn.model_selection import (  # type: ignore[import-untyped, unused-ignore]
            StratifiedKFold,
            train_test_split,
        )

        matrix = self._check_features(features, width=None)
        self._check_params()
        if len(labels) != len(matrix):
            raise AttributionError(
                f"{len(matrix)} feature rows but {len(labels)} labels; give one label per row"
            )
        for label in sorted(set(labels)):
            _check_label(label)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise AttributionError(
                f"only one class ({classes}) in the labels; attribution needs hand-made "
                "portfolio images and at least one generator's works (or two of either)"
            )
        counts = {label: int(sum(1 for x in labels if x == label)) for label in classes}
        for label, count in counts.items():
            if count < self.min_per_class:
                raise AttributionError(
                    f"class {label!r} has {count} examples; at least {self.min_per_class} are "
                    "needed per class (some are held out to measure the model); add images or "
                    "leave the class out"
                )
        truth = np.array([classes.index(x) for x in labels], dtype=np.int64)
        train_idx, held_idx = train_test_split(
            np.arange(len(truth)),
            test_size=self.heldout_fraction,
            stratify=truth,
            random_state=self.random_state,
        )
        x_train, y_train = matrix[train_idx], truth[train_idx]
        x_held, y_held = matrix[held_idx], truth[held_idx]
        k = len(classes)

        # Out-of-fold predictions of the training split: what the temperature, the confidence
        # threshold and the novelty thresholds are chosen on, so the held-out split stays unseen.
        oof_logits = np.zeros((len(y_train), k))
        oof_distance = np.zeros(len(y_train))
        splitter = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        for fit_rows, out_rows in splitter.split(x_train, y_train):
            part = _fit_numeric(
                x_train[fit_rows],
                y_train[fit_rows],
                k,
                regularization=self.regularization,
                novelty_quantile=self.novelty_quantile,
            )
            oof_logits[out_rows] = part.logits(x_train[out_rows])
            oof_distance[out_rows] = part.distances(x_train[out_rows])[
                np.arange(len(out_rows)), y_train[out_rows]
            ]
        temperature = _fit_temperature(oof_logits, y_train)
        thresholds = np.array(
            [
                float(np.quantile(oof_distance[y_train == c], self.novelty_quantile))
                for c in range(k)
            ]
        )
        oof_probabilities = _softmax(oof_logits / temperature)
        self.confidence_threshold_ = self._choose_confidence(oof_probabilities, y_train)
        self.fitted_ = _fit_numeric(
            x_train,
            y_train,
            k,
            regularization=self.regularization,
            novelty_quantile=self.novelty_quantile,
            temperature=temperature,
            thresholds=thresholds,
        )
        self.classes_ = tuple(classes)
        self.class_counts_ = counts
        self.heldout_index_ = np.sort(held_idx).astype(np.int64)
        self.temperature_ = temperature
        self.n_features_in_ = matrix.shape[1]
        self._measure(x_held, y_held)
        return self

    def _choose_confidence(self, probabilities: FloatArray, truth: npt.NDArray[np.int64]) -> float:
        """The lowest top-probability cut (at least 0.5) whose answers are right often enough."""
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == truth
        order = np.argsort(-confidence)
        running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
        if running[-1] >= self.target_precision:
            return 0.5  # even the least confident answers are right often enough
        good = np.nonzero(running >= self.target_precision)[0]
        if len(good) == 0:
            return 1.0  # never confident enough: every answer is "unknown"
        return max(0.5, float(confidence[order][good[-1]]))

    def _measure(self, x_held: FloatArray, y_held: npt.NDArray[np.int64]) -> None:
        """Held-out accuracy, ECE before and after calibration, AUC and portfolio FPR."""
        from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped, unused-ignore]

        logits = self.fitted_.logits(x_held)
        probabilities = _softmax(logits / self.fitted_.temperature)
        machine_columns = [i for i, c in enumerate(self.classes_) if _is_machine(c)]
        machine = probabilities[:, machine_columns].sum(axis=1)
        is_machine = np.isin(y_held, machine_columns)
        self.heldout_count_ = len(y_held)
        self.heldout_counts_ = {c: int(np.sum(y_held == i)) for i, c in enumerate(self.classes_)}
        self.heldout_accuracy_ = float(np.mean(probabilities.argmax(axis=1) == y_held))
        self.heldout_ece_ = expected_calibration_error(probabilities, y_held)
        self.heldout_ece_uncalibrated_ = expected_calibration_error(_softmax(logits), y_held)
        hand = ~is_machine
        self.portfolio_false_positive_rate_ = (
            float(np.mean(machine[hand] > 0.5)) if hand.any() else float("nan")
        )
        self.machine_recall_ = (
            float(np.mean(machine[is_machine] > 0.5)) if is_machine.any() else float("nan")
        )
        far = (self.fitted_.distances(x_held) / self.fitted_.novelty_thresholds).min(axis=1) > 1
        unsure = probabilities.max(axis=1) < self.confidence_threshold_
        self.heldout_unknown_rate_ = float(np.mean(far | unsure))
        both = is_machine.any() and hand.any()
        self.heldout_auc_machine_ = (
            float(roc_auc_score(is_machine, machine)) if both else float("nan")
        )

    # -- predicting ----------------------------------------------------------------------------

    def predict_proba(self, features: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities (N, len(classes_)), columns in `classes_` order."""
        fitted = self._check_fitted()
        matrix = self._check_features(features)
        return _softmax(fitted.logits(matrix) / fitted.temperature)

    def predict(self, features: npt.ArrayLike) -> list[str]:
        """The most likely class of each row (no "unknown"; see `attribute`)."""
        probabilities = self.predict_proba(features)
        return [self.classes_[i] for i in probabilities.argmax(axis=1)]

    def novelty(self, features: npt.ArrayLike) -> FloatArray:
        """Distance to the nearest class over that class's threshold (N,); above 1 is far."""
        fitted = self._check_fitted()
        matrix = self._check_features(features)
        ratios = fitted.distances(matrix) / fitted.novelty_thresholds
        result: FloatArray = ratios.min(axis=1)
        return result

    def attribute(self, features: npt.ArrayLike) -> list[Attribution]:
        """Each row's `Attribution`: probabilities, machine-made share, label or "unknown"."""
        probabilities = self.predict_proba(features)
        novelty = self.novelty(features)
        machine_columns = [i for i, c in enumerate(self.classes_) if _is_machine(c)]
        answers = []
        for row, far in zip(probabilities, novelty, strict=True):
            top = int(row.argmax())
            if far > 1.0:
                label, reason = UNKNOWN, "unlike the training data"
            elif row[top] < self.confidence_threshold_:
                label, reason = UNKNOWN, "low confidence"
            else:
                label, reason = self.classes_[top], "confident"
            answers.append(
                Attribution(
                    probabilities={c: float(p) for c, p in zip(self.classes_, row, strict=True)},
                    machine_made=float(row[machine_columns].sum()),
                    label=label,
                    reason=reason,
                    novelty=float(far),
                    heldout_accuracy=self.heldout_accuracy_,
                    heldout_ece=self.heldout_ece_,
                    portfolio_false_positive_rate=self.portfolio_false_positive_rate_,
                    heldout_count=self.heldout_count_,
                )
            )
        return answers

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the fitted model as JSON (floats written exactly; no code, no pickle)."""
        fitted = self._check_fitted()
        document = {
            "format": FORMAT_VERSION,
            "recipe": FEATURE_RECIPE,
            "params": self.get_params(),
            "classes": list(self.classes_),
            "class_counts": self.class_counts_,
            "n_features_in": self.n_features_in_,
            "confidence_threshold": self.confidence_threshold_,
            "metrics": {
                "heldout_accuracy": self.heldout_accuracy_,
                "heldout_ece": self.heldout_ece_,
                "heldout_ece_uncalibrated": self.heldout_ece_uncalibrated_,
                "heldout_auc_machine": self.heldout_auc_machine_,
                "portfolio_false_positive_rate": self.portfolio_false_positive_rate_,
                "machine_recall": self.machine_recall_,
                "heldout_unknown_rate": self.heldout_unknown_rate_,
                "heldout_count": self.heldout_count_,
                "heldout_counts": self.heldout_counts_,
                "heldout_index": self.heldout_index_.tolist(),
            },
            "temperature": fitted.temperature,
            "arrays": {
                name: getattr(fitted, name).tolist()
                for name in (
                    "mean",
                    "scale",
                    "coef",
                    "intercept",
                    "centroids",
                    "precision",
                    "novelty_thresholds",
                )
            },
        }
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(document, allow_nan=True), "utf-8")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> AttributionModel:
        """Read a model written by `save`; refuses another format or feature recipe."""
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise AttributionError(
                f"cannot read an attribution model from {path}: {error}"
            ) from error
        if document.get("format") != FORMAT_VERSION or document.get("recipe") != FEATURE_RECIPE:
            raise AttributionError(
                f"{path} holds format {document.get('format')} / recipe {document.get('recipe')}; "
                f"this code reads format {FORMAT_VERSION} / {FEATURE_RECIPE}: fit the model again"
            )
        try:
            model = cls(**document["params"])
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in document["arrays"].items()}
            model.fitted_ = _Fitted(temperature=float(document["temperature"]), **arrays)
            model.classes_ = tuple(str(c) for c in document["classes"])
            model.class_counts_ = {str(k): int(v) for k, v in document["class_counts"].items()}
            model.n_features_in_ = int(document["n_features_in"])
            model.confidence_threshold_ = float(document["confidence_threshold"])
            metrics = document["metrics"]
            model.temperature_ = model.fitted_.temperature
            model.heldout_accuracy_ = float(metrics["heldout_accuracy"])
            model.heldout_ece_ = float(metrics["heldout_ece"])
            model.heldout_ece_uncalibrated_ = float(metrics["heldout_ece_uncalibrated"])
            model.heldout_auc_machine_ = float(metrics["heldout_auc_machine"])
            model.portfolio_false_positive_rate_ = float(metrics["portfolio_false_positive_rate"])
            model.machine_recall_ = float(metrics["machine_recall"])
            model.heldout_unknown_rate_ = float(metrics["heldout_unknown_rate"])
            model.heldout_count_ = int(metrics["heldout_count"])
            model.heldout_counts_ = {str(k): int(v) for k, v in metrics["heldout_counts"].items()}
            model.heldout_index_ = np.asarray(metrics["heldout_index"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as error:
            raise AttributionError(
                f"{path} is not a complete attribution model: {error!r}"
            ) from error
        return model

    # -- scikit-learn conventions --------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn convention)."""
        return {
            "heldout_fraction": self.heldout_fraction,
            "folds": self.folds,
            "min_per_class": self.min_per_class,
            "regularization": self.regularization,
            "target_precision": self.target_precision,
            "novelty_quantile": self.novelty_quantile,
            "random_state": self.random_state,
        }

    def set_params(self, **params: Any) -> AttributionModel:
        """Change constructor arguments (scikit-learn convention); returns self."""
        for name, value in params.items():
            if name not in self.get_params():
                raise AttributionError(f"unknown parameter {name!r}; see AttributionModel()")
            setattr(self, name, value)
        return self

    def _check_params(self) -> None:
        if not 0.05 <= self.heldout_fraction <= 0.5:
            raise AttributionError(f"heldout_fraction={self.heldout_fraction}: use 0.05 to 0.5")
        if self.folds < 2:
            raise AttributionError(f"folds={self.folds}: need at least 2")
        minimum = math.ceil(self.folds / (1 - self.heldout_fraction)) + 2
        if self.min_per_class < minimum:
            raise AttributionError(
                f"min_per_class={self.min_per_class}: with {self.folds} folds and "
                f"heldout_fraction={self.heldout_fraction} it must be at least {minimum}"
            )
        if not 0 < self.novelty_quantile <= 1:
            raise AttributionError(f"novelty_quantile={self.novelty_quantile}: use (0, 1]")
        if not 0 < self.target_precision <= 1:
            raise AttributionError(f"target_precision={self.target_precision}: use (0, 1]")
        if self.regularization <= 0:
            raise AttributionError(f"regularization={self.regularization}: must be positive")

    def _check_fitted(self) -> _Fitted:
        fitted: _Fitted | None = getattr(self, "fitted_", None)
        if fitted is None:
            raise AttributionError(
                "this AttributionModel is not fitted; call fit(features, labels) or load(path)"
            )
        return fitted

    def _check_features(self, features: npt.ArrayLike, *, width: int | None = -1) -> FloatArray:
        """Features as a finite float matrix; `width` -1: as fitted, None: any (for fit)."""
        matrix = np.asarray(features, dtype=np.float64)
        expected = self.n_features_in_ if width == -1 else width
        if matrix.ndim != 2 or len(matrix) == 0 or (expected and matrix.shape[1] != expected):
            raise AttributionError(
                f"features must be a non-empty (N, {expected or 'D'}) matrix from "
                f"image_features(); got shape {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            rows = np.nonzero(~np.isfinite(matrix).all(axis=1))[0]
            raise AttributionError(f"features hold NaN or infinity in rows {rows[:5].tolist()}")
        return matrix
