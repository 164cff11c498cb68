"""Duplicates past EXACT_LIMIT: hash bands matched within k-means cells of the embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.find import duplicates
from photosorter.core.find.duplicates import (
    Photo,
    _close_hashes,
    embedding_cells,
    find_duplicates,
    similar_pairs,
)
from photosorter.core.library.cache import ImageInfo
from photosorter.core.library.perceptual import hamming


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _clusters(rng: np.random.Generator, n: int, centres: int) -> np.ndarray:
    """n unit vectors round `centres` random centres (cosine ~0.7 to their centre)."""
    c = _unit(rng.standard_normal((centres, 64)))
    return _unit(c[rng.integers(0, centres, n)] + 0.1 * rng.standard_normal((n, 64)))


def _brute_force(hashes: np.ndarray, vectors: np.ndarray, k: int, cos: float) -> set:
    i, j = np.triu_indices(len(hashes), 1)
    keep = (hamming(hashes[i], hashes[j]) <= k) & (np.sum(vectors[i] * vectors[j], 1) >= cos)
    return set(zip(i[keep].tolist(), j[keep].tolist(), strict=True))


def test_cells_find_planted_copies_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    vectors = _clusters(rng, 3000, 40)
    hashes = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    src, dst = np.arange(0, 300, 2), np.arange(1, 300, 2)  # 150 copies, 0-6 bits apart
    bits = [rng.choice(64, rng.integers(0, 7), replace=False) for _ in src]
    hashes[dst] = hashes[src] ^ np.array([sum(1 << int(b) for b in bs) for bs in bits], np.uint64)
    vectors[dst] = _unit(vectors[src] + 0.02 * rng.standard_normal((len(src), 64)))  # cos ~0.99
    truth = _brute_force(hashes, vectors, 6, 0.9)
    assert len(truth) >= 150

    a, b = similar_pairs(hashes, vectors.astype(np.float16), 6, 0.9, exact_limit=100)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    assert found <= truth  # no pair that fails either condition
    assert len(found) >= 0.98 * len(truth)
    exact = similar_pairs(hashes, vectors, 6, 0.9)  # below EXACT_LIMIT: every pair
    assert set(zip(exact[0].tolist(), exact[1].tolist(), strict=True)) == truth


def _straddling(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters and, at the end, a pair of near-identical photos halfway between them,
    one a little nearer each."""
    centres = _unit(rng.standard_normal((2, 64)))
    vectors = _unit(centres[np.arange(2000) % 2] + 0.05 * rng.standard_normal((2000, 64)))
    middle = centres[0] + centres[1]
    pair = _unit(np.stack([middle + 0.004 * centres[0], middle + 0.004 * centres[1]]))
    hashes = rng.integers(0, 2**64, 2002, dtype=np.uint64)
    hashes[2001] = hashes[2000] ^ np.uint64(0b101)
    return np.concatenate([vectors, pair]), hashes


def test_a_pair_straddling_two_cells_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, hashes = _straddling(np.random.default_rng(1))
    rows, cells, count = embedding_cells(vectors, 2)
    primary = cells[: len(vectors)]
    assert count == 2 and primary[2000] != primary[2001]  # nearest cells differ
    assert {2000, 2001} <= set(rows[len(vectors) :].tolist())  # both also listed under the other
    a, b = similar_pairs(hashes, vectors, 6, 0.9, exact_limit=100)
    assert (2000, 2001) in set(zip(a.tolist(), b.tolist(), strict=True))

    monkeypatch.setattr(duplicates, "_MARGIN", 0.0)  # each listed under its nearest only
    a, b = similar_pairs(hashes, vectors, 6, 0.9, exact_limit=100)
    assert (2000, 2001) not in set(zip(a.tolist(), b.tolist(), strict=True))


@pytest.mark.parametrize("k", [0, 3, 6])
def test_close_hashes_within_cells_are_exactly_the_close_pairs_of_one_cell(k: int) -> None:
    rng = np.random.default_rng(k)
    base = rng.integers(0, 2**64, 400, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, 400).astype(np.uint64)
    hashes = np.concatenate([base, base ^ flips, base])
    cells = rng.integers(0, 3, len(hashes))
    a, b = _close_hashes(hashes, k, cells, 3)
    i, j = np.triu_indices(len(hashes), 1)
    keep = (hamming(hashes[i], hashes[j]) <= k) & (cells[i] == cells[j])
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == sorted(
        zip(i[keep].tolist(), j[keep].tolist(), strict=True)
    )


def test_find_duplicates_reads_mapped_float16_rows(tmp_path: Path) -> None:
    vectors, hashes = _straddling(np.random.default_rng(2))
    np.save(tmp_path / "m.npy", vectors.astype(np.float16))
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")  # read-only: never copied whole
    photos = [
        Photo(Path(f"{i:05d}.jpg"), f"k{i}", 100, i, ImageInfo(10, 10, "JPEG", int(h)))
        for i, h in enumerate(hashes.tolist())
    ]
    copy = Photo(Path("copy.jpg"), "k2000", 100, 0, photos[2000].info)  # same bytes as 2000
    groups = find_duplicates([*photos, copy], np.concatenate([mapped, mapped[2000:2001]]))
    assert [set(g.paths) for g in groups] == [{Path("02000.jpg"), Path("02001.jpg"), copy.path}]
    assert find_duplicates(photos, mapped) == find_duplicates(photos, vectors)
