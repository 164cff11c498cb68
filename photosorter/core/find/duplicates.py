"""Group photos that are the same picture: byte-identical, re-encoded, resized, converted,
rotated by EXIF. Other shots of the same subject are not duplicates.

Two photos are the same picture when their perceptual hashes differ in at most `max_bits`
of 64 bits AND their CLIP embeddings agree (cosine >= `min_cosine`). Measured on
tests/fixtures/duplicates.py: every duplicate kind differs in 0-2 bits, another shot
(moved, reframed) in 10-30 bits, yet CLIP alone puts other shots at cosine 0.86-0.99, so
the hash decides and CLIP guards against hash collisions of unrelated pictures (flat,
dark, blank ones). Candidate pairs come from exact matches on bands of the hash
(pigeonhole), never from comparing every pair; groups are the connected pairs.

Past `EXACT_LIMIT` distinct photos random band matches grow as N^2 (10M: ~1e10 candidates),
so the embedding narrows them first: photos are split into k-means cells of their
embeddings (a copy's embedding is within cosine 0.97 of its source's) and hashes are only
matched within a cell. A photo nearly as close to its second-nearest cell is listed under
both, so a copy rarely lands apart from its source (recall measured in `photosorter bench
--large`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from photosorter.core.errors import ImageError
from photosorter.core.find import DEFAULT_THRESHOLD, MIN_THRESHOLD
from photosorter.core.find.ann import kmeans
from photosorter.core.library.cache import ImageInfo, Store
from photosorter.core.library.images import decode_photo, open_image_file
from photosorter.core.library.perceptual import BITS, hamming, image_info
from photosorter.core.library.products import column_max, products

MIN_COSINE = 0.9  # CLIP embeddings of one picture, re-encoded or resized: >= 0.97 measured
_DECODE_SIDE = 224  # decode size for photos indexed before hashes were stored
EXACT_LIMIT = 200_000  # distinct photos matched on hash bands alone (exact); past it, in cells
_CELLS_PER_ROOT = 1 / 30  # sqrt(N) / 30 cells: listing N x cells vs N^2 / cells candidates
_MARGIN = 0.02  # second-nearest cell scoring within this of the nearest: listed under both
_SAMPLE_PER_CELL = 1000  # k-means sample rows per cell: cells that follow the data
_CHUNK = 16_384


@dataclass(frozen=True)
class Photo:
    """A photo as the store knows it: no decode is needed to compare or rank it."""

    path: Path
    key: str  # content hash
    size: int  # file bytes
    mtime_ns: int
    info: ImageInfo


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos that are the same picture, `best` (the one to keep) first."""

    photos: tuple[Photo, ...]

    @property
    def best(self) -> Photo:
        return self.photos[0]

    @property
    def paths(self) -> list[Path]:
        return [p.path for p in self.photos]


def max_bits(threshold: float) -> int:
    """How many of the 64 hash bits may differ at similarity `threshold` (0..1)."""
    if not MIN_THRESHOLD <= threshold <= 1.0:
        raise ValueError(f"threshold must be between {MIN_THRESHOLD} and 1, got {threshold}")
    return math.floor((1.0 - threshold) * BITS + 1e-9)


def keep_order(photo: Photo) -> tuple:
    """Sort key, best first: most pixels, then least compressed (most bytes per pixel: a
    PNG before a JPEG of it, a high-quality JPEG before a low one), then oldest, then path."""
    per_pixel = photo.size / max(photo.info.pixels, 1)
    return (-photo.info.pixels, -per_pixel, photo.mtime_ns, str(photo.path))


def find_duplicates(
    photos: Sequence[Photo],
    vectors: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_cosine: float = MIN_COSINE,
) -> list[DuplicateGroup]:
    """Groups (of 2+) of `photos` that are the same picture; `vectors[i]` embeds photos[i].

    Photos with one content hash are one picture; distinct contents are compared by
    perceptual hash and embedding. Groups are ordered by their best photo's path.
    """
    first: dict[str, int] = {}  # content hash -> its first photo
    for i, p in enumerate(photos):
        first.setdefault(p.key, i)
    row_of = {key: row for row, key in enumerate(first)}
    hashes = np.array([photos[i].info.phash for i in first.values()], dtype=np.uint64)
    rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    distinct = vectors if len(rows) == len(vectors) else vectors[rows]  # no float32 copy
    a, b = similar_pairs(hashes, distinct, max_bits(threshold), min_cosine)
    label = _components(len(first), a, b)
    members: dict[int, list[Photo]] = {}
    for p in photos:
        members.setdefault(int(label[row_of[p.key]]), []).append(p)
    groups = [
        DuplicateGroup(tuple(sorted(dict.fromkeys(g), key=keep_order)))
        for g in members.values()
        if len({p.path for p in g}) > 1
    ]
    return sorted(groups, key=lambda g: str(g.best.path))


def similar_pairs(
    hashes: np.ndarray,
    vectors: np.ndarray,
    max_bits: int,
    min_cosine: float,
    *,
    exact_limit: int = EXACT_LIMIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) whose hashes differ in <= max_bits and whose rows of `vectors`
    (L2-normalised, float16 or float32, may be mapped) have cosine >= min_cosine. Up to
    `exact_limit` hashes every close pair is found; past it, those within one embedding cell
    (0.2-0.3% of synthetic copy pairs are missed: `photosorter bench --large`)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    if n <= max(exact_limit, 1):
        a, b = _close_hashes(hashes, max_bits)
    else:
        listed, cells, count = embedding_cells(vectors, max(2, round(np.sqrt(n) * _CELLS_PER_ROOT)))
        i, j = _close_hashes(hashes[listed], max_bits, cells, count)
        a, b = np.minimum(listed[i], listed[j]), np.maximum(listed[i], listed[j])
        pairs = np.unique(a[a != b] * n + b[a != b])
        a, b = pairs // n, pairs % n
    keep = _cosines(vectors, a, b) >= min_cosine
    return a[keep], b[keep]


def embedding_cells(vectors: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows, cells, cells made): each row of `vectors` listed under its nearest of `count`
    (>= 2) spherical k-means centroids, and also under its second-nearest when that scores within
    _MARGIN of the nearest. Read a chunk at a time (float16 rows are never copied whole)."""
    n = len(vectors)
    rng = np.random.default_rng(0)
    count = min(count, n)
    sample = np.sort(rng.choice(n, min(n, count * _SAMPLE_PER_CELL), replace=False))
    centroids = kmeans(np.asarray(vectors[sample], dtype=np.float32), count, rng)
    top = np.zeros((n, 2), dtype=np.int32)
    near = np.zeros(n, dtype=bool)

    def nearest_two(start: int, scores: np.ndarray) -> None:  # (cells, rows) of one block
        at = np.arange(scores.shape[1])
        best, first = column_max(scores)
        scores[first, at] = -np.inf
        runner_up, second = column_max(scores)
        top[start : start + len(at)] = np.stack([first, second], axis=1)
        near[start : start + len(at)] = best - runner_up < _MARGIN

    products(vectors, centroids.T, nearest_two)
    twice = np.flatnonzero(near)
    rows = np.concatenate([np.arange(n), twice])
    return rows, np.concatenate([top[:, 0], top[twice, 1]]).astype(np.int64), count


def _cosines(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of rows a[i] and b[i] of `vectors` (unit rows). The rows are read once each,
    in file order (a mapped matrix larger than memory is then read ahead, not sought)."""
    rows, where = np.unique(np.concatenate([a, b]), return_inverse=True)
    read = np.empty((len(rows), *vectors.shape[1:]), dtype=vectors.dtype)
    for start in range(0, len(rows), _CHUNK):
        read[start : start + _CHUNK] = vectors[rows[start : start + _CHUNK]]
    x, y = where[: len(a)], where[len(a) :]
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = np.einsum(
            "ij,ij->i", read[x[part]].astype(np.float32), read[y[part]].astype(np.float32)
        )
    return out


def _close_hashes(
    hashes: np.ndarray, k: int, cells: np.ndarray | None = None, count: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs (i < j) of hashes that differ in <= k bits, without comparing all pairs;
    with `cells` (one of `count` per hash), only pairs within one cell.

    Split into m bands, two hashes within k bits agree within k // m bits on at least one
    band (pigeonhole). Per band, a table of where each (cell, value) starts in the sorted
    band lets each hash look up every value within k // m bits of its own in its cell; m is
    chosen to keep lookups plus candidates fewest.
    """
    n = len(hashes)
    cells = np.zeros(n, dtype=np.int64) if cells is None else cells
    found = []
    start = 0
    bands = _best_bands(n, k, count)
    for width in bands:
        shift = np.uint64(BITS - start - width)
        values = ((hashes >> shift) & np.uint64((1 << width) - 1)).astype(np.int64)
        start += width
        keys = (cells << width) | values
        order = np.argsort(keys, kind="stable")
        first = np.zeros((count << width) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=count << width), out=first[1:])
        for flip in _flips(width, k // len(bands)):
            wanted = keys ^ flip
            lo = first[wanted]
            counts = first[wanted + 1] - lo
            i = np.repeat(np.arange(n), counts)
            offsets = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
            j = order[np.repeat(lo, counts) + offsets]
            keep = i < j
            i, j = i[keep], j[keep]
            keep = hamming(hashes[i], hashes[j]) <= k
            found.append(i[keep] * n + j[keep])
    pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    return pairs // max(n, 1), pairs % max(n, 1)


_MAX_TABLE = 24  # a band's start table has 2**_MAX_TABLE entries at most (cells x values)


def _best_bands(n: int, k: int, count: int = 1) -> list[int]:
    """Band widths (summing to 64) that need the least work for n hashes in `count` cells
    and k bits."""

    def widths(m: int) -> list[int]:
        return [BITS // m + (1 if i < BITS % m else 0) for i in range(m)]

    def cost(m: int) -> float:
        r = k // m
        total = 0.0
        for w in widths(m):
            probes = sum(math.comb(w, e) for e in range(r + 1))
            total += probes * (n + n * n / count / 2.0**w) + count * 2.0**w
        return total

    fewest = -(-BITS // max(4, _MAX_TABLE - math.ceil(math.log2(count))))
    return widths(min(range(fewest, max(fewest, min(k + 1, 16)) + 1), key=cost))


def _flips(width: int, r: int):
    """Every mask of `width` bits with at most r bits set (0 first)."""
    for e in range(r + 1):
        for bits in itertools.combinations(range(width), e):
            yield sum(1 << b for b in bits)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label per node of the graph with edges (a[i], b[i])."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):  # only pairs that matched: few
        rx, ry = root(x), root(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return np.array([root(x) for x in range(n)], dtype=np.int64)


@dataclass(frozen=True)
class Failed:
    """A photo whose size and perceptual hash could not be learnt."""

    path: Path
    error: str


class Indexed(Protocol):
    """A photo indexed into the store (photosorter.core.library.pipeline.PhotoResult)."""

    path: Path
    key: str | None
    size: int
    mtime_ns: int


def photos_with_info(
    store: Store, indexed: Sequence[Indexed], workers: int | None = None
) -> tuple[list[Photo], list[int], list[Failed]]:
    """`indexed` photos with their stored size, format and perceptual hash, and the rows of
    `indexed` they come from. Photos indexed before these were stored are decoded once now
    (and stored); those that cannot be are returned as failures."""
    keys = [r.key for r in indexed if r.key is not None]
    known = store.get_image_info(keys)
    todo = {r.key: r.path for r in indexed if r.key is not None and r.key not in known}
    found, errors = _decode_info(todo, workers)
    store.put_image_info(found.items())
    known.update(found)
    photos, rows, failed = [], [], []
    for row, r in enumerate(indexed):
        if r.key in known:
            photos.append(Photo(r.path, r.key, r.size, r.mtime_ns, known[r.key]))
            rows.append(row)
        elif r.key in errors:
            failed.append(Failed(r.path, errors[r.key]))
    return photos, rows, failed


def _decode_info(
    todo: dict[str, Path], workers: int | None
) -> tuple[dict[str, ImageInfo], dict[str, str]]:
    """Size, format and perceptual hash of each photo, by key; or why it failed."""

    def one(path: Path) -> ImageInfo | str:
        try:
            fh, _ = open_image_file(path)
            with fh:
                decoded = decode_photo(fh, min_side=_DECODE_SIDE)
        except ImageError as exc:
            return str(exc)
        except FileNotFoundError:
            return "file vanished before it could be read"
        except OSError as exc:
            return f"cannot read file: {exc.strerror or exc}"
        return image_info(decoded)

    found: dict[str, ImageInfo] = {}
    errors: dict[str, str] = {}
    if not todo:
        return found, errors
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        for key, result in zip(todo, pool.map(one, todo.values()), strict=True):
            if isinstance(result, str):
                errors[key] = result
            else:
                found[key] = result
    return found, errors
