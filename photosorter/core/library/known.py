"""What the store already knows of a list of files, from a stat each: no file is read.

A file whose (path, size, mtime) the store has seen is either embedded already (its
vector is ready, in the model's mapped matrix) or known to be no readable image (its error
is ready); only the rest needs the decode + encode pipeline. This module imports neither
Pillow nor the model, so a search over an indexed folder answers without loading them.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.decoders import installed
from photosorter.core.library.matrix import EmbeddingMatrix, open_matrix

BATCH = 4096  # photos per batch of already-known results


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    cached: int
    failed: int
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        """Seconds left, from the rate of files that needed work; None until known."""
        work_done = self.done - self.cached
        if work_done <= 0 or self.done >= self.total:
            return None if self.done < self.total else 0.0
        return (self.total - self.done) * self.elapsed_s / work_done


@dataclass(frozen=True, slots=True)
class PhotoResult:
    """One photo: its content key when indexed, or the error that stopped it. `where` is its
    path as given: given as `str`, its `Path` is made only when `path` is first read (a
    search over a million photos reports a few). Slots: a million of them, made at once."""

    where: str | os.PathLike[str]
    key: str | None = None
    error: str | None = None
    size: int = 0
    mtime_ns: int = 0
    _path: Path | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def path(self) -> Path:
        path = self._path
        if path is None:
            path = self.where if isinstance(self.where, Path) else Path(self.where)
            object.__setattr__(self, "_path", path)  # frozen: made once, when first read
        return path


@dataclass
class IndexBatch:
    """Results finished together; `vectors[i]` belongs to `ok[i]`."""

    results: list[PhotoResult]
    vectors: np.ndarray
    progress: Progress
    ok: list[PhotoResult] = field(default_factory=list)


@dataclass
class Known:
    """What the stat pass found: photos embedded already (`fast[i]`'s vector is row
    `rows[i]` of `matrix`), known failures, and the rest to do (with the (size, mtime_ns)
    each had then, by name: what a failure to read it is remembered under)."""

    fast: list[PhotoResult] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: EmbeddingMatrix | None = None
    errors: list[PhotoResult] = field(default_factory=list)
    todo: list[Path] = field(default_factory=list)
    identities: dict[str, tuple[int, int]] = field(default_factory=dict)  # of `todo`, as stated


def stat_pass(paths: Sequence[str | os.PathLike[str]], store: Store, model: str) -> Known:
    """Sort `paths` by a stat each: embedded as they are, failed as they are, or to do.

    The work is done on `str` names; a name given as `str` stays one in the results (their
    `path` is made when read), and becomes a `Path` only in `todo`."""
    # A million results and their lookups make no reference cycles: the collector would
    # only walk them again and again (a third of the pass).
    with paused_gc():
        return _stat_pass(paths, [os.fspath(p) for p in paths], store, model)


def _stat_pass(
    paths: Sequence[str | os.PathLike[str]], names: list[str], store: Store, model: str
) -> Known:
    known = Known()
    seen = _stat_each(paths, names, known.errors)
    at, found = _unchanged_files(store, seen)
    rows = _matrix_rows(known, store, model, [key for _, _, _, key in found])
    # A file read well is no failure (remember_files clears it): look up only the rest.
    unknown = [n for n in seen if n not in at] if len(at) < len(seen) else []
    bad = _unchanged(seen, store.lookup_failures(unknown, installed()) if unknown else {})
    fast, fast_rows, errors, todo = known.fast, [], known.errors, known.todo
    for path, name in zip(paths, names, strict=True):
        i = at.get(name, -1)
        if i >= 0 and rows[i] >= 0:
            _, size, mtime_ns, key = found[i]
            fast.append(PhotoResult(path, key, None, size, mtime_ns))
            fast_rows.append(rows[i])
        elif name not in seen:  # vanished or unreadable: an error already
            continue
        elif name in bad:
            errors.append(PhotoResult(path, error=bad[name]))
        else:
            todo.append(path if isinstance(path, Path) else Path(path))
            known.identities[name] = seen[name]
    known.rows = np.array(fast_rows, dtype=np.int64)
    return known


def _unchanged_files(
    store: Store, seen: dict[str, tuple[int, int]]
) -> tuple[dict[str, int], list[tuple[str, int, int, str]]]:
    """The store's rows (path, size, mtime_ns, hash) whose size and mtime still match the
    file, and the index of each by name."""
    at, found = {}, []
    for row in store.file_rows(list(seen)):
        identity = seen[row[0]]
        if row[1] == identity[0] and row[2] == identity[1]:
            at[row[0]] = len(found)
            found.append(row)
    return at, found


def _stat_each(
    paths: Sequence[str | os.PathLike[str]], names: list[str], errors: list[PhotoResult]
) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of each file a stat answers; an error for each other."""
    seen = {}
    stat = os.stat
    for path, name in zip(paths, names, strict=True):
        try:
            st = stat(name)
        except FileNotFoundError:
            errors.append(PhotoResult(path, error="file vanished before it could be read"))
        except OSError as exc:
            errors.append(PhotoResult(path, error=f"cannot read file: {exc.strerror or exc}"))
        else:
            seen[name] = (st.st_size, st.st_mtime_ns)
    return seen


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off inside, and as it was (on or off) after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _matrix_rows(known: Known, store: Store, model: str, keys: list[str]) -> list[int]:
    """The row of the model's mapped matrix (opened into `known`) holding each key's vector,
    -1 where none: a sorted lookup, where reading a million embeddings back from SQLite
    took half a minute and 2 GB of float32."""
    if not keys:
        return []
    known.matrix = open_matrix(store, model)
    return known.matrix.rows_of(keys, store).tolist()


def _unchanged(seen: dict[str, tuple[int, int]], rows: dict[str, tuple]) -> dict[str, object]:
    """name -> the stored value, for the rows whose (size, mtime_ns) still match the file."""
    found = {}
    for name, (size, mtime_ns, value) in rows.items():
        identity = seen[name]
        if size == identity[0] and mtime_ns == identity[1]:
            found[name] = value
    return found


def known_batches(known: Known, total: int, started: float) -> Iterator[IndexBatch]:
    """The embedded photos (in batches) and the known failures, with progress over `total`."""
    done = cached = failed = 0

    def progress() -> Progress:
        return Progress(done, total, cached, failed, time.monotonic() - started)

    for i in range(0, len(known.fast), BATCH):
        chunk = known.fast[i : i + BATCH]
        done += len(chunk)
        cached += len(chunk)
        vecs = known.matrix.vectors[known.rows[i : i + BATCH]].astype(np.float32)  # type: ignore[union-attr]
        yield IndexBatch(chunk, vecs, progress(), ok=chunk)
    if known.errors:
        done += len(known.errors)
        failed += len(known.errors)
        yield IndexBatch(known.errors, no_vectors(), progress())


def no_vectors() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)
