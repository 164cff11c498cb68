"""Search photos by words, by a photo ("find similar"), or both at once.

A query is one unit vector in the model's embedding space; photos are ranked by cosine
similarity to it: one matrix-vector product over the (N, D) embeddings and a partial sort
(100k photos in a few ms; past `ann.EXACT_LIMIT` photos, ann.py scans only the nearest lists).

Words and a photo combined: each part's similarities to the searched photos are put on
one scale (divided by their standard deviation over those photos) before they are added,
so words and a photo pull equally hard although the model spreads text-to-image
similarities (about 0.1 wide for CLIP) far narrower than image-to-image ones. That is one
vector too, sum(w_i * q_i / sd_i) normalised, so ranking stays a single product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.products import products
from photosorter.core.model.engine import Engine

_CHUNK = 16384  # rows gathered at a time by similarities_of (16 MB of float16 at 512)
_SPREAD_SAMPLE = 20_000  # photos the spread of a part's similarities is estimated on


@dataclass(frozen=True)
class Ranked:
    """Rows of the searched matrix, best match first, and their cosine to the query."""

    index: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def rank(vectors: np.ndarray, query: np.ndarray, limit: int | None = None) -> Ranked:
    """The rows of `vectors` (N, D), L2-normalised, most similar to `query` (D,) first.

    With `limit`, only the best `limit` (a partial sort: O(N), not O(N log N)).
    """
    if len(vectors) == 0:
        return Ranked(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    return best_of(np.arange(len(vectors)), similarities(vectors, query), limit)


def similarities(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of each row of `vectors` (float32, or float16 as stored) to `query`."""
    out = np.empty(len(vectors), dtype=np.float32)

    def keep(start: int, sims: np.ndarray) -> None:  # (1, rows) of one block
        out[start : start + sims.shape[1]] = sims[0]

    products(vectors, np.asarray(query, dtype=np.float32).reshape(-1, 1), keep)
    return out


def similarities_of(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of `vectors[rows]` to `query`, gathered a chunk at a time (never all at once)."""
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        out[start : start + len(part)] = similarities(vectors[part], query)
    return out


def spread_sample(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Evenly spaced rows of `vectors[rows]` to measure a query part's spread on (`combine`)."""
    return np.asarray(vectors[rows[:: max(1, len(rows) // _SPREAD_SAMPLE)]], dtype=np.float32)


def best_of(rows: np.ndarray, scores: np.ndarray, limit: int | None = None) -> Ranked:
    """`rows` ranked by their `scores`, best first, ties by row; the best `limit` only."""
    n = len(scores)
    if limit is not None and limit < n:
        top = np.argpartition(-scores, limit - 1)[:limit] if limit > 0 else np.zeros(0, int)
    else:
        top = np.arange(n)
    order = top[np.lexsort((rows[top], -scores[top]))]  # best first; ties by row
    return Ranked(rows[order].astype(np.int64), scores[order])


def combine(
    parts: Sequence[np.ndarray], vectors: np.ndarray, weights: Sequence[float] | None = None
) -> np.ndarray:
    """One query from several (words, photos), each weighted equally on the scale of its own
    similarities over `vectors` (see the module docstring); a unit vector."""
    if not parts:
        raise ValueError("a query needs words or a photo")
    weights = list(weights) if weights is not None else [1.0] * len(parts)
    units = [_unit(np.asarray(p, dtype=np.float32)) for p in parts]
    if len(units) == 1:
        return units[0]
    step = max(1, len(vectors) // _SPREAD_SAMPLE)
    sample = np.asarray(vectors[::step], dtype=np.float32)
    total = np.zeros_like(units[0])
    for unit, weight in zip(units, weights, strict=True):
        spread = float(np.std(sample @ unit)) if len(sample) > 1 else 0.0
        total += unit * (weight / spread if spread > 1e-6 else weight)
    return _unit(total)


def text_query(engine: Engine, store: Store, text: str) -> np.ndarray:
    """The embedding of the words `text`: from the store when asked before (no model at all),
    else by the exported text tower (no torch), else by torch; then stored."""
    found = store.get_text_embeddings(engine.model_id, [text])
    if text in found:
        return found[text]
    from photosorter.core.model.text_tower import encode_texts  # a new query only

    vector = encode_texts(engine, [text])[0]
    store.put_text_embeddings(engine.model_id, [(text, vector)])
    return vector


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)
