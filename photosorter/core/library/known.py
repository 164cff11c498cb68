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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.decoders import installed
from photosorter.core.library.matrix import EmbeddingMatrix, open_matrix

BATCH = 4096  # photos per batch of already-known results
RANGE_MIN = 10_000  # names from which reading a folder's range of the store can pay
V = TypeVar("V")


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
    stated = _stat_each(paths, names, known.errors)
    key_at: list[str | None] = [None] * len(names)  # the content key, where it still holds
    for i, key in _unchanged(stated, _stored_rows(store, list(stated.first))):
        key_at[i] = key
    for i in stated.twice:
        key_at[i] = key_at[stated.first[names[i]]]
    hit = [i for i, key in enumerate(key_at) if key is not None]
    rows = _matrix_rows(known, store, model, [key_at[i] for i in hit])
    in_matrix = rows >= 0
    known.rows = rows[in_matrix]
    fast = np.array(hit, dtype=np.int64)[in_matrix].tolist()
    sizes, mtimes = stated.sizes, stated.mtimes
    known.fast = [PhotoResult(paths[i], key_at[i], None, sizes[i], mtimes[i]) for i in fast]
    rest = np.asarray(sizes) >= 0  # stated, and not embedded as they are
    rest[fast] = False
    _failed_or_todo(known, paths, names, stated, key_at, np.flatnonzero(rest).tolist(), store)
    return known


def _failed_or_todo(
    known: Known,
    paths: Sequence[str | os.PathLike[str]],
    names: list[str],
    stated: _Stated,
    key_at: list[str | None],
    rest: list[int],
    store: Store,
) -> None:
    """The photos at the `rest` positions: failures the store remembers, or to do."""
    # A file read well is no failure (remember_files clears it): look up only the others.
    unknown = [names[i] for i in rest if key_at[i] is None]
    failures = store.lookup_failures(unknown, installed()) if unknown else {}
    bad = dict(_unchanged(stated, ((n, *row) for n, row in failures.items())))
    for i in rest:
        error = bad.get(stated.first[names[i]])
        if error is not None:
            known.errors.append(PhotoResult(paths[i], error=error))
        else:
            path = paths[i]
            known.todo.append(path if isinstance(path, Path) else Path(path))
            known.identities[names[i]] = (stated.sizes[i], stated.mtimes[i])


@dataclass
class _Stated:
    """What a stat of each name said, by position: the size and mtime_ns (-1 where the stat
    failed), where each name was first answered, and the positions of names given again."""

    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)
    twice: list[int] = field(default_factory=list)


def _stat_each(
    paths: Sequence[str | os.PathLike[str]], names: list[str], errors: list[PhotoResult]
) -> _Stated:
    """A stat of each name; an error for each name it does not answer."""
    stated = _Stated()
    sizes, mtimes, first, twice = stated.sizes, stated.mtimes, stated.first, stated.twice
    stat = os.stat
    for i, name in enumerate(names):
        try:
            st = stat(name)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                error = "file vanished before it could be read"
            else:
                error = f"cannot read file: {exc.strerror or exc}"
            errors.append(PhotoResult(paths[i], error=error))
            sizes.append(-1)
            mtimes.append(-1)
        else:
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
            if first.setdefault(name, i) != i:
                twice.append(i)
    return stated


def _stored_rows(store: Store, names: list[str]) -> Iterable[tuple[str, int, int, str]]:
    """The store's rows of `names` (and maybe of other files): looked up a chunk of names at
    a time, or, for many names in one folder that holds few others in the store, that
    folder's range of the store read in order (a million rows in 1.5 s, where the lookups
    take 4-5)."""
    if len(names) >= RANGE_MIN:
        lowest, highest = min(names), max(names)  # every name between shares their prefix
        common = os.path.commonprefix([lowest, highest])  # noqa: RUF071 - a range needs a string prefix
        folder = common[: common.rfind(os.sep)]
        if folder and store.count_under(folder) <= 2 * len(names):
            return store.files_under(folder)
    return store.file_rows(names)


def _unchanged(stated: _Stated, rows: Iterable[tuple[str, int, int, V]]) -> Iterator[tuple[int, V]]:
    """(position, stored value) of the store's (name, size, mtime_ns, value) rows of stated
    names whose size and mtime still match the file's stat."""
    first, sizes, mtimes = stated.first, stated.sizes, stated.mtimes
    for name, size, mtime_ns, value in rows:
        i = first.get(name, -1)
        if i >= 0 and sizes[i] == size and mtimes[i] == mtime_ns:
            yield i, value


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


def _matrix_rows(known: Known, store: Store, model: str, keys: list[str]) -> np.ndarray:
    """The row of the model's mapped matrix (opened into `known`) holding each key's vector,
    -1 where none: a sorted lookup, where reading a million embeddings back from SQLite
    took half a minute and 2 GB of float32."""
    if not keys:
        return np.zeros(0, dtype=np.int64)
    known.matrix = open_matrix(store, model)
    return known.matrix.rows_of(keys, store)


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
