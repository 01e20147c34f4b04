"""Which registered work an image copies: hash index, local features, Matcher; real paintings."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.errors import InvalidImage, ProvenanceError
from provenance.hashing import open_image
from provenance.matching import (
    DuplicateWork,
    HashIndex,
    Matcher,
    MatcherConfig,
    geometric_inliers,
    local_features,
    pdq256,
)
from tests.helpers import REPO

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
ARTISTS = [
    "camille_pissarro",
    "claude_monet",
    "katsushika_hokusai",
    "utagawa_hiroshige",
    "vincent_van_gogh",
]


def painting_files() -> list[Path]:
    """Every shared painting, sorted; fails the test plainly when they are missing."""
    files = sorted(PAINTINGS.glob("*/*.jpg"))
    if not files:
        pytest.fail(f"the shared paintings are missing: expected JPEGs under {PAINTINGS}")
    return files


def jpeg(image: Image.Image, quality: int = 95) -> bytes:
    """`image` as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def works() -> list[Path]:
    """Four paintings of every artist, taken apart in the folders so they are different works."""
    files = painting_files()
    chosen = []
    for artist in ARTISTS:
        mine = [path for path in files if path.parent.name == artist]
        chosen += mine[:: len(mine) // 4][:4]
    return chosen


@pytest.fixture(scope="module")
def strangers(works: list[Path]) -> list[Path]:
    """Twelve paintings by the same artists that are never registered."""
    files = [path for path in painting_files() if path not in works]
    return files[5 :: len(files) // 12][:12]


@pytest.fixture(scope="module")
def matcher(works: list[Path]) -> Matcher:
    """A matcher with every work of `works` registered under its file name."""
    registered = Matcher()
    for path in works:
        registered.register(path.name, path.read_bytes())
    return registered


def test_exact_file_is_found_by_its_sha256(matcher: Matcher, works: list[Path]) -> None:
    match = matcher.identify(works[3].read_bytes())
    assert match is not None
    assert (match.work_id, match.method, match.distance, match.score) == (
        works[3].name,
        "exact",
        0,
        1.0,
    )


def test_jpeg50_half_size_copy_is_found_by_its_hash(matcher: Matcher, works: list[Path]) -> None:
    for path in works[::3]:
        image = open_image(path.read_bytes())
        copy = jpeg(image.resize((image.width // 2, image.height // 2)), quality=50)
        match = matcher.identify(copy)
        assert match is not None, path.name
        assert (match.work_id, match.method) == (path.name, "hash")
        assert match.distance is not None
        assert match.distance <= match.threshold


def test_quarter_crop_is_found_by_local_features(matcher: Matcher, works: list[Path]) -> None:
    for path in works[1::3]:
        image = open_image(path.read_bytes())
        width, height = image.size
        # Keep 75% of each side, off-centre: the global hashes no longer recognise it.
        cropped = image.crop((width // 4, 0, width, height * 3 // 4))
        match = matcher.identify(jpeg(cropped))
        assert match is not None, path.name
        assert (match.work_id, match.method) == (path.name, "local")
        assert match.inliers is not None
        assert match.inliers >= match.threshold


def _registered(config: MatcherConfig, works: list[Path]) -> Matcher:
    matcher = Matcher(config)
    for path in works:
        matcher.register(path.name, path.read_bytes())
    return matcher


def _quarter_crop(path: Path) -> bytes:
    """The lower-left 75% of each side: the global hashes no longer recognise it."""
    image = open_image(path.read_bytes())
    width, height = image.size
    return jpeg(image.crop((0, height // 4, width * 3 // 4, height)))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        # Registered prints stay at WORKING_SIDE; the similarity fit absorbs the query's scale.
        (MatcherConfig(query_side=512), "query_side"),
        (MatcherConfig(query_votes=256), "query_votes"),
    ],
)
def test_a_query_searched_at_another_size_or_with_fewer_votes_still_finds_a_crop(
    works: list[Path], config: MatcherConfig, field: str
) -> None:
    match = _registered(config, works).identify(_quarter_crop(works[4]))

    assert match is not None
    assert (match.work_id, match.method) == (works[4].name, "local")
    with pytest.raises(ValueError, match=field):
        MatcherConfig(**{field: 0})


def test_local_features_are_in_pixels_of_the_side_asked_for(works: list[Path]) -> None:
    image = open_image(works[4].read_bytes())
    features = local_features(image, side=512)

    assert features.points.max() < 512
    # In 512 px rather than WORKING_SIDE pixels: the same corners lie farther out.
    assert features.points.max() > local_features(image).points.max() * 1.2


def test_slightly_rotated_copy_is_found(matcher: Matcher, works: list[Path]) -> None:
    image = open_image(works[7].read_bytes())
    match = matcher.identify(jpeg(image.rotate(5, resample=Image.Resampling.BICUBIC)))
    assert match is not None
    assert match.work_id == works[7].name


def test_unregistered_paintings_give_no_match(matcher: Matcher, strangers: list[Path]) -> None:
    for path in strangers:
        assert matcher.identify(jpeg(open_image(path.read_bytes()), quality=80)) is None, path.name


def test_pil_image_can_be_registered_and_identified(works: list[Path]) -> None:
    matcher = Matcher()
    image = open_image(works[0].read_bytes())
    matcher.register(42, image.convert("L"))
    match = matcher.identify(image)
    assert match is not None
    assert (match.work_id, match.method) == (42, "hash")


def test_not_an_image_raises_invalid_image(matcher: Matcher) -> None:
    with pytest.raises(InvalidImage, match="not an image"):
        matcher.identify(b"%PDF-1.7 this is a document")
    with pytest.raises(ProvenanceError):
        Matcher().register("doc", b"plain text, not pixels")


def test_registering_an_id_twice_is_refused(works: list[Path]) -> None:
    matcher = Matcher()
    matcher.register("a", works[0].read_bytes())
    with pytest.raises(DuplicateWork, match="'a' is already registered"):
        matcher.register("a", works[1].read_bytes())


def test_matcher_round_trips_through_a_file(
    matcher: Matcher, works: list[Path], tmp_path: Path
) -> None:
    mixed = Matcher()
    mixed.register(7, works[0].read_bytes())
    mixed.register("seven", works[1].read_bytes())
    mixed.save(tmp_path / "works.npz")
    loaded = Matcher.load(tmp_path / "works.npz")
    assert len(loaded) == 2
    assert 7 in loaded
    assert "seven" in loaded
    assert "7" not in loaded
    for path, work_id in ((works[0], 7), (works[1], "seven")):
        exact = loaded.identify(path.read_bytes())
        assert exact is not None
        assert (exact.work_id, exact.method) == (work_id, "exact")
        image = open_image(path.read_bytes())
        crop = jpeg(image.crop((0, 0, image.width * 3 // 4, image.height * 3 // 4)))
        local = loaded.identify(crop, methods=("local",))
        assert local is not None
        assert local.work_id == work_id


def test_local_features_tell_a_crop_from_another_painting(works: list[Path]) -> None:
    original = open_image(works[2].read_bytes())
    crop = original.crop((10, 10, original.width * 3 // 4, original.height * 3 // 4))
    reference = local_features(original)
    assert geometric_inliers(local_features(crop), reference) >= 50
    assert geometric_inliers(local_features(open_image(works[9].read_bytes())), reference) < 16


def test_pdq256_is_four_words_and_stable_under_jpeg(works: list[Path]) -> None:
    image = open_image(works[5].read_bytes())
    code = pdq256(image)
    assert code.shape == (4,)
    assert code.dtype == np.uint64
    again = pdq256(open_image(jpeg(image, quality=70)))
    assert int(np.bitwise_count(code ^ again).sum()) <= 20


def brute_force(codes: np.ndarray, query: np.ndarray, radius: int) -> list[tuple[int, int]]:
    """(row, distance) within `radius` by Python integers: an oracle independent of numpy tricks."""
    as_int = [int.from_bytes(row.astype(">u8").tobytes(), "big") for row in codes]
    target = int.from_bytes(query.astype(">u8").tobytes(), "big")
    found = [(row, (value ^ target).bit_count()) for row, value in enumerate(as_int)]
    return sorted(((r, d) for r, d in found if d <= radius), key=lambda pair: (pair[1], pair[0]))


def flip_bits(code: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`code` with `count` distinct random bits flipped."""
    bits = np.unpackbits(code.astype(">u8").view(np.uint8))
    bits[rng.choice(bits.size, size=count, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


@pytest.mark.parametrize("bits", [64, 256])
def test_index_search_equals_linear_scan_on_random_codes(bits: int) -> None:
    rng = np.random.default_rng(bits)
    words = bits // 64
    codes = rng.integers(0, 2**64, size=(3000, words), dtype=np.uint64)
    # Plant neighbours at chosen distances from a few centres, including copies (distance 0).
    centres = codes[:20].copy()
    planted = [flip_bits(centres[i % 20], d, rng) for i, d in enumerate(range(0, bits // 4, 1))]
    codes = np.concatenate([codes, np.stack(planted), centres[:3]])
    index = HashIndex(bits)
    index.add(np.arange(len(codes)) * 10, codes)
    radii = [0, 1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, bits // 2 - 1]
    for trial in range(150):
        centre = centres[trial % 20]
        query = flip_bits(centre, int(rng.integers(0, 4)), rng) if trial % 3 else centre
        radius = radii[trial % len(radii)]
        expected = [(row * 10, distance) for row, distance in brute_force(codes, query, radius)]
        assert index.search(query, radius) == expected, (bits, radius)
        assert index.search_linear(query, radius) == expected, (bits, radius)


def test_index_is_searchable_after_more_adds() -> None:
    rng = np.random.default_rng(1)
    index = HashIndex(64)
    first = rng.integers(0, 2**64, size=(100, 1), dtype=np.uint64)
    index.add(range(100), first)
    assert index.search(first[5], 0) == [(5, 0)]
    index.add([1000], first[5:6])
    assert index.search(first[5], 0) == [(5, 0), (1000, 0)]
    assert len(index) == 101


def test_index_round_trips_through_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 2**64, size=(500, 4), dtype=np.uint64)
    index = HashIndex(256)
    index.add(rng.permutation(10_000)[:500], codes)
    index.save(tmp_path / "index.npz")
    loaded = HashIndex.load(tmp_path / "index.npz")
    assert loaded.bits == 256
    assert len(loaded) == 500
    for query in codes[:20]:
        assert loaded.search(query, 40) == index.search(query, 40)


def test_index_refuses_codes_of_the_wrong_width() -> None:
    index = HashIndex(256)
    with pytest.raises(ValueError, match="4 uint64 word"):
        index.search(np.zeros(1, dtype=np.uint64), 3)
    with pytest.raises(ValueError, match="multiple of 64"):
        HashIndex(100)
    with pytest.raises(ValueError, match="2 ids for 1 codes"):
        HashIndex(64).add([1, 2], np.zeros((1, 1), dtype=np.uint64))
