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


def test_a_search_of_some_rows_finds_the_exact_top_results_among_them(tmp_path: Path) -> None:
    vectors = _clustered(5000, 7)
    rng = np.random.default_rng(8)
    queries = _unit(vectors[::500] + 0.05 * rng.standard_normal((10, 32)))
    with _store(tmp_path, vectors) as store:
        matrix = open_matrix(store, "m")
        for share in (0.5, 0.01):  # a part of the store; a few photos scattered over it
            rows = np.sort(rng.choice(5000, int(5000 * share), replace=False))
            for q in queries:
                exact = rank(vectors[rows], q, 20)
                found = ann.search(matrix, q, 20, rows=rows, exact_limit=10)
                assert set(found.index) <= set(rows.tolist())
                assert len(found) == 20  # lists probed on until enough of the rows were in
                assert found.index[0] == rows[exact.index[0]]
                assert len(set(found.index) & set(rows[exact.index])) >= 19
            below = ann.search(matrix, queries[0], 20, rows=rows, exact_limit=len(rows))
            assert below.index.tolist() == rows[rank(vectors[rows], queries[0], 20).index].tolist()


def test_an_index_build_reports_its_progress(tmp_path: Path) -> None:
    seen = []
    with _store(tmp_path, _clustered(3000, 9)) as store:
        matrix = open_matrix(store, "m")
        ann.search(matrix, _clustered(1, 10)[0], 5, exact_limit=100, on_progress=seen.append)
        assert seen[0].done == 0 and seen[-1].done == seen[-1].total > 3000
        assert [p.done for p in seen] == sorted(p.done for p in seen)
        seen.clear()
        ann.search(matrix, _clustered(1, 10)[0], 5, exact_limit=100, on_progress=seen.append)
    assert seen == []  # the saved index, reused
