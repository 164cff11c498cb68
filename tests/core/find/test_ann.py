"""Search past a size threshold: inverted lists over the mapped matrix, exact below it."""

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.find import ann
from photosorter.core.find.search import rank
from photosorter.core.library.cache import Store
from photosorter.core.library.matrix import open_matrix


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _clustered(n: int, seed: int, dim: int = 32, clusters: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((clusters, dim)))
    return _unit(centres[rng.integers(0, clusters, n)] + 0.15 * rng.standard_normal((n, dim)))


def _store(tmp_path: Path, vectors: np.ndarray) -> Store:
    store = Store(tmp_path / "s.db")
    store.put_embeddings("m", [(f"{i:032x}", v) for i, v in enumerate(vectors)])
    return store


def test_past_the_threshold_the_index_finds_the_exact_top_results(tmp_path: Path) -> None:
    vectors = _clustered(5000, 1)
    queries = _unit(vectors[::250] + 0.05 * np.random.default_rng(2).standard_normal((20, 32)))
    with _store(tmp_path, vectors) as store:
        matrix = open_matrix(store, "m")
        overlap = []
        for q in queries:
            exact = rank(matrix.vectors, q, 20)
            found = ann.search(matrix, q, 20, exact_limit=1000)
            assert found.score[0] == pytest.approx(exact.score[0])
            overlap.append(len(set(found.index) & set(exact.index)) / 20)
    assert (matrix.folder / "ivf.npz").exists()
    assert np.mean(overlap) >= 0.95


def test_below_the_threshold_search_is_exact_and_builds_nothing(tmp_path: Path) -> None:
    vectors = _clustered(5000, 3)
    with _store(tmp_path, vectors) as store:
        matrix = open_matrix(store, "m")
        found = ann.search(matrix, vectors[17], 20, exact_limit=5000)
        assert found.index.tolist() == rank(matrix.vectors, vectors[17], 20).index.tolist()
    assert not (matrix.folder / "ivf.npz").exists()


def test_added_photos_are_found_at_once_and_listed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "_TAIL_LIMIT", 100)
    vectors = _clustered(5000, 4)
    with _store(tmp_path, vectors) as store:
        first = ann.open_index(open_matrix(store, "m"))
        added = _clustered(50, 5)
        store.put_embeddings("m", [(f"new{i:029x}", v) for i, v in enumerate(added)])
        matrix = open_matrix(store, "m")
        found = ann.search(matrix, added[7], 1, exact_limit=1000)
        assert matrix.hashes(found.index) == [f"new{7:029x}"]  # an unlisted row, scanned
        assert ann.open_index(matrix).covered == first.covered == 5000  # 50: not yet listed
        more = _clustered(100, 6)
        store.put_embeddings("m", [(f"more{i:028x}", v) for i, v in enumerate(more)])
        index = ann.open_index(open_matrix(store, "m"))
        assert index.covered == 5150
        np.testing.assert_array_equal(index.centroids, first.centroids)  # extended, not relearnt
        assert sorted(index.order.tolist()) == list(range(5150))
