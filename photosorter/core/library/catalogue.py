"""The library as the store last saw it, shown at once and checked against the disk after.

Like a photo manager's catalogue: opening a folder of a million indexed photos lists what
the store knows (paths, identities, content keys, then embeddings) as columns, without a
scan; the disk is walked afterwards (`recheck`), and only the photos deleted, changed or
new since are handed on: to leave the list, or to be indexed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import Store

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


def list_stored(store: Store, roots: Sequence[str | os.PathLike[str]]) -> Listing:
    """Every file the store knows under `roots` (resolved as the scanner does), each once."""
    rows: dict[str, tuple[int, int, str]] = {}
    for root in roots:
        for path, size, mtime_ns, key in store.files_under(os.path.realpath(root)):
            rows[path] = (size, mtime_ns, key)
    paths = list(rows)
    columns = [rows[p] for p in paths]
    return Listing(
        paths,
        [key for _s, _m, key in columns],
        np.fromiter((s for s, _m, _k in columns), dtype=np.int64, count=len(paths)),
        np.fromiter((m for _s, m, _k in columns), dtype=np.int64, count=len(paths)),
    )


def stored_vectors(
    store: Store, model: str, keys: Sequence[str], spare: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The embedding of each key (row i for keys[i]) in one float32 matrix with `spare`
    empty rows after them (room to grow without a copy), and which rows have one."""
    has = np.zeros(len(keys), dtype=np.bool_)
    vectors = np.zeros((0, 0), dtype=np.float32)
    for start in range(0, len(keys), _KEYS):
        chunk = keys[start : start + _KEYS]
        found = store.get_embeddings(model, list(set(chunk)))
        if found and not vectors.size:
            dim = len(next(iter(found.values())))
            vectors = np.zeros((len(keys) + spare, dim), dtype=np.float32)
        for i, key in enumerate(chunk, start):
            vec = found.get(key)
            if vec is not None:
                vectors[i] = vec
                has[i] = True
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
