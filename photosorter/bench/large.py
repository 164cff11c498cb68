"""`photosorter bench --large N`: a library of N photos (10M by default) without photos.

Its embeddings are written straight into a mapped float16 matrix file in chunks (10M x 512:
10 GB on disk, never 20 GB of float32 in memory), clustered round sqrt(N) centres so that
the inverted lists of the search index are known without the hours of listing 10M rows;
building the index is timed on a sample (`--large-build`, 1M by default) together with its
recall@20 against exact search. Then: re-scoring against 20 categories, exact and indexed
search, duplicates over all N (5% planted copies: time, recall, false pairs), and the
store's bytes per photo (100k photos, or N if fewer, in a real SQLite store).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.bench.config import machine, timed

DIM = 512
CATEGORIES = 20
_CHUNK = 100_000
_NOISE = 0.04  # per dimension: a photo's cosine to its centre ~0.7, to its neighbours ~0.5


def synthetic_matrix(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors round sqrt(n) centres, as a mapped float16 file; and each one's centre."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((max(1, int(np.sqrt(n))), DIM), dtype=np.float32))
    owner = rng.integers(0, len(centres), n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, DIM))
    for i in range(0, n, _CHUNK):
        own = owner[i : i + _CHUNK]
        noise = rng.standard_normal((len(own), DIM), dtype=np.float32) * _NOISE
        out[i : i + len(own)] = _unit(centres[own] + noise)
    out.flush()
    return np.load(path, mmap_mode="c"), (centres, owner)  # type: ignore[return-value]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def run_large(n: int, build_n: int, workdir: Path, reps: int, say: Callable[[str], None]) -> dict:
    """Every large-library figure (a JSON-able dict)."""
    report: dict[str, Any] = {"machine": machine(), "n": n}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        say(f"writing {n:,} synthetic float16 embeddings to {tmp}")
        start = time.perf_counter()
        vectors, (centres, owner) = synthetic_matrix(Path(tmp) / "m.npy", n)
        report["write_s"] = round(time.perf_counter() - start, 1)
        say("re-scoring against 20 categories")
        report["rescore"] = rescore_figure(vectors, reps)
        say("searching, exact and through the index")
        report["search"] = search_figures(vectors, centres, owner, reps)
        say(f"building the index over {build_n:,} photos, and its recall")
        report["index"] = index_figure(vectors[: min(build_n, n)])
        say(f"duplicates among {n:,} photos, 5% planted copies")
        report["duplicates"] = duplicates_figure(vectors)  # last: it writes the copies
        del vectors
    say("store bytes per photo")
    report["store"] = store_figure(workdir, min(n, 100_000))
    return report


def rescore_figure(vectors: np.ndarray, reps: int) -> dict:
    """classify(N x 20) over the mapped matrix; the vocabulary bounds (computed once per
    library and kept, as the app does) timed apart."""
    from photosorter.core.model.classifier import CategoryMatrix, classify, vocabulary_bounds
    from photosorter.core.model.engine import ScoringParams
    from photosorter.core.model.vocabulary import VOCABULARY

    rng = np.random.default_rng(1)
    matrix = CategoryMatrix(
        _unit(rng.standard_normal((CATEGORIES, DIM), dtype=np.float32)),
        np.arange(CATEGORIES),
        tuple(f"c{i}" for i in range(CATEGORIES)),
        _unit(rng.standard_normal((len(VOCABULARY), DIM), dtype=np.float32)),
    )
    params = ScoringParams(100.0, None)
    start = time.perf_counter()
    bounds = vocabulary_bounds(vectors, matrix)
    bounds_s = time.perf_counter() - start
    wall, cpu = timed(lambda: classify(vectors, matrix, params, bounds=bounds), reps)
    return {"seconds": round(wall, 2), "cpu_s": round(cpu, 2), "bounds_s": round(bounds_s, 1)}


def search_figures(vectors: np.ndarray, centres: np.ndarray, owner: np.ndarray, reps: int) -> dict:
    """A query near a photo, top 20: exact over all rows; through inverted lists made from the
    known centres (as build_index would list them)."""
    from photosorter.core.find.ann import PROBES, IvfIndex, search_index
    from photosorter.core.find.search import rank

    order = np.argsort(owner, kind="stable").astype(np.int32)
    offsets = np.zeros(len(centres) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(centres)), out=offsets[1:])
    index = IvfIndex(centres.astype(np.float32), order, offsets, "", len(vectors))
    query = np.asarray(vectors[len(vectors) // 2], dtype=np.float32)
    exact, _ = timed(lambda: rank(vectors, query, 20), max(1, reps // 2))
    indexed, _ = timed(lambda: search_index(index, vectors, query, 20), reps)
    return {"exact_ms": round(exact * 1e3), "index_ms": round(indexed * 1e3, 1), "probes": PROBES}


def index_figure(vectors: np.ndarray) -> dict:
    """build_index over `vectors` (k-means + listing every row) and recall@20 of 20 queries."""
    from photosorter.core.find.ann import build_index, search_index
    from photosorter.core.find.search import rank

    start = time.perf_counter()
    index = build_index(vectors)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(2)
    hits = []
    for row in rng.choice(len(vectors), 20, replace=False):
        query = _unit(vectors[row].astype(np.float32) + rng.normal(0, 0.02, DIM))
        exact = set(rank(vectors, query, 20).index.tolist())
        hits.append(len(exact & set(search_index(index, vectors, query, 20).index.tolist())))
    return {"n": len(vectors), "build_s": round(build_s, 1), "recall_at_20": np.mean(hits) / 20}


def duplicates_figure(vectors: np.ndarray, exact_limit: int | None = None) -> dict:
    """similar_pairs + grouping over N random perceptual hashes and `vectors` (writable: a
    copy-on-write mapping), with 5% planted copies: a copy's hash is its source's with 0-6
    bits flipped, its embedding its source's turned by a random angle (cosine 0.97-0.995,
    as measured for re-encoded, resized and rotated copies), written over another row.
    Recall: planted pairs found; false: pairs found that were not planted."""
    from photosorter.core.find import DEFAULT_THRESHOLD
    from photosorter.core.find import duplicates as dups

    n, k = len(vectors), dups.max_bits(DEFAULT_THRESHOLD)
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**64, n, dtype=np.uint64)
    copies = n // 20
    pick = rng.choice(n, 2 * copies, replace=False)
    src, dst = np.sort(pick[:copies]), pick[copies:]
    for i in range(0, copies, _CHUNK):
        s, d = src[i : i + _CHUNK], dst[i : i + _CHUNK]
        hashes[d] = hashes[s] ^ _bit_flips(rng, len(s), k)
        vectors[d] = _turned(np.asarray(vectors[s], dtype=np.float32), rng)
    start = time.perf_counter()
    limit = dups.EXACT_LIMIT if exact_limit is None else exact_limit
    a, b = dups.similar_pairs(hashes, vectors, k, dups.MIN_COSINE, exact_limit=limit)
    dups._components(n, a, b)
    wall = round(time.perf_counter() - start, 1)
    found = int(np.isin(np.minimum(src, dst) * n + np.maximum(src, dst), a * n + b).sum())
    return {
        "n": n, "seconds": wall, "planted": copies, "found": found,
        "recall": round(found / max(copies, 1), 5), "false_pairs": len(a) - found,
    }  # fmt: skip


def _bit_flips(rng: np.random.Generator, count: int, most: int) -> np.ndarray:
    """`count` 64-bit masks, each with 0..most distinct bits set (uniformly many)."""
    bits = np.argsort(rng.random((count, 64)), axis=1)[:, :most].astype(np.uint64)
    used = np.arange(most) < rng.integers(0, most + 1, count)[:, None]
    return np.bitwise_or.reduce(np.where(used, np.uint64(1) << bits, np.uint64(0)), axis=1)


def _turned(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each unit row turned towards a random orthogonal direction to cosine 0.97-0.995."""
    away = rng.standard_normal(rows.shape, dtype=np.float32)
    away = _unit(away - np.sum(away * rows, axis=1, keepdims=True) * rows)
    cos = rng.uniform(0.97, 0.995, (len(rows), 1)).astype(np.float32)
    return cos * rows + np.sqrt(1 - cos**2) * away


def store_figure(workdir: Path, n: int = 100_000) -> dict:
    """SQLite file bytes per photo: identity, float16 embedding, image facts."""
    from photosorter.core.library.cache import ImageInfo, Store

    rng = np.random.default_rng(4)
    keys = [f"{i:032x}" for i in range(n)]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, Store(Path(tmp) / "s.db") as store:
        for i in range(0, n, _CHUNK):
            part = keys[i : i + _CHUNK]
            vecs = _unit(rng.standard_normal((len(part), DIM), dtype=np.float32))
            store.put_embeddings("ViT-B-32/laion2b_s34b_b79k", zip(part, vecs, strict=True))
        store.remember_files(
            (f"/home/someone/Pictures/2024/{i // 1000:03d}/IMG_{i:06d}.jpg", 3_000_000, i, k)
            for i, k in enumerate(keys)
        )
        store.put_image_info((k, ImageInfo(4000, 3000, "JPEG", i)) for i, k in enumerate(keys))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = store.path.stat().st_size
    return {"n": n, "bytes_per_photo": round(size / n)}


def large_table(r: dict) -> list[str]:
    """The report as lines of text."""
    s, i, d = r["search"], r["index"], r["duplicates"]
    return [
        f"{r['machine']}",
        f"{r['n']:,} photos x {DIM} float16, mapped ({r['write_s']} s to write)",
        f"re-score x {CATEGORIES} categories: {r['rescore']['seconds']} s "
        f"(vocabulary bounds, once per library: {r['rescore']['bounds_s']} s)",
        f"search, top 20: exact {s['exact_ms']} ms; index ({s['probes']} lists) {s['index_ms']} ms",
        f"index build over {i['n']:,} photos: {i['build_s']} s; recall@20 {i['recall_at_20']:.3f}",
        f"duplicates among {d['n']:,} (hash bands within embedding cells): {d['seconds']} s, "
        f"{d['found']:,} of {d['planted']:,} planted pairs (recall {d['recall']:.4f}), "
        f"{d['false_pairs']:,} false",
        f"store: {r['store']['bytes_per_photo']} bytes per photo",
    ]
