"""Image embeddings + category prompts (+ example photos) -> assignments.

Each prompt's text embedding is the normalised mean over the template ensemble. A
category's similarity to a photo is the best of its prompts (so "beach" OR "sea" both
count), and scores are softmax over categories (CLIP) or sigmoid with the model's bias
(SigLIP). Weak, ambiguous or ill-fitting matches go to Uncategorized (index -1).

"None of these" is decided from what the softmax throws away: how well the best category
fits the photo compared with the best of a broad vocabulary of everyday concepts, on the
scale of that photo's own similarities (see `classify`). Example photos (from the
categories file and the user's manual overrides) adapt the prompt matrix with a linear
probe that starts at the zero-shot weights (see `with_examples`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np

from photosorter.core.categories import CategorySet
from photosorter.core.library.cache import Store
from photosorter.core.library.products import blocks
from photosorter.core.model import DEFAULT_MIN_FIT
from photosorter.core.model.engine import Engine, ScoringParams
from photosorter.core.model.vocabulary import VOCABULARY, VOCABULARY_TEMPLATE

UNCATEGORIZED_INDEX = -1
_PROBE_STEPS = 100  # full-batch gradient steps: deterministic, milliseconds on a CPU
_PROBE_RATE = 1.0
_PROBE_PULL = 1e-3  # weight decay toward the zero-shot rows


def _empty_rows() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class CategoryMatrix:
    """Prompt rows (P, D), the category (0..K-1) each row belongs to, and the vocabulary.

    A category with no row (examples only, none loaded) is never chosen. `vocabulary`
    (V, D) holds the everyday concepts a photo's fit is measured against; empty: no check.
    `levels` (K,), set from example photos: the similarity a matching photo reaches
    (inf where no example says so).
    """

    prompts: np.ndarray
    owner: np.ndarray
    names: tuple[str, ...]
    vocabulary: np.ndarray = field(default_factory=_empty_rows)
    levels: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Assignments:
    """Per photo: category index (-1 = Uncategorized), its score, best minus runner-up,
    and how well the best category fits (1 = as well as the best word the model knows)."""

    index: np.ndarray
    score: np.ndarray
    margin: np.ndarray
    fit: np.ndarray


@dataclass(frozen=True)
class Examples:
    """Example photos: embeddings (M, D) and the category index (0..K-1) of each row."""

    vectors: np.ndarray
    owner: np.ndarray

    def __len__(self) -> int:
        return len(self.owner)

    @classmethod
    def none(cls) -> Examples:
        return cls(_empty_rows(), np.zeros(0, dtype=np.int64))

    def __add__(self, other: Examples) -> Examples:
        if not len(other):
            return self
        if not len(self):
            return other
        return Examples(
            np.vstack([self.vectors, other.vectors]), np.hstack([self.owner, other.owner])
        )


def text_embeddings(engine: Engine, store: Store | None, texts: list[str]) -> dict[str, np.ndarray]:
    """Embeddings for `texts`, encoding only those not cached for this model."""
    found = store.get_text_embeddings(engine.model_id, texts) if store else {}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        vecs = engine.encode_texts(missing)
        new = dict(zip(missing, vecs, strict=True))
        if store:
            store.put_text_embeddings(engine.model_id, new.items())
        found.update(new)
    return found


def build_matrix(
    engine: Engine, store: Store | None, categories: CategorySet, *, vocabulary: bool = True
) -> CategoryMatrix:
    """The category matrix for `categories`; text embeddings are computed once per model."""
    texts = [t for c in categories.categories for t in categories.expanded_prompts(c)]
    words = [VOCABULARY_TEMPLATE.format(w) for w in VOCABULARY] if vocabulary else []
    vectors = text_embeddings(engine, store, texts + words)
    rows, owner = [], []
    per_prompt = len(categories.templates)
    for k, cat in enumerate(categories.categories):
        expanded = categories.expanded_prompts(cat)
        for i in range(0, len(expanded), per_prompt):
            mean = np.mean([vectors[t] for t in expanded[i : i + per_prompt]], axis=0)
            rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            owner.append(k)
    dim = len(next(iter(vectors.values()))) if vectors else 0
    return CategoryMatrix(
        prompts=np.asarray(rows, dtype=np.float32).reshape(len(rows), dim),
        owner=np.asarray(owner, dtype=np.int64),
        names=tuple(categories.names),
        vocabulary=np.asarray([vectors[w] for w in words], dtype=np.float32).reshape(-1, dim),
    )


def vocabulary_bounds(embeddings: np.ndarray, matrix: CategoryMatrix) -> np.ndarray:
    """Per photo (N, 2): its lowest and highest similarity to the vocabulary.

    They do not depend on the categories, so a caller that re-scores the same photos
    often (the GUI) computes them once and passes them to `classify`.
    """
    out = np.empty((len(embeddings), 2), dtype=np.float32)
    out[:, 0], out[:, 1] = np.inf, -np.inf
    if len(matrix.vocabulary):
        found = blocks(embeddings, matrix.vocabulary)
        xp = found.xp
        for start, sims in found:
            sl = slice(start, start + sims.shape[1])
            out[sl, 0] = found.numpy(xp.amin(sims, 0))
            out[sl, 1] = found.numpy(xp.amax(sims, 0))
    return out


def classify(
    embeddings: np.ndarray,
    matrix: CategoryMatrix,
    params: ScoringParams,
    threshold: float = 0.0,
    margin: float = 0.0,
    *,
    min_fit: float = DEFAULT_MIN_FIT,
    bounds: np.ndarray | None = None,
) -> Assignments:
    """Assign each row of `embeddings` (N, D), L2-normalised, to a category. float16 rows
    (a mapped EmbeddingMatrix) are read a block at a time: 10M photos need no 20 GB copy.

    A photo's fit to its best category is (best - low) / (high - low), with low and high
    its lowest and highest similarity to the vocabulary and the categories: 1 when no word
    describes it better, near 0 when the categories describe it as badly as unrelated
    words. Where example photos set the category's level, high is at most that level (a
    photo as close as its examples fits, whatever word describes it better). Being
    relative to each photo's own similarities, it needs no absolute level, which differs
    per model (CLIP, SigLIP, the tiny test model). Below `min_fit`, or
    below the score `threshold` or the `margin` to the runner-up: Uncategorized.

    Only the best and the runner-up probability are needed, so no full probability matrix
    is kept: per block of photos (products.py: numpy, or torch for big libraries), one
    product, a best column and one exp pass (10M photos x 20 categories: README).
    """
    n = len(embeddings)
    index = np.full(n, UNCATEGORIZED_INDEX, dtype=np.int64)
    score = np.zeros(n, dtype=np.float32)
    gap = np.zeros(n, dtype=np.float32)
    fit = np.ones(n, dtype=np.float32)
    k = matrix.size
    if n == 0 or k == 0 or not len(matrix.owner):
        return Assignments(index, score, gap, fit)
    if bounds is None:
        bounds = vocabulary_bounds(embeddings, matrix)
    found = blocks(embeddings, matrix.prompts)
    xp = found.xp
    single = np.array_equal(matrix.owner, np.arange(k))  # the common case: one row each
    columns = [found.asarray(np.flatnonzero(matrix.owner == c)) for c in range(k)]
    finite = all(len(cols) for cols in columns)  # else a category is never chosen (-inf)
    levels = found.asarray(matrix.levels) if matrix.levels is not None else None
    for start, sims in found:  # (prompts, photos of this block)
        if not single:  # a category's similarity is the best of its prompts
            sims = xp.stack([_best_of(xp, sims, cols) for cols in columns])
        sl = slice(start, start + sims.shape[1])
        best, p_top, p_second, block_fit = _score_block(
            xp, sims, found.asarray(bounds[sl]), levels, params, finite
        )
        index[sl], score[sl] = found.numpy(best), found.numpy(p_top)
        gap[sl], fit[sl] = found.numpy(p_top - p_second), found.numpy(block_fit)
    weak = (score < threshold) | (gap < margin) | (fit < min_fit)
    index[weak] = UNCATEGORIZED_INDEX
    return Assignments(index, score, gap, fit)


def _score_block(
    xp: ModuleType, sims: Any, bounds: Any, levels: Any, params: ScoringParams, finite: bool
) -> tuple[Any, Any, Any, Any]:
    """Per photo of a block of similarities (K categories, B photos), overwritten: the best
    category, its probability, the runner-up's, and the fit. Written once for numpy and
    torch (`xp`); every step is element-wise along the photos or a reduction over the K
    rows, both fast in this layout."""
    top = xp.amax(sims, 0)
    best = _first_best(xp, sims, top)
    fit = _fit(xp, top, sims, bounds, levels[best] if levels is not None else None, finite)
    photos = xp.arange(sims.shape[1])
    scale = float(params.logit_scale)
    if params.is_sigmoid:  # monotonic: the runner-up is the second-best similarity
        sims[best, photos] = -np.inf
        second = xp.amax(sims, 0) if len(sims) > 1 else xp.full_like(top, -np.inf)
        bias = float(params.logit_bias)  # type: ignore[arg-type]
        p_top = 1.0 / (1.0 + xp.exp(-(top * scale + bias)))
        return best, p_top, 1.0 / (1.0 + xp.exp(-(second * scale + bias))), fit
    # softmax; exp(0) = 1 at the best row, so p_top = 1 / sum
    sims -= top
    sims *= scale
    xp.exp(sims, out=sims)
    p_top = 1.0 / sims.sum(0)
    sims[best, photos] = 0.0
    return best, p_top, xp.amax(sims, 0) * p_top, fit


def _first_best(xp: ModuleType, sims: Any, top: Any) -> Any:
    """Per photo, the first row that reaches `top` (as argmax, which is slow over rows)."""
    best = xp.where(sims[-1] == top, len(sims) - 1, 0)
    for k in range(len(sims) - 2, -1, -1):
        best = xp.where(sims[k] == top, k, best)
    return best


def _best_of(xp: ModuleType, sims: Any, cols: Any) -> Any:
    """A category's similarity: its best row; -inf when it has none (never chosen)."""
    if not len(cols):
        return xp.full_like(sims[0], -np.inf)
    return xp.amax(sims[cols], 0)


def _fit(xp: ModuleType, top: Any, sims: Any, bounds: Any, level: Any, finite: bool) -> Any:
    """(top - low) / (high - low) over the vocabulary and the categories, per photo."""
    lowest = xp.amin(sims if finite else xp.where(xp.isfinite(sims), sims, np.inf), 0)
    low = xp.minimum(bounds[:, 0], lowest)
    high = xp.maximum(bounds[:, 1], top)
    if level is not None:
        high = xp.minimum(high, level)
    span = high - low
    return xp.where(span > 1e-6, (top - low) / span.clip(1e-6), 1.0)


def review_order(found: Assignments) -> np.ndarray:
    """Indexes of the categorised photos, least sure first (smallest margin to the
    runner-up; ties keep their order): what a "Needs review" view shows."""
    placed = np.flatnonzero(found.index != UNCATEGORIZED_INDEX)
    return placed[np.argsort(found.margin[placed], kind="stable")]


def with_examples(
    matrix: CategoryMatrix, examples: Examples, params: ScoringParams
) -> CategoryMatrix:
    """The matrix adapted to example photos; with no examples, `matrix` itself.

    A linear probe: the rows start at the zero-shot prompt embeddings (a category with
    examples only starts at its examples' mean, scaled to a prompt's typical similarity)
    and take a fixed number of full-batch gradient steps on the examples' cross-entropy,
    class-balanced, with weight decay toward the start. Prompts that already place their
    examples right barely move (good prompts are kept); made-up names learn from the
    photos. Deterministic, milliseconds for a few hundred examples.
    """
    if not len(examples) or not matrix.size:
        return matrix
    start, owner = _probe_start(matrix, examples)
    rows = _train_probe(start, owner, matrix.size, examples, float(params.logit_scale))
    return replace(
        matrix, prompts=rows, owner=owner, levels=_levels(rows, owner, matrix.size, examples)
    )


def _levels(rows: np.ndarray, owner: np.ndarray, k: int, examples: Examples) -> np.ndarray:
    """Per category: the median similarity of its examples to it (inf: no examples)."""
    sims = examples.vectors @ rows.T
    levels = np.full(k, np.inf, dtype=np.float32)
    for c in np.unique(examples.owner):
        mine = sims[examples.owner == c][:, owner == c]
        levels[c] = np.median(mine.max(axis=1))
    return levels


def _probe_start(matrix: CategoryMatrix, examples: Examples) -> tuple[np.ndarray, np.ndarray]:
    """Zero-shot rows plus one prototype row per category that has examples but no prompt."""
    x = np.asarray(examples.vectors, dtype=np.float32)
    rows, owner = [matrix.prompts.reshape(-1, x.shape[1])], [matrix.owner]
    have = set(matrix.owner.tolist())
    # a prompt's typical similarity to a photo it matches, from the examples themselves
    level = float(np.median((x @ rows[0].T).max(axis=1))) if len(rows[0]) else 1.0
    for c in sorted(set(examples.owner.tolist()) - have):
        mean = x[examples.owner == c].mean(axis=0)
        proto = mean / max(float(np.linalg.norm(mean)), 1e-12)
        own = float(np.median(x[examples.owner == c] @ proto))
        rows.append((proto * (level / max(own, 1e-6)))[None, :])
        owner.append(np.array([c], dtype=np.int64))
    return np.vstack(rows).astype(np.float32), np.concatenate(owner)


def _train_probe(
    start: np.ndarray, owner: np.ndarray, k: int, examples: Examples, scale: float
) -> np.ndarray:
    x = np.asarray(examples.vectors, dtype=np.float32)
    y = examples.owner
    m = len(y)
    counts = np.bincount(y, minlength=k).astype(np.float32)
    weight = (1.0 / (counts[y] * np.count_nonzero(counts)))[:, None].astype(np.float32)
    target = np.zeros((m, k), dtype=np.float32)
    target[np.arange(m), y] = 1.0
    single = np.array_equal(owner, np.arange(k))  # one row per category: no pooling
    columns = [np.flatnonzero(owner == c) for c in range(k)]
    w = start.copy()
    for _ in range(_PROBE_STEPS):
        sims = x @ w.T  # (M, P)
        logits, chosen = (sims, None) if single else _pool_rows(sims, columns)
        z = scale * logits
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        grad = (prob - target) * weight  # d loss / d logit, per example and category
        if chosen is not None:  # route each category's gradient to its best row
            per_row = np.zeros((m, len(w)), dtype=np.float32)
            np.add.at(per_row, (np.arange(m)[:, None], chosen), grad)
            grad = per_row
        w -= _PROBE_RATE * (grad.T @ x + _PROBE_PULL * (w - start))
    return w


def _pool_rows(sims: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per category its best row's similarity, and which row that is."""
    rows = np.arange(len(sims))
    logits = np.full((len(sims), len(columns)), -np.inf, dtype=np.float32)
    chosen = np.zeros((len(sims), len(columns)), dtype=np.int64)
    for c, cols in enumerate(columns):
        if len(cols):
            pick = cols[sims[:, cols].argmax(axis=1)]
            chosen[:, c], logits[:, c] = pick, sims[rows, pick]
    return logits, chosen
