"""Duplicates: every kind of same-picture is grouped, other shots are not, best is kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.find.duplicates import (
    Photo,
    _close_hashes,
    find_duplicates,
    keep_order,
    max_bits,
    photos_with_info,
)
from photosorter.core.library.cache import ImageInfo, Store
from photosorter.core.library.perceptual import hamming
from photosorter.core.library.pipeline import index_photos
from photosorter.core.library.scanner import scan
from photosorter.core.model.engine import Engine
from tests.fixtures.duplicates import DUPLICATE_KINDS, SHOT_KINDS, make_duplicate_set


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory, tiny_spec: str):
    folder = tmp_path_factory.mktemp("dups")
    dupset = make_duplicate_set(folder, scenes=6)
    with Store(tmp_path_factory.mktemp("store") / "s.db") as store:
        batches = list(index_photos(list(scan([folder])), Engine(tiny_spec, "cpu"), store))
        indexed = [r for b in batches for r in b.ok]
        vectors = np.concatenate([b.vectors for b in batches if b.ok])
        photos, rows, failed = photos_with_info(store, indexed)
    assert not failed and len(photos) == len(indexed) == 6 * (1 + 7 + 2)
    groups = find_duplicates(photos, vectors[rows])
    group_of = {p: i for i, g in enumerate(groups) for p in g.paths}
    return dupset, groups, group_of


@pytest.mark.parametrize("kind", DUPLICATE_KINDS)
def test_recall_on_each_kind_of_duplicate(found, kind: str) -> None:
    dupset, _, group_of = found
    pairs = [(a, b) for a, b, k in dupset.duplicates if k == kind]
    together = [a in group_of and group_of.get(a) == group_of.get(b) for a, b in pairs]
    assert all(together), f"{kind}: {together.count(False)} of {len(pairs)} missed"


@pytest.mark.parametrize("kind", SHOT_KINDS)
def test_precision_other_shots_are_not_duplicates(found, kind: str) -> None:
    dupset, _, group_of = found
    shots = [b for _, b, k in dupset.shots if k == kind]
    assert not [s for s in shots if s in group_of]


def test_groups_are_exactly_each_original_with_its_copies(found) -> None:
    dupset, groups, _ = found
    expected = {
        frozenset([orig, *(b for a, b, _ in dupset.duplicates if a == orig)])
        for orig in dupset.originals
    }
    assert {frozenset(g.paths) for g in groups} == expected
    for g in groups:  # the full-size PNG: most pixels, least compressed
        assert g.best.path.suffix == ".png", g.paths
        assert g.paths[0] == g.best.path


def _photo(name: str, w: int, h: int, size: int, mtime: int, key: str | None = None) -> Photo:
    return Photo(Path(name), key or name, size, mtime, ImageInfo(w, h, "JPEG", 0))


def test_best_is_most_pixels_then_least_compressed_then_oldest() -> None:
    small = _photo("small.jpg", 320, 240, 90_000, 1)
    big_low = _photo("big-q50.jpg", 640, 480, 60_000, 1)
    big_high = _photo("big-q95.jpg", 640, 480, 200_000, 5)
    big_high_old = _photo("big-q95-copy.jpg", 640, 480, 200_000, 2, key="big-q95.jpg")
    order = sorted([small, big_low, big_high, big_high_old], key=keep_order)
    assert [p.path.name for p in order] == [
        "big-q95-copy.jpg", "big-q95.jpg", "big-q50.jpg", "small.jpg",
    ]  # fmt: skip


def test_byte_identical_files_group_by_content_alone() -> None:
    a = _photo("a.jpg", 10, 10, 100, 2, key="k")
    b = _photo("b.jpg", 10, 10, 100, 1, key="k")
    c = _photo("c.jpg", 10, 10, 100, 1, key="other")
    far = Photo(c.path, c.key, c.size, c.mtime_ns, ImageInfo(10, 10, "JPEG", (1 << 64) - 1))
    vectors = np.eye(3, dtype=np.float32)
    groups = find_duplicates([a, b, far], vectors)
    assert [g.paths for g in groups] == [[Path("b.jpg"), Path("a.jpg")]]


def test_clip_disagreeing_vetoes_a_hash_match() -> None:
    a, b = _photo("a.jpg", 10, 10, 1, 1), _photo("b.jpg", 10, 10, 1, 1)
    assert find_duplicates([a, b], np.eye(2, dtype=np.float32)) == []
    assert len(find_duplicates([a, b], np.ones((2, 2), np.float32) / np.sqrt(2))) == 1


@pytest.mark.parametrize("k", [0, 2, 6, 9])
def test_candidate_search_finds_exactly_the_close_pairs(k: int) -> None:
    rng = np.random.default_rng(k)
    base = rng.integers(0, 2**63, 300, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    flips = np.zeros(300, dtype=np.uint64)
    for _ in range(3):  # neighbours within a few bits of one another
        bit = rng.integers(0, 64, 300).astype(np.uint64)
        flips |= np.where(rng.random(300) < 0.5, np.uint64(1) << bit, np.uint64(0))
    hashes = np.concatenate([base, base ^ flips])
    a, b = _close_hashes(hashes, k)
    i, j = np.triu_indices(len(hashes), 1)
    close = hamming(hashes[i], hashes[j]) <= k
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == sorted(
        zip(i[close].tolist(), j[close].tolist(), strict=True)
    )


def test_threshold_to_bits() -> None:
    assert max_bits(1.0) == 0 and max_bits(0.9) == 6 and max_bits(0.75) == 16
    for bad in (1.5, 0.5):
        with pytest.raises(ValueError):
            max_bits(bad)


def test_photos_indexed_before_hashes_were_stored_are_decoded_once(
    tmp_path: Path, tiny_spec: str
) -> None:
    dupset = make_duplicate_set(tmp_path / "photos", scenes=1)
    with Store(tmp_path / "s.db") as store:
        batches = list(index_photos(list(scan([tmp_path / "photos"])), Engine(tiny_spec), store))
        indexed = [r for b in batches for r in b.ok]
        stored = store.get_image_info([r.key for r in indexed])
        store.conn.execute("DELETE FROM image_info")  # as a store from before migration 4
        gone = next(r for r in indexed if r.path == dupset.shots[0][1])
        gone.path.unlink()
        photos, rows, failed = photos_with_info(store, indexed)
        assert [f.path for f in failed] == [gone.path] and "vanished" in failed[0].error
        assert [indexed[i].path for i in rows] == [p.path for p in photos]
        assert len(photos) == len(indexed) - 1
        for p in photos:  # the same facts, give or take a bit of the hash (another scale)
            before = stored[p.key]
            assert (p.info.width, p.info.height, p.info.format) == (
                before.width, before.height, before.format,
            )  # fmt: skip
            assert hamming(np.array([p.info.phash]), np.array([before.phash]))[0] <= 2
        assert set(store.get_image_info([p.key for p in photos])) == {p.key for p in photos}
    assert find_duplicates([], np.zeros((0, 0), np.float32)) == []
