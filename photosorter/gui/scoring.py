"""What placing photos needs (`Scoring`), placing them (`place`, and `placement` on the
worker), and the scoring for edited categories when no model is needed (`derive_scoring`).

Qt-free, like the result set that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from photosorter.core.categories import CategorySet
from photosorter.core.model.classifier import (
    DEFAULT_MIN_FIT,
    Assignments,
    CategoryMatrix,
    Examples,
    classify,
    with_examples,
)
from photosorter.core.model.engine import ScoringParams


@dataclass(frozen=True)
class Scoring:
    """What placing photos needs: the zero-shot category matrix, the model's logit scale,
    the categories file's example photos (rows owned by category index), options."""

    categories: CategorySet
    matrix: CategoryMatrix
    params: ScoringParams
    threshold: float = 0.0  # a minimum score from the settings; 0: the categories file's
    min_fit: float = DEFAULT_MIN_FIT
    file_examples: Examples = field(default_factory=Examples.none)
    model_id: str = ""  # whose embeddings these are (the store's overrides are looked up by it)

    @property
    def names(self) -> tuple[str, ...]:
        return self.matrix.names


@dataclass(frozen=True)
class Placement:
    """Where the model places the rows of `vectors` under a scoring (its threshold, min_fit
    and examples as given): worked out on the worker, so that the GUI thread only takes
    the columns of a million photos in."""

    vectors: np.ndarray  # the matrix placed (the result set takes it over as it is)
    threshold: float
    min_fit: float
    examples: Examples
    found: Assignments  # row i: vectors[i]'s category index, score and margin

    def fits(self, scoring: Scoring, examples: Examples, vectors: np.ndarray) -> bool:
        """Whether placing `vectors` with `scoring` and `examples` gives this."""
        return (
            vectors is self.vectors
            and (scoring.threshold, scoring.min_fit) == (self.threshold, self.min_fit)
            and same(examples.owner, self.examples.owner)
            and same(examples.vectors, self.examples.vectors)
        )


def place(
    vectors: np.ndarray, bounds: np.ndarray, scoring: Scoring, matrix: CategoryMatrix
) -> Assignments:
    """Where the model places each of `vectors` (their vocabulary `bounds` known), by
    `matrix`: `scoring`'s adapted to the examples."""
    threshold = scoring.threshold or scoring.categories.threshold
    return classify(
        vectors, matrix, scoring.params, threshold, scoring.categories.margin,
        min_fit=scoring.min_fit, bounds=bounds,
    )  # fmt: skip


def placement(
    scoring: Scoring, corrections: Examples, vectors: np.ndarray, bounds: np.ndarray
) -> Placement:
    """Place the rows of `vectors` that have `bounds` (spare rows after them are not) as a
    result set with `scoring` and the user's `corrections` would (the worker does it
    before the scoring is sent)."""
    examples = scoring.file_examples + corrections
    matrix = with_examples(scoring.matrix, examples, scoring.params)
    found = place(vectors[: len(bounds)], bounds, scoring, matrix)
    return Placement(vectors, scoring.threshold, scoring.min_fit, examples, found)


def same(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Whether `a` is `b` or holds the same values."""
    return a is b or (a is not None and a.shape == b.shape and np.array_equal(a, b))


def derive_scoring(scoring: Scoring, categories: CategorySet) -> Scoring | None:
    """`scoring` for `categories` when neither a prompt nor an example file is new (a rename,
    delete or reorder: no model needed), else None."""
    matrix = derive_matrix(scoring, categories)
    examples = _derive_examples(scoring, categories)
    if matrix is None or examples is None:
        return None
    return replace(scoring, categories=categories, matrix=matrix, file_examples=examples)


def _derive_examples(scoring: Scoring, categories: CategorySet) -> Examples | None:
    """The categories file's example rows, each following its category to its new index."""
    found = scoring.file_examples
    rows_of = {
        cat.examples: found.vectors[found.owner == k]
        for k, cat in enumerate(scoring.categories.categories)
        if cat.examples
    }
    derived = Examples.none()
    for k, cat in enumerate(categories.categories):
        if not cat.examples:
            continue
        rows = rows_of.get(cat.examples)
        if rows is None:
            return None
        derived = derived + Examples(rows, np.full(len(rows), k, dtype=np.int64))
    return derived


def derive_matrix(scoring: Scoring, categories: CategorySet) -> CategoryMatrix | None:
    """The matrix for `categories` from `scoring`'s rows when no prompt is new, else None.

    Renaming, deleting or reordering categories needs no model: each category keeps the
    prompt rows it had. A new or edited prompt needs the text encoder (the worker).
    """
    old = scoring.categories
    if categories.templates != old.templates:
        return None
    rows_of: dict[tuple[str, ...], np.ndarray] = {}
    for k, cat in enumerate(old.categories):
        rows_of.setdefault(cat.prompts, scoring.matrix.prompts[scoring.matrix.owner == k])
    prompts, owner = [], []
    for k, cat in enumerate(categories.categories):
        rows = rows_of.get(cat.prompts)
        if rows is None:
            return None
        prompts.append(rows)
        owner.append(np.full(len(rows), k, dtype=np.int64))
    if not prompts:
        dim = scoring.matrix.prompts.shape[-1] if scoring.matrix.prompts.ndim == 2 else 0
        empty = np.zeros((0, dim), dtype=np.float32)
        return replace(scoring.matrix, prompts=empty, owner=np.zeros(0, dtype=np.int64), names=())
    return replace(
        scoring.matrix,
        prompts=np.concatenate(prompts).astype(np.float32),
        owner=np.concatenate(owner),
        names=tuple(categories.names),
    )
