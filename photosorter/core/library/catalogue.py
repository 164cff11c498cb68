"""The library as the store last saw it, shown at once and checked against the disk after.

Like a photo manager's catalogue: opening a folder of a million indexed photos lists what
the store knows (paths, identities, content keys, then embeddings) as columns, without a
scan; the disk is walked afterwards (`recheck`), and only the photos deleted, changed or
new since are handed on: to leave the list, or to be indexed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.matrix import open_matrix

_KEYS = 50_000  # content keys looked up per step (each a bounded dict of vectors)


@dataclass(frozen=True)
class Listing:
    """Stored photos under some folders, one per path, in path order, as columns."""

    paths: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mtimes_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Recheck:
    """What the disk says of a listing: paths to drop from it (deleted, changed, or without
    an embedding) and photos to index (new, changed)."""

    gone: list[str]
    todo: list[Path]


def list_stored(
    store: Store, roots: Sequence[str | os.PathLike[str]], first: int = 2000
) -> Iterator[Listing]:
    """Every file the store knows under `roots` (resolved as the scanner does), each once,
    in pages: the first `first` rows as soon as they are read (a screenful and more), then
    pages 8 times larger each (so re-sorting the growing grid costs little more than once)."""
    resolved = [os.path.realpath(r) for r in roots]
    outer = [r for r in dict.fromkeys(resolved) if not any(_inside(r, o) for o in resolved)]
    rows = (row for root in outer for row in store.files_under(root))
    size = max(1, first)
    while page := _listing(itertools.islice(rows, size)):
        yield page
        size *= 8


def _inside(path: str, folder: str) -> bool:
    return path != folder and path.startswith(os.path.join(folder, ""))


def _listing(rows: Iterable[tuple[str, int, int, str]]) -> Listing:
    paths: list[str] = []
    keys: list[str] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    for path, size, mtime_ns, key in rows:
        paths.append(path)
        sizes.append(size)
        mtimes.append(mtime_ns)
        keys.append(key)
    return Listing(paths, keys, np.asarray(sizes, np.int64), np.asarray(mtimes, np.int64))


def joined(listings: Sequence[Listing]) -> Listing:
    """One listing of several, in order."""
    if not listings:
        return Listing()
    return Listing(
        [p for part in listings for p in part.paths],
        [k for part in listings for k in part.keys],
        np.concatenate([part.sizes for part in listings]),
        np.concatenate([part.mtimes_ns for part in listings]),
    )


def stored_vectors(
    store: Store, model: str, keys: Sequence[str], spare: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The embedding of each key (row i for keys[i]) in one float32 matrix with `spare`
    empty rows after them (room to grow without a copy), and which rows have one.

    Read from the model's mapped matrix (matrix.py), not row by row from SQLite: a million
    photos take seconds, not minutes."""
    matrix = open_matrix(store, model)
    rows = matrix.rows_of(keys, store)
    has = rows >= 0
    if not len(matrix) or not len(keys):
        return np.zeros((0, 0), dtype=np.float32), has
    hit = np.flatnonzero(has)
    rows = rows[hit]
    vectors = np.zeros((len(keys) + spare, matrix.vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(hit), _KEYS):  # float16 -> float32, a slice at a time
        vectors[hit[start : start + _KEYS]] = matrix.vectors[rows[start : start + _KEYS]]
    return vectors, has


def recheck(listing: Listing, has_vector: np.ndarray, found: Iterable[Path]) -> Recheck:
    """Compare the photos `found` on disk now with the listing: a listed photo whose size or
    mtime changed, or that has no embedding, is gone from the listing and to be indexed."""
    row_of = {path: i for i, path in enumerate(listing.paths)}
    current = np.zeros(len(listing), dtype=np.bool_)
    todo: list[Path] = []
    for path in found:
        i = row_of.get(str(path))
        if i is not None and has_vector[i] and _unchanged(path, listing, i):
            current[i] = True
        else:
            todo.append(path)
    gone = [listing.paths[i] for i in np.flatnonzero(~current).tolist()]
    return Recheck(gone, todo)


def _unchanged(path: Path, listing: Listing, row: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False  # indexing reports why
    return st.st_size == listing.sizes[row] and st.st_mtime_ns == listing.mtimes_ns[row]
