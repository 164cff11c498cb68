"""Image embeddings + category prompts -> assignments (category, score, margin).

Each prompt's text embedding is the normalised mean over the template ensemble. A
category's similarity to a photo is the best of its prompts (so "beach" OR "sea" both
count), and scores are softmax over categories (CLIP) or sigmoid with the model's bias
(SigLIP). Weak or ambiguous matches go to Uncategorized (index -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photosorter.core.cache import Store
from photosorter.core.categories import CategorySet
from photosorter.core.engine import Engine, ScoringParams

UNCATEGORIZED_INDEX = -1
_CHUNK = 65536  # rows per matmul chunk: bounds memory at ~chunk x prompts floats


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
    """Assign each row of `embeddings` (N, D), L2-normalised, to a category."""
    n = len(embeddings)
    index = np.full(n, UNCATEGORIZED_INDEX, dtype=np.int64)
    score = np.zeros(n, dtype=np.float32)
    gap = np.zeros(n, dtype=np.float32)
    if n == 0 or matrix.size == 0:
        return Assignments(index, score, gap)
    k = matrix.size
    # For each category, which prompt columns belong to it (for the max over prompts).
    single = len(matrix.owner) == k  # the common case: one prompt per category
    for start in range(0, n, _CHUNK):
        sims = embeddings[start : start + _CHUNK] @ matrix.prompts.T  # (n, P)
        if not single:
            per_cat = np.full((len(sims), k), -np.inf, dtype=np.float32)
            for c in range(k):
                cols = matrix.owner == c
                per_cat[:, c] = sims[:, cols].max(axis=1)
            sims = per_cat
        logits = sims * params.logit_scale
        if params.is_sigmoid:
            logits += params.logit_bias
            probs = 1.0 / (1.0 + np.exp(-logits))
        else:
            logits -= logits.max(axis=1, keepdims=True)
            np.exp(logits, out=logits)
            probs = logits / logits.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        rows = np.arange(len(probs))
        top = probs[rows, best]
        second = np.partition(probs, k - 2, axis=1)[:, k - 2] if k > 1 else np.zeros_like(top)
        sl = slice(start, start + len(probs))
        index[sl], score[sl], gap[sl] = best, top, top - second
    weak = (score < threshold) | (gap < margin)
    index[weak] = UNCATEGORIZED_INDEX
    return Assignments(index, score, gap)
