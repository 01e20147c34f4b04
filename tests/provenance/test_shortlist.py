"""`KeypointShortlist` votes, a Matcher that reads keypoints back, and print formats."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pytest

from provenance.hashing import open_image
from provenance.matching import (
    KeypointShortlist,
    LocalFeatures,
    Matcher,
    MatcherConfig,
    WorkPrint,
    local_features,
    print_image,
)
from provenance.matching import shortlist as shortlist_module
from provenance.matching.local import WORKING_SIDE
from provenance.matching.prints import PRINT_FORMAT
from tests.provenance.test_matching import jpeg, painting_files

rng = np.random.default_rng(11)


def random_descriptors(count: int) -> np.ndarray:
    return rng.integers(0, 256, size=(count, 32), dtype=np.uint8)


def flipped(descriptors: np.ndarray, bits: int) -> np.ndarray:
    """Each descriptor with `bits` random bits flipped (a copy's descriptors differ so)."""
    unpacked = np.unpackbits(descriptors, axis=1)
    for row in unpacked:
        row[rng.choice(256, size=bits, replace=False)] ^= 1
    return np.packbits(unpacked, axis=1)


def test_a_work_with_noisy_copies_of_its_descriptors_is_voted_first() -> None:
    shortlist = KeypointShortlist(per_work=128)
    works = [random_descriptors(128) for _ in range(50)]
    for descriptors in works:
        shortlist.add(descriptors)
    # A crop: 60 of its descriptors, each with 12 of 256 bits flipped, among 200 strangers.
    query = np.concatenate([flipped(works[17][:60], 12), random_descriptors(200)])
    top = shortlist.top(query, 3)
    assert top[0][0] == 17
    assert top[0][1] >= 10
    assert all(votes <= 2 for _, votes in top[1:])
    strangers = shortlist.top(random_descriptors(300), 3)
    assert all(votes <= 2 for _, votes in strangers)


@pytest.mark.parametrize("fold_at", [1, 65_536], ids=["folded-into-base", "kept-in-delta"])
def test_works_added_after_a_search_are_found_and_vote_like_a_fresh_build(
    fold_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shortlist_module, "_MIN_FOLD", fold_at)
    works = [random_descriptors(64) for _ in range(30)]
    grown = KeypointShortlist(per_work=64)
    for descriptors in works[:20]:
        grown.add(descriptors)
    assert grown.top(works[3], 1) == [(3, 64)]  # folds the first twenty into the base
    for descriptors in works[20:25]:
        grown.add(descriptors)  # these go to the delta, searched beside the base ...
    assert grown.top(works[22], 1) == [(22, 64)]
    for descriptors in works[25:]:
        grown.add(descriptors)  # ... and are merged into the base once the delta is big enough
    fresh = KeypointShortlist(per_work=64)
    for descriptors in works:
        fresh.add(descriptors)
    for row in (3, 25, 29):
        query = flipped(works[row], 8)
        assert grown.top(query, 5) == fresh.top(query, 5)
        assert grown.top(query, 1)[0][0] == row
    assert len(grown) == 30


def test_only_the_first_per_work_descriptors_vote() -> None:
    shortlist = KeypointShortlist(per_work=10)
    descriptors = random_descriptors(40)
    shortlist.add(descriptors)
    assert shortlist.top(descriptors[:10], 1) == [(0, 10)]
    assert shortlist.top(descriptors[10:], 1) == []


def test_a_substring_shared_by_more_than_max_bucket_entries_casts_no_vote() -> None:
    common = random_descriptors(1)
    shortlist = KeypointShortlist(per_work=4, max_bucket=5)
    for _ in range(6):  # six works hold the very same descriptor: a stop word
        shortlist.add(np.concatenate([common, random_descriptors(3)]))
    assert shortlist.top(common, 6) == []
    few = KeypointShortlist(per_work=4, max_bucket=6)
    for _ in range(6):
        few.add(np.concatenate([common, random_descriptors(3)]))
    assert [votes for _, votes in few.top(common, 6)] == [1] * 6


def test_shortlist_refuses_bad_shapes_and_sizes() -> None:
    with pytest.raises(ValueError, match="per_work and max_bucket"):
        KeypointShortlist(per_work=0)
    with pytest.raises(ValueError, match=r"\(n, 32\) uint8"):
        KeypointShortlist().add(np.zeros((3, 16), dtype=np.uint8))
    assert KeypointShortlist().top(random_descriptors(5), 3) == []


def test_keypoints_come_strongest_first_in_each_cell_the_cells_in_turn() -> None:
    from provenance.matching.local import _spread_order

    points = rng.uniform(0, 512, size=(300, 2)).astype(np.float32)
    points[:100] = rng.uniform(0, 128, size=(100, 2))  # a crowded, contrasted corner
    responses = rng.uniform(0, 1, size=300).astype(np.float32)
    responses[:100] += 1.0  # ... holding the 100 strongest keypoints
    order = _spread_order(points, responses, (512, 512))
    cells = np.minimum(points[order, 1] // 128, 3) * 4 + np.minimum(points[order, 0] // 128, 3)
    assert sorted(order.tolist()) == list(range(300))
    assert len(set(cells[:16].tolist())) == 16  # one from every cell before any second
    for cell in range(16):
        mine = responses[order][cells == cell]
        assert (np.diff(mine) <= 0).all()  # strongest first within the cell


def test_a_real_paintings_first_keypoints_are_spread_over_it() -> None:
    image = open_image(painting_files()[0].read_bytes())
    features = local_features(image)
    side = WORKING_SIDE / max(image.size)
    height, width = round(image.height * side), round(image.width * side)
    cells = [
        min(int(y * 4 / height), 3) * 4 + min(int(x * 4 / width), 3) for x, y in features.points
    ]
    occupied = len(set(cells))
    assert occupied >= 8
    assert len(set(cells[:occupied])) == occupied


def test_a_matcher_that_fetches_keypoints_answers_as_one_that_holds_them() -> None:
    files = painting_files()[::60][:12]
    prints = {path.name: print_image(path.read_bytes()) for path in files}
    fetched: list[str] = []

    def fetch(work_ids: Sequence[object]) -> dict[object, LocalFeatures]:
        fetched.extend(str(work_id) for work_id in work_ids)
        return {w: prints[str(w)].features for w in work_ids if w != "gone"}

    holding, fetching = Matcher(), Matcher(fetch_features=fetch)
    # "gone" holds the first painting's print and was indexed first, so it leads the votes for
    # that painting's crops; its row has since been deleted, so fetch_features answers None.
    fetching.add("gone", prints[files[0].name])
    for name, work_print in prints.items():
        holding.add(name, work_print)
        fetching.add(name, work_print)
    for path in (files[0], files[4]):
        image = open_image(path.read_bytes())
        width, height = image.size
        crop = jpeg(image.crop((0, height // 4, width * 3 // 4, height)))
        fetched.clear()
        held, read = holding.identify(crop), fetching.identify(crop)
        assert held is not None
        assert read is not None
        assert (read.work_id, read.method, read.inliers) == (path.name, "local", held.inliers)
        assert 1 <= len(fetched) <= fetching.config.shortlist
        assert fetched[0] == ("gone" if path == files[0] else path.name)
    with pytest.raises(ValueError, match="fetch_features"):
        fetching.save(io.BytesIO())  # type: ignore[arg-type]


def test_an_older_print_still_reads_and_says_its_format() -> None:
    work_print = print_image(painting_files()[1].read_bytes())
    assert WorkPrint.from_bytes(work_print.to_bytes()).version == PRINT_FORMAT == 3
    with np.load(io.BytesIO(work_print.to_bytes())) as stored:
        arrays = {name: stored[name] for name in stored.files}
    for version in (1, 2):
        buffer = io.BytesIO()
        np.savez(buffer, **(arrays | {"format": np.array(version)}))
        old = WorkPrint.from_bytes(buffer.getvalue())
        assert old.version == version
        assert np.array_equal(old.features.descriptors, work_print.features.descriptors)


def test_top_equals_a_linear_scan_of_every_entry() -> None:
    shortlist = KeypointShortlist(per_work=48, max_bucket=3)
    works = [random_descriptors(48) for _ in range(60)]
    common = random_descriptors(1)
    for number, descriptors in enumerate(works):
        if number % 10 == 0:  # six works share one descriptor: a stop word at max_bucket 3
            descriptors = np.concatenate([common, descriptors[1:]])
        shortlist.add(descriptors)
    assert shortlist.top(works[0][:5], 3) == shortlist.top_linear(works[0][:5], 3)
    for descriptors in works[:5]:
        shortlist.add(flipped(descriptors, 4))  # rows 60..64 land in the delta
    for row in (0, 7, 33, 59):
        query = np.concatenate([flipped(works[row], 10), common, random_descriptors(40)])
        assert shortlist.top(query, 10) == shortlist.top_linear(query, 10)
        assert shortlist.top(query, 1)[0][0] == row


def test_a_stop_word_is_counted_over_the_base_and_the_newer_rows() -> None:
    common = random_descriptors(1)
    shortlist = KeypointShortlist(per_work=4, max_bucket=5)
    for _ in range(3):
        shortlist.add(np.concatenate([common, random_descriptors(3)]))
    assert len(shortlist.top(common, 6)) == 3  # three entries: it votes (and builds the base)
    for _ in range(3):
        shortlist.add(np.concatenate([common, random_descriptors(3)]))  # three more, in the delta
    assert shortlist.top(common, 6) == shortlist.top_linear(common, 6) == []


def test_works_with_fewer_votes_than_min_votes_are_not_checked() -> None:
    files = painting_files()[::90][:6]
    image = open_image(files[2].read_bytes())
    width, height = image.size
    crop = jpeg(image.crop((width // 8, height // 8, width * 7 // 8, height * 7 // 8)))
    for min_votes, found in ((3, True), (10_000, False)):
        matcher = Matcher(MatcherConfig(min_votes=min_votes))
        for path in files:
            matcher.register(path.name, path.read_bytes())
        match = matcher.identify(crop, methods=("local",))
        assert (match is not None and match.work_id == files[2].name) is found
    with pytest.raises(ValueError, match="min_votes"):
        MatcherConfig(min_votes=0)
