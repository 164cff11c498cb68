"""ResultSet and PhotoModel: placement, overrides, derived matrices, filter and sort."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.categories import UNCATEGORIZED, Category, CategorySet
from photosorter.core.library.pipeline import IndexBatch, PhotoResult, Progress
from photosorter.core.model.classifier import CategoryMatrix, Examples
from photosorter.core.model.engine import ScoringParams
from photosorter.gui.photo_model import PhotoModel, ScoreRole, SortMode
from photosorter.gui.results import ERROR_INDEX, ResultSet
from photosorter.gui.scoring import Scoring, derive_matrix, derive_scoring

CATS = CategorySet((Category("A", ("a",)), Category("B", ("b", "bee"))))


def scoring() -> Scoring:
    prompts = np.eye(3, 4, dtype=np.float32)  # A: e0; B: e1 and e2
    matrix = CategoryMatrix(prompts, np.array([0, 1, 1]), ("A", "B"))
    return Scoring(CATS, matrix, ScoringParams(100.0, None))


def batch(n: int, start: int = 0, errors: int = 0, spread: bool = False) -> IndexBatch:
    ok = [PhotoResult(Path(f"/p/img{start + i:03d}.jpg"), f"k{start + i}") for i in range(n)]
    bad = [PhotoResult(Path(f"/p/bad{i}.jpg"), error="broken") for i in range(errors)]
    vectors = np.zeros((n, 4), dtype=np.float32)
    vectors[np.arange(n), np.arange(n) % 3] = 1.0  # rows alternate e0, e1, e2
    if spread:  # a runner-up of varying strength: each photo its own confidence, in no
        idx = start + np.arange(n)  # relation to its name
        runner_up = np.where(idx % 3 == 0, 1, 0)  # B for the A photos, A for the B ones
        vectors[np.arange(n), runner_up] = 0.9 + 0.09 * ((idx * 7) % 12) / 12
    return IndexBatch(bad + ok, vectors, Progress(n, n, 0, errors, 0.1), ok=ok)


def test_placement_errors_and_counts():
    results = ResultSet()
    results.set_scoring(scoring())
    rows = results.add_batch(batch(6, errors=1))
    assert list(rows) == list(range(7))
    assert results.category_index[0] == ERROR_INDEX
    assert [results.category_of(r) for r in range(1, 7)] == ["A", "B", "B", "A", "B", "B"]
    assert results.counts() == {"A": 2, "B": 4, UNCATEGORIZED: 0}
    assert results.error_count == 1
    assert len(results.placed_items()) == 6


def test_threshold_sends_weak_matches_to_uncategorized():
    results = ResultSet()
    results.set_scoring(scoring())
    results.add_batch(batch(3))
    soft = ScoringParams(1.0, None)  # scores e / (e + 1) = 0.73 for every photo
    results.set_scoring(Scoring(CATS, scoring().matrix, soft, 0.5))
    assert results.counts()[UNCATEGORIZED] == 0
    results.set_scoring(Scoring(CATS, scoring().matrix, soft, 0.9))
    assert results.counts()[UNCATEGORIZED] == 3


def test_pins_win_and_can_be_undone():
    results = ResultSet()
    results.set_scoring(scoring())
    results.add_batch(batch(4))
    changed = results.pin(["k0"], "B")
    assert changed == [0]
    assert results.category_of(0) == "B" and results.manual[0]
    results.pin(["k1"], UNCATEGORIZED)
    assert results.category_of(1) is None and results.manual[1]
    results.rescore()
    assert results.category_of(0) == "B" and results.manual[0]
    results.pin(["k0"], None)
    assert results.category_of(0) == "A" and not results.manual[0]


def test_vectors_grow_across_many_batches():
    results = ResultSet()
    results.set_scoring(scoring())
    for i in range(10):
        results.add_batch(batch(50, start=i * 50))
    assert len(results) == 500
    assert sum(results.counts().values()) == 500
    results.rename_paths({Path("/p/img000.jpg"): Path("/q/img000.jpg")})
    assert results.paths[0] == Path("/q/img000.jpg")


def test_derive_matrix_for_rename_delete_reorder_but_not_new_prompts():
    base = scoring()
    renamed = CategorySet((Category("Bees", ("b", "bee")), Category("A", ("a",))))
    matrix = derive_matrix(base, renamed)
    assert matrix is not None and matrix.names == ("Bees", "A")
    assert matrix.owner.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(matrix.prompts[2], base.matrix.prompts[0])
    assert derive_matrix(base, CategorySet((Category("C", ("sea",)),))) is None
    empty = derive_matrix(base, CategorySet(()))
    assert empty is not None and empty.size == 0


@pytest.mark.parametrize("mode", [SortMode.CONFIDENCE, SortMode.NAME])
def test_photo_model_filters_and_sorts(qtmodeltester, mode):
    results = ResultSet()
    results.set_scoring(scoring())
    model = PhotoModel(results)
    results.add_batch(batch(6, spread=True))
    model.set_sort(mode)
    model.refresh()
    assert model.rowCount() == 6
    model.set_category("B")
    assert model.rowCount() == 4
    # Rows arriving later are inserted where the order puts them.
    model.rows_added(results.add_batch(batch(6, start=6, spread=True)))
    names = [model.index(r).data() for r in range(model.rowCount())]
    scores = [model.data(model.index(r), ScoreRole) for r in range(model.rowCount())]
    assert len(names) == 8
    assert len(set(scores)) == 8  # no ties: a flipped order cannot pass
    if mode is SortMode.NAME:
        assert names == sorted(names) and scores != sorted(scores, reverse=True)
    else:
        assert scores == sorted(scores, reverse=True) and names != sorted(names)
    qtmodeltester.check(model, force_py=True)


def vocabulary_scoring(vocabulary: np.ndarray, **changes) -> Scoring:
    base = scoring()
    return replace(base, matrix=replace(base.matrix, vocabulary=vocabulary), **changes)


def test_vocabulary_bounds_are_computed_once_per_photo_and_model(monkeypatch):
    """A re-score (new examples, categories, options) reuses each photo's bounds; only new
    photos, or a new model's vocabulary, compute them."""
    from photosorter.gui import results as results_module

    computed: list[int] = []
    real = results_module.vocabulary_bounds
    monkeypatch.setattr(
        results_module,
        "vocabulary_bounds",
        lambda emb, matrix: computed.append(len(emb)) or real(emb, matrix),
    )
    vocab = np.eye(4, dtype=np.float32)[[3]]
    results = ResultSet()
    results.set_scoring(vocabulary_scoring(vocab))
    results.add_batch(batch(6))
    results.add_batch(batch(4, start=6))
    assert computed == [6, 4]
    a_photo = Examples(np.eye(4, dtype=np.float32)[[1]], np.array([0]))
    results.set_scoring(vocabulary_scoring(vocab.copy(), min_fit=0.5), a_photo)
    results.pin(["k0"], "B")
    results.set_scoring(results.scoring)
    assert computed == [6, 4]
    assert results.example_counts() == {"A": 1, "B": 0}
    results.set_scoring(vocabulary_scoring(np.eye(4, dtype=np.float32)[[2]]))  # a new model
    assert computed == [6, 4, 10]


def test_examples_relearn_and_follow_renamed_categories():
    results = ResultSet()
    results.set_scoring(scoring())
    results.add_batch(batch(3))  # e0 (A), e1 (B), e2 (B)
    assert [results.category_of(r) for r in range(3)] == ["A", "B", "B"]
    # Photos like e2 are A, says an example: the e2 photo follows, the others stay.
    e2 = Examples(np.eye(4, dtype=np.float32)[[2]], np.array([0]))
    results.set_scoring(results.scoring, e2)
    assert [results.category_of(r) for r in range(3)] == ["A", "B", "A"]
    results.set_scoring(results.scoring, Examples.none())
    assert [results.category_of(r) for r in range(3)] == ["A", "B", "B"]

    # A file example follows its category through a rename and reorder (no model needed).
    cats = CategorySet(
        (Category("A", ("a",), examples=(Path("/ex/a"),)), Category("B", ("b", "bee")))
    )
    base = replace(scoring(), categories=cats, file_examples=e2)
    base = replace(base, matrix=replace(base.matrix, vocabulary=np.eye(4, dtype=np.float32)[:1]))
    renamed = CategorySet((cats.categories[1], replace(cats.categories[0], name="Aye")))
    derived = derive_scoring(base, renamed)
    assert derived is not None and derived.names == ("B", "Aye")
    assert derived.file_examples.owner.tolist() == [1]
    np.testing.assert_array_equal(derived.matrix.vocabulary, base.matrix.vocabulary)
    new_example = CategorySet((replace(cats.categories[0], examples=(Path("/ex/new"),)),))
    assert derive_scoring(base, new_example) is None  # its photos must be indexed first


def test_review_rows_least_sure_first_without_manual_or_uncategorized():
    results = ResultSet()
    results.set_scoring(scoring())
    results.add_batch(batch(12, spread=True, errors=1))
    results.pin(["k3"], "A")
    rows = results.review_rows()
    assert 0 not in rows and 4 not in rows  # the error row; the pinned photo (k3)
    assert len(rows) == 11 and np.all(results.category_index[rows] >= 0)
    assert np.all(np.diff(results.margins[rows]) > 0)
    model = PhotoModel(results)
    model.set_category(None, review=True)
    assert [model.result_row(model.index(r)) for r in range(model.rowCount())] == rows.tolist()


def test_ranked_lists_rows_with_an_embedding_best_first_ties_by_row():
    results = ResultSet()
    results.set_scoring(scoring())
    results.add_batch(batch(6, errors=1))  # row 0 failed; rows 1-6 alternate e0, e1, e2
    results.forget(["/p/img003.jpg"])  # row 4 (e0) deleted: no longer ranked
    rows, scores = results.ranked(np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32))
    assert rows.tolist() == [2, 5, 1, 3, 6]
    np.testing.assert_allclose(scores, [0.8, 0.8, 0.6, 0.0, 0.0])
