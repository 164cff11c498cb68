"""Image embeddings + category prompts -> assignments (category, score, margin).

Each prompt's text embedding is the normalised mean over the template ensemble. A
category's similarity to a photo is the best of its prompts (so "beach" OR "sea" both
count), and scores are softmax over categories (CLIP) or sigmoid with the model's bias
(SigLIP). Weak or ambiguous matches go to Uncategorized (index -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photosorter.core.categories import CategorySet
from photosorter.core.library.cache import Store
from photosorter.core.model.engine import Engine, ScoringParams

UNCATEGORIZED_INDEX = -1
_CHUNK = 16384  # rows per chunk: its (chunk x prompts) scores stay in the CPU cache


@dataclass(frozen=True)
class CategoryMatrix:
    """Prompt embeddings (P, D) and which category (0..K-1) each prompt belongs to."""

    prompts: np.ndarray
    owner: np.ndarray
    names: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Assignments:
    """Per photo: category index (-1 = Uncategorized), its score, and best minus runner-up."""

    index: np.ndarray
    score: np.ndarray
    margin: np.ndarray


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


def build_matrix(engine: Engine, store: Store | None, categories: CategorySet) -> CategoryMatrix:
    """The category matrix for `categories`; text embeddings are computed once per model."""
    texts = [t for c in categories.categories for t in categories.expanded_prompts(c)]
    vectors = text_embeddings(engine, store, texts)
    rows, owner = [], []
    per_prompt = len(categories.templates)
    for k, cat in enumerate(categories.categories):
        expanded = categories.expanded_prompts(cat)
        for i in range(0, len(expanded), per_prompt):
            mean = np.mean([vectors[t] for t in expanded[i : i + per_prompt]], axis=0)
            rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            owner.append(k)
    return CategoryMatrix(
        prompts=np.asarray(rows, dtype=np.float32),
        owner=np.asarray(owner, dtype=np.int64),
        names=tuple(categories.names),
    )


def classify(
    embeddings: np.ndarray,
    matrix: CategoryMatrix,
    params: ScoringParams,
    threshold: float = 0.0,
    margin: float = 0.0,
) -> Assignments:
    """Assign each row of `embeddings` (N, D), L2-normalised, to a category.

    Only the best and the runner-up probability are needed, so no full probability matrix
    is kept: per cache-sized chunk, one matmul, an argmax and one exp pass (1M photos x 20
    categories in a few hundred ms, no image touched).
    """
    n = len(embeddings)
    index = np.full(n, UNCATEGORIZED_INDEX, dtype=np.int64)
    score = np.zeros(n, dtype=np.float32)
    gap = np.zeros(n, dtype=np.float32)
    if n == 0 or matrix.size == 0:
        return Assignments(index, score, gap)
    k = matrix.size
    prompts_t = np.ascontiguousarray(matrix.prompts.T, dtype=np.float32)  # (D, P)
    single = len(matrix.owner) == k  # the common case: one prompt per category
    columns = [np.flatnonzero(matrix.owner == c) for c in range(k)]
    scale = np.float32(params.logit_scale)
    for start in range(0, n, _CHUNK):
        sims = np.asarray(embeddings[start : start + _CHUNK], dtype=np.float32) @ prompts_t
        if not single:  # a category's similarity is the best of its prompts
            sims = np.stack([sims[:, cols].max(axis=1) for cols in columns], axis=1)
        rows = np.arange(len(sims))
        best = sims.argmax(axis=1)
        top = sims[rows, best]
        sl = slice(start, start + len(sims))
        if params.is_sigmoid:  # monotonic: the runner-up is the second-best similarity
            sims[rows, best] = -np.inf
            second = sims.max(axis=1) if k > 1 else np.full_like(top, -np.inf)
            bias = np.float32(params.logit_bias)
            p_top = 1.0 / (1.0 + np.exp(-(top * scale + bias)))
            p_second = 1.0 / (1.0 + np.exp(-(second * scale + bias)))
        else:  # softmax; exp(0) = 1 at the best column, so p_top = 1 / sum
            sims -= top[:, None]
            sims *= scale
            np.exp(sims, out=sims)
            total = sims.sum(axis=1)
            sims[rows, best] = 0.0
            p_top = 1.0 / total
            p_second = sims.max(axis=1) / total if k > 1 else np.zeros_like(top)
        index[sl], score[sl], gap[sl] = best, p_top, p_top - p_second
    weak = (score < threshold) | (gap < margin)
    index[weak] = UNCATEGORIZED_INDEX
    return Assignments(index, score, gap)
