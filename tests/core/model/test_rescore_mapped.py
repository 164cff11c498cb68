"""Re-scoring a mapped float16 matrix a chunk at a time gives the unchunked float32 result."""

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.library import products
from photosorter.core.library.cache import Store
from photosorter.core.library.matrix import open_matrix
from photosorter.core.model.classifier import CategoryMatrix, classify, vocabulary_bounds
from photosorter.core.model.engine import ScoringParams


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("params", [ScoringParams(100.0, None), ScoringParams(10.0, -5.0)])
@pytest.mark.parametrize("block", [96, 10**6])  # 11 blocks on two workers (torch) / one (numpy)
def test_blockwise_rescoring_of_the_mapped_matrix_matches_the_whole_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: ScoringParams, block: int
) -> None:
    rng = np.random.default_rng(0)
    photos = _unit(rng.standard_normal((1000, 32)))
    matrix = CategoryMatrix(
        prompts=_unit(rng.standard_normal((7, 32))),
        owner=np.array([0, 0, 1, 2, 3, 3, 4]),  # two categories with two prompts each
        names=tuple("abcde"),
        vocabulary=_unit(rng.standard_normal((40, 32))),
    )
    with Store(tmp_path / "s.db") as store:
        store.put_embeddings("m", [(f"{i:032x}", v) for i, v in enumerate(photos)])
        mapped = open_matrix(store, "m").vectors
        whole = np.asarray(mapped, dtype=np.float32)  # the same float16 values, unchunked
        expected = classify(whole, matrix, params, 0.1, 0.01, min_fit=0.5)
        monkeypatch.setattr(products, "BLOCK", block)  # the last block short
        monkeypatch.setattr(products, "_PIECE", 40)  # three pieces a block, the last short
        monkeypatch.setattr(products, "_cores", lambda: 2)
        monkeypatch.setattr(products, "_torch_pays", lambda _values: True)
        found = classify(mapped, matrix, params, 0.1, 0.01, min_fit=0.5)
        bounds = vocabulary_bounds(mapped, matrix)
    assert mapped.dtype == np.float16
    assert len(set(expected.index.tolist())) > 3  # a real mix of categories and Uncategorized
    np.testing.assert_array_equal(found.index, expected.index)
    for name in ("score", "margin", "fit"):  # float32 products, summed in another order
        np.testing.assert_allclose(getattr(found, name), getattr(expected, name), atol=2e-5)
    np.testing.assert_allclose(bounds, vocabulary_bounds(whole, matrix), atol=1e-6)


@pytest.mark.parametrize("block", [64, 10**6])  # on workers / in one numpy block
def test_classify_agrees_with_a_plain_softmax_and_picks_the_first_of_tied_categories(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(products, "BLOCK", block)
    monkeypatch.setattr(products, "_cores", lambda: 2)
    monkeypatch.setattr(products, "_torch_pays", lambda _values: True)
    rng = np.random.default_rng(1)
    # quarters: every product and partial sum is exact, so a tie is a tie in any BLAS
    photos = rng.integers(-2, 3, (500, 16)).astype(np.float32) / 4
    prompts = rng.integers(-2, 3, (6, 16)).astype(np.float32) / 4
    prompts[4] = prompts[1]  # categories 1 and 4 are the same words: ties
    matrix = CategoryMatrix(prompts, np.arange(6), tuple("abcdef"))
    found = classify(photos, matrix, ScoringParams(0.5, None), min_fit=0.0)
    logits = 0.5 * (photos.astype(np.float64) @ prompts.T.astype(np.float64))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    ranked = np.sort(probs, axis=1)
    np.testing.assert_array_equal(found.index, probs.argmax(axis=1))  # argmax: the first
    assert not np.any(found.index == 4) and np.any(found.index == 1)
    np.testing.assert_allclose(found.score, ranked[:, -1], rtol=1e-4)
    np.testing.assert_allclose(found.margin, ranked[:, -1] - ranked[:, -2], atol=1e-5)
    assert np.all(found.margin[found.index == 1] < 1e-6)  # tied with category 4
