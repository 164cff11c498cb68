"""Search a large library without reading all of it: inverted lists over the mapped matrix.

Below `EXACT_LIMIT` photos a query reads every embedding (exact). Past it, an inverted-file
index (IVF) answers: spherical k-means centroids learnt on a sample, every row listed under
its nearest centroid, and a query scores exactly only the rows of its `probes` nearest
lists, read from the mapped matrix, plus the rows added since the lists were made. It keeps
no second copy of the vectors (HNSW in faiss or usearch does; faiss built HNSW at ~800
photos/s on 2 cores, hours at 10M: README, "A library of 10 million photos").

A search may be restricted to some rows (the folders searched, a part of the store): the
index covers the whole matrix, and a query keeps only the allowed rows of the lists it
probes, probing on until it holds `_SHORTLIST` candidates per result wanted.

The index is one file beside the matrix (ivf.npz, replaced atomically: two processes that
build at once waste work, never corrupt it). Rows added later are listed on the next use
once there are more than `_TAIL_LIMIT`; a rebuilt matrix, or a library grown fourfold since
the centroids were learnt, relearns them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photosorter.core.find.search import Ranked, best_of, rank, similarities, similarities_of
from photosorter.core.library.known import Progress
from photosorter.core.library.matrix import EmbeddingMatrix
from photosorter.core.library.products import column_max, products

EXACT_LIMIT = 300_000  # past this many photos an exact query takes over ~0.5 s (2 cores)
PROBES = 8  # lists scanned per query: recall@20 >= 0.95 measured (README)
_SHORTLIST = 8  # a restricted search probes on until it holds this many rows per result
_TAIL_LIMIT = 50_000  # unlisted rows a query scans exactly before they are listed
_GROWTH = 4  # relearn the centroids when the library has grown this much since
_SAMPLE_PER_LIST = 40  # k-means sample rows per centroid
_ITERATIONS = 8
_FILE = "ivf.npz"

OnProgress = Callable[[Progress], None]  # done/total: rows compared with the centroids


@dataclass(frozen=True)
class IvfIndex:
    """Centroids (C, D); `order`: rows 0..covered-1 sorted by list; list c holds
    order[offsets[c]:offsets[c + 1]]. `generation` names the matrix it indexes."""

    centroids: np.ndarray
    order: np.ndarray
    offsets: np.ndarray
    generation: str
    trained_on: int

    @property
    def covered(self) -> int:
        return len(self.order)


def search(
    matrix: EmbeddingMatrix,
    query: np.ndarray,
    limit: int,
    *,
    rows: np.ndarray | None = None,
    exact_limit: int | None = None,
    probes: int = PROBES,
    on_progress: OnProgress | None = None,
) -> Ranked:
    """The `limit` rows of `matrix` most similar to `query`, of `rows` only when given (each
    once: the photos searched may be a part of the store). Exact up to `exact_limit` rows
    searched (default `EXACT_LIMIT`), through the inverted lists past it (built or brought up
    to date as needed, reporting to `on_progress`)."""
    searched = len(matrix) if rows is None else len(rows)
    if searched <= _exact_limit(exact_limit):
        if rows is None:
            return rank(matrix.vectors, query, limit)
        rows = np.asarray(rows, dtype=np.int64)
        return best_of(rows, similarities_of(matrix.vectors, rows, query), limit)
    allowed = None
    if rows is not None:
        allowed = np.zeros(len(matrix), dtype=np.bool_)
        allowed[rows] = True
    index = open_index(matrix, on_progress)
    return search_index(index, matrix.vectors, query, limit, probes, allowed)


def _exact_limit(given: int | None) -> int:
    return EXACT_LIMIT if given is None else given


def search_index(
    index: IvfIndex,
    vectors: np.ndarray,
    query: np.ndarray,
    limit: int,
    probes: int = PROBES,
    allowed: np.ndarray | None = None,
) -> Ranked:
    """Rank the rows of the `probes` lists nearest `query`, and every unlisted row. With
    `allowed` (a mask over the rows), only those, probing further lists until there are
    `_SHORTLIST` candidates per result wanted (a sparse subset: its best may lie farther)."""
    query = np.asarray(query, dtype=np.float32)

    def kept(part: np.ndarray) -> np.ndarray:
        return part if allowed is None else part[allowed[part]]

    parts = [kept(np.arange(index.covered, len(vectors)))]
    found = len(parts[0])
    for probed, c in enumerate(np.argsort(-(index.centroids @ query))):
        if probed >= probes and found >= limit * _SHORTLIST:
            break
        parts.append(kept(index.order[index.offsets[c] : index.offsets[c + 1]]))
        found += len(parts[-1])
    rows = np.sort(np.concatenate(parts).astype(np.int64))  # in file order: fewer seeks
    return best_of(rows, similarities(vectors[rows], query), limit)


def open_index(matrix: EmbeddingMatrix, on_progress: OnProgress | None = None) -> IvfIndex:
    """The saved index of `matrix`, extended or rebuilt (and saved) when it has fallen behind;
    a build or extension reports to `on_progress` as it goes (minutes at 10M photos)."""
    path = matrix.folder / _FILE
    index = _load(path)
    n = len(matrix)
    if index is None or index.generation != matrix.generation or n > _GROWTH * index.trained_on:
        index = build_index(matrix.vectors, matrix.generation, on_progress=on_progress)
    elif n - index.covered > _TAIL_LIMIT:
        index = extend_index(index, matrix.vectors, on_progress)
    else:
        return index
    _save(path, index)
    return index


def build_index(
    vectors: np.ndarray,
    generation: str = "",
    lists: int | None = None,
    on_progress: OnProgress | None = None,
) -> IvfIndex:
    """Learn ~sqrt(N) centroids on a sample of `vectors` and list every row."""
    n = len(vectors)
    k = max(1, min(lists or int(np.sqrt(n)), n))
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, min(n, k * _SAMPLE_PER_LIST), replace=False))
    meter = _Meter(_ITERATIONS * len(sample) + n, on_progress)
    centroids = kmeans(np.asarray(vectors[sample], dtype=np.float32), k, rng, meter)
    empty = IvfIndex(centroids, np.zeros(0, np.int64), np.zeros(k + 1, np.int64), generation, n)
    return _extend(empty, vectors, meter)


def extend_index(
    index: IvfIndex, vectors: np.ndarray, on_progress: OnProgress | None = None
) -> IvfIndex:
    """`index` with the rows past those it covers listed under their nearest centroid."""
    return _extend(index, vectors, _Meter(len(vectors) - index.covered, on_progress))


def _extend(index: IvfIndex, vectors: np.ndarray, meter: _Meter) -> IvfIndex:
    k = len(index.centroids)
    old = np.repeat(np.arange(k), np.diff(index.offsets))  # the list of each order entry
    new = _nearest(vectors, index.centroids, index.covered, meter)
    lists = np.concatenate([old, new])
    rows = np.concatenate([index.order, np.arange(index.covered, len(vectors))])
    by_list = np.argsort(lists, kind="stable")
    offsets = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(lists, minlength=k), out=offsets[1:])
    order = rows[by_list].astype(np.int32 if len(vectors) < 2**31 else np.int64)
    return IvfIndex(index.centroids, order, offsets, index.generation, index.trained_on)


class _Meter:
    """Counts the rows compared with the centroids, reported as Progress (0 first)."""

    def __init__(self, total: int, on_progress: OnProgress | None) -> None:
        self.total, self.on_progress = total, on_progress
        self.done, self.started = 0, time.monotonic()
        self(0)

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.on_progress is not None:
            elapsed = time.monotonic() - self.started
            self.on_progress(Progress(self.done, self.total, 0, 0, elapsed))


def kmeans(
    sample: np.ndarray, k: int, rng: np.random.Generator, meter: _Meter | None = None
) -> np.ndarray:
    """Spherical k-means: unit centroids; an empty cluster restarts at a random sample row."""
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(_ITERATIONS):
        owner = _nearest(sample, centroids, 0, meter)
        counts = np.bincount(owner, minlength=k)
        sums = np.zeros_like(centroids)  # np.add.at is ~10x slower than sorting and reduceat
        order = np.argsort(owner, kind="stable")
        used = np.flatnonzero(counts)
        sums[used] = np.add.reduceat(sample[order], (np.cumsum(counts) - counts)[used])
        empty = np.flatnonzero(counts == 0)
        sums[empty] = sample[rng.choice(len(sample), len(empty), replace=False)]
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centroids.astype(np.float32)


def _nearest(
    vectors: np.ndarray, centroids: np.ndarray, start: int = 0, meter: _Meter | None = None
) -> np.ndarray:
    """The nearest centroid of each row of vectors[start:], a block at a time."""
    out = np.empty(len(vectors) - start, dtype=np.int64)

    def nearest(i: int, scores: np.ndarray) -> None:  # (centroids, rows) of one block
        out[i : i + scores.shape[1]] = column_max(scores)[1]

    products(vectors[start:], centroids.T, nearest, progress=meter)
    return out


def _load(path: Path) -> IvfIndex | None:
    try:
        with np.load(path) as f:
            return IvfIndex(
                f["centroids"], f["order"], f["offsets"], str(f["generation"]),
                int(f["trained_on"]),
            )  # fmt: skip
    except (OSError, KeyError, ValueError):
        return None  # none yet, or unreadable: rebuilt


def _save(path: Path, index: IvfIndex) -> None:
    """Write to a temporary name, then replace: a reader sees the old file or the new."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp, centroids=index.centroids, order=index.order, offsets=index.offsets,
        generation=index.generation, trained_on=index.trained_on,
    )  # fmt: skip
    os.replace(tmp, path)
