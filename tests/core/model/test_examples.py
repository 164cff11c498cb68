"""Examples, open-set rejection and the review order (fast: synthetic vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.categories import load_categories
from photosorter.core.errors import ConfigError
from photosorter.core.model.classifier import (
    CategoryMatrix,
    Examples,
    classify,
    review_order,
    with_examples,
)
from photosorter.core.model.engine import ScoringParams

PARAMS = ScoringParams(50.0, None)


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_zero_examples_is_exactly_zero_shot() -> None:
    rng = np.random.default_rng(0)
    matrix = CategoryMatrix(unit(rng.standard_normal((5, 16))), np.arange(5), tuple("abcde"))
    emb = unit(rng.standard_normal((300, 16)))
    plain = classify(emb, matrix, PARAMS)
    adapted = classify(emb, with_examples(matrix, Examples.none(), PARAMS), PARAMS)
    for a, b in zip(vars(plain).values(), vars(adapted).values(), strict=True):
        assert np.array_equal(a, b)


def test_examples_teach_a_category_its_prompt_cannot() -> None:
    """Prompt 'x' says nothing about the photos; examples of 'y' photos do."""
    d = np.eye(4, dtype=np.float32)
    matrix = CategoryMatrix(unit([d[0], d[1] + d[2]]), np.arange(2), ("x", "y"))
    photos = unit([d[1] + 0.9 * d[3], d[2] + 0.9 * d[3]])  # both are "y" by the examples
    assert classify(photos, matrix, PARAMS, min_fit=0).index.tolist() != [0, 0]
    examples = Examples(unit([d[3] + 0.1 * d[1], d[3] + 0.1 * d[2]]), np.array([0, 0]))
    found = classify(photos, with_examples(matrix, examples, PARAMS), PARAMS, min_fit=0)
    assert found.index.tolist() == [0, 0]


def test_example_only_category_and_vocabulary_rejection() -> None:
    d = np.eye(6, dtype=np.float32)
    matrix = CategoryMatrix(
        unit([d[0]]), np.array([0]), ("red", "Zoe"), vocabulary=unit([d[0], d[4], d[5]])
    )
    photos = unit([d[0] + 0.3 * d[1], d[2] + 0.2 * d[4], d[4] + 0.2 * d[1]])
    # without examples, Zoe has nothing to go on; the d[4] photo fits a vocabulary word
    found = classify(photos, matrix, PARAMS)
    assert found.index.tolist() == [0, -1, -1]
    assert found.fit[2] < 0.5 < found.fit[0]
    examples = Examples(unit([d[2] + 0.1 * d[3], d[2] - 0.1 * d[3]]), np.array([1, 1]))
    found = classify(photos, with_examples(matrix, examples, PARAMS), PARAMS)
    assert found.index.tolist() == [0, 1, -1]


def test_review_order_is_least_sure_first() -> None:
    matrix = CategoryMatrix(unit(np.eye(3)), np.arange(3), ("a", "b", "c"))
    photos = unit([[1, 0.9, 0], [1, 0, 0], [0, 1, 0.99], [0, 0, 1]])
    found = classify(photos, matrix, ScoringParams(10.0, None), min_fit=0)
    order = review_order(found)
    assert order.tolist() == [2, 0, 1, 3]
    assert np.all(np.diff(found.margin[order]) >= 0)


def test_examples_key_files_folders_and_examples_only(tmp_path: Path) -> None:
    (tmp_path / "ex" / "zoe").mkdir(parents=True)
    (tmp_path / "ex" / "zoe-1.jpg").write_bytes(b"x")
    path = tmp_path / "cats.toml"
    path.write_text(
        '[[category]]\nname = "Zoe"\nexamples = ["ex/zoe-1.jpg", "ex/zoe/"]\n\n'
        '[[category]]\nname = "Dogs"\nprompts = ["a dog"]\nexamples = "ex/zoe"\n\n'
        '[[category]]\nname = "red"\n'
    )
    cats = load_categories(path)
    zoe, dogs, red = cats.categories
    assert zoe.prompts == () and zoe.examples == (tmp_path / "ex/zoe-1.jpg", tmp_path / "ex/zoe")
    assert zoe.line == 1 and dogs.line == 5
    assert dogs.prompts == ("a dog",) and red.prompts == ("red",) and red.examples == ()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [('examples = ["nope.jpg"]', "example 'nope.jpg' not found"), ("examples = [1]", "list")],
)
def test_bad_examples_key_names_file_and_line(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "cats.toml"
    path.write_text(f'[[category]]\nname = "a"\n\n[[category]]\nname = "b"\n{entry}\n')
    with pytest.raises(ConfigError, match=f"line 4: .*{problem}"):
        load_categories(path)
