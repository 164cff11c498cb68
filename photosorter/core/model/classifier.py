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

import numpy as np

from photosorter.core.categories import CategorySet
from photosorter.core.library.cache import Store
from photosorter.core.library.products import column_max, products
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

        def bound(start: int, sims: np.ndarray) -> None:  # (words, photos)
            out[start : start + sims.shape[1], 0] = sims.min(axis=0)
            out[start : start + sims.shape[1], 1] = sims.max(axis=0)

        products(embeddings, matrix.vocabulary.T, bound)
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
    (a mapped EmbeddingMatrix) are read a chunk at a time: 10M photos need no 20 GB copy.

    A photo's fit to its best category is (best - low) / (high - low), with low and high
    its lowest and highest similarity to the vocabulary and the categories: 1 when no word
    describes it better, near 0 when the categories describe it as badly as unrelated
    words. Where example photos set the category's level, high is at most that level (a
    photo as close as its examples fits, whatever word describes it better). Being
    relative to each photo's own similarities, it needs no absolute level, which differs
    per model (CLIP, SigLIP, the tiny test model). Below `min_fit`, or
    below the score `threshold` or the `margin` to the runner-up: Uncategorized.

    Only the best and the runner-up probability are needed, so no full probability matrix
    is kept: per block of rows (`products`: on every core), one matmul, an argmax and one
    exp pass (1M photos x 20 categories in a few hundred ms, no image touched).
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
    single = np.array_equal(matrix.owner, np.arange(k))  # the common case: one row each
    columns = [np.flatnonzero(matrix.owner == c) for c in range(k)]
    scale = np.float32(params.logit_scale)

    def assign(start: int, sims: np.ndarray) -> None:  # (prompts, photos) of one block
        if not single:  # a category's similarity is the best of its prompts
            sims = np.stack([_best_of(sims, rows) for rows in columns])
        top, best = column_max(sims)
        photos = np.arange(sims.shape[1])
        sl = slice(start, start + len(photos))
        level = matrix.levels[best] if matrix.levels is not None else None
        fit[sl] = _fit(top, sims if single else _finite(sims), bounds[sl], level)
        if params.is_sigmoid:  # monotonic: the runner-up is the second-best similarity
            sims[best, photos] = -np.inf
            second = sims.max(axis=0) if k > 1 else np.full_like(top, -np.inf)
            bias = np.float32(params.logit_bias)
            p_top = 1.0 / (1.0 + np.exp(-(top * scale + bias)))
            p_second = 1.0 / (1.0 + np.exp(-(second * scale + bias)))
        else:  # softmax; exp(0) = 1 at the best category, so p_top = 1 / sum
            sims -= top
            sims *= scale
            np.exp(sims, out=sims)
            total = sims.sum(axis=0)
            sims[best, photos] = 0.0
            p_top = 1.0 / total
            p_second = sims.max(axis=0) / total if k > 1 else np.zeros_like(top)
        index[sl], score[sl], gap[sl] = best, p_top, p_top - p_second

    products(embeddings, matrix.prompts.T, assign)
    weak = (score < threshold) | (gap < margin) | (fit < min_fit)
    index[weak] = UNCATEGORIZED_INDEX
    return Assignments(index, score, gap, fit)


def _best_of(sims: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A category's similarity: its best prompt row; -inf when it has none (never chosen)."""
    if not len(rows):
        return np.full(sims.shape[1], -np.inf, dtype=np.float32)
    return sims[rows].max(axis=0)


def _finite(sims: np.ndarray) -> np.ndarray:
    """`sims` with the -inf of categories without prompts out of the way of a minimum."""
    return np.where(np.isfinite(sims), sims, np.inf)


def _fit(
    top: np.ndarray, sims: np.ndarray, bounds: np.ndarray, level: np.ndarray | None
) -> np.ndarray:
    """(top - low) / (high - low) over the vocabulary and the (finite) category
    similarities `sims` (categories, photos), per photo."""
    low = np.minimum(bounds[:, 0], sims.min(axis=0))
    high = np.maximum(bounds[:, 1], top)
    if level is not None:
        high = np.minimum(high, level)
    span = high - low
    out = np.ones(len(top), dtype=np.float32)
    np.divide(top - low, span, out=out, where=span > 1e-6)
    return out


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
