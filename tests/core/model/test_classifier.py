import numpy as np

from photosorter.core.model.classifier import CategoryMatrix, classify
from photosorter.core.model.engine import ScoringParams


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


MATRIX = CategoryMatrix(
    prompts=unit([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1]]),
    owner=np.array([0, 1, 1, 2]),
    names=("x", "y", "z"),
)


def test_softmax_picks_best_category_with_max_over_prompts() -> None:
    emb = unit([[0.9, 0.1, 0], [0, 0.8, 0.2], [0.1, 0, 1]])
    found = classify(emb, MATRIX, ScoringParams(100.0, None))
    assert found.index.tolist() == [0, 1, 2]
    assert np.all(found.score > 0.5) and np.all(found.score <= 1)


def test_threshold_and_margin_send_weak_matches_to_uncategorized() -> None:
    emb = unit([[1, 1, 0], [1, 0, 0]])
    found = classify(emb, MATRIX, ScoringParams(10.0, None), threshold=0.6)
    assert found.index.tolist() == [-1, 0]
    found = classify(emb, MATRIX, ScoringParams(10.0, None), margin=0.2)
    assert found.index[0] == -1


def test_sigmoid_scores_for_siglip() -> None:
    emb = unit([[1, 0, 0]])
    found = classify(emb, MATRIX, ScoringParams(10.0, -10.0))
    assert found.index[0] == 0
    assert abs(found.score[0] - 0.5) < 1e-5  # sigmoid(10 * 1 - 10)


def test_empty_inputs() -> None:
    found = classify(np.zeros((0, 3), np.float32), MATRIX, ScoringParams(100.0, None))
    assert len(found.index) == 0
