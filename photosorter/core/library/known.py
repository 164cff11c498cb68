"""What the store already knows of a list of files, from a stat each: no file is read.

A file whose (path, size, mtime) the store has seen is either embedded already (its
vector is ready, in the model's mapped matrix) or known to be no readable image (its error
is ready); only the rest needs the decode + encode pipeline. This module imports neither
Pillow nor the model, so a search over an indexed folder answers without loading them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
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


@dataclass(frozen=True)
class PhotoResult:
    """One photo: its content key when indexed, or the error that stopped it. `where` is its
    path as given: given as `str`, its `Path` is made only when `path` is first read (a
    search over a million photos reports a few)."""

    where: str | os.PathLike[str]
    key: str | None = None
    error: str | None = None
    size: int = 0
    mtime_ns: int = 0

    @cached_property
    def path(self) -> Path:
        return self.where if isinstance(self.where, Path) else Path(self.where)


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
    `rows[i]` of `matrix`), known failures, and the rest to do."""

    fast: list[PhotoResult] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: EmbeddingMatrix | None = None
    errors: list[PhotoResult] = field(default_factory=list)
    todo: list[Path] = field(default_factory=list)
    stats: dict[str, os.stat_result] = field(default_factory=dict)


def stat_pass(paths: Sequence[str | os.PathLike[str]], store: Store, model: str) -> Known:
    """Sort `paths` by a stat each: embedded as they are, failed as they are, or to do.

    The work is done on `str` names; a name given as `str` stays one in the results (their
    `path` is made when read), and becomes a `Path` only in `todo`."""
    known = Known()
    stats = known.stats
    names = [os.fspath(p) for p in paths]
    for path, name in zip(paths, names, strict=True):
        try:
            stats[name] = os.stat(name)
        except FileNotFoundError:
            known.errors.append(PhotoResult(path, error="file vanished before it could be read"))
        except OSError as exc:
            known.errors.append(PhotoResult(path, error=f"cannot read file: {exc.strerror or exc}"))
    stated = list(stats)
    hits = _unchanged(stats, store.lookup_files(stated))
    row_of = _matrix_rows(known, store, model, hits)
    # A file read well is no failure (remember_files clears it): look up only the rest.
    unknown = [n for n in stated if n not in hits]
    bad = _unchanged(stats, store.lookup_failures(unknown, installed()) if unknown else {})
    fast_rows = []
    for path, name in zip(paths, names, strict=True):
        if name not in stats:
            continue
        row = row_of.get(name, -1)
        if row >= 0:
            st = stats[name]
            known.fast.append(
                PhotoResult(path, hits[name], size=st.st_size, mtime_ns=st.st_mtime_ns)
            )
            fast_rows.append(row)
        elif name in bad:
            known.errors.append(PhotoResult(path, error=bad[name]))
        else:
            known.todo.append(path if isinstance(path, Path) else Path(path))
    known.rows = np.array(fast_rows, dtype=np.int64)
    return known


def _matrix_rows(known: Known, store: Store, model: str, hits: dict[str, str]) -> dict[str, int]:
    """name -> the row of the model's mapped matrix (opened into `known`) holding its vector:
    a sorted lookup, where reading a million embeddings back from SQLite took half a minute
    and 2 GB of float32."""
    if not hits:
        return {}
    known.matrix = open_matrix(store, model)
    rows = known.matrix.rows_of(list(hits.values()), store)
    return dict(zip(hits, rows.tolist(), strict=True))


def _unchanged(stats: dict[str, os.stat_result], rows: dict[str, tuple]) -> dict[str, object]:
    """name -> the stored value, for the rows whose (size, mtime_ns) still match the file."""
    found = {}
    for name, (size, mtime_ns, value) in rows.items():
        st = stats[name]
        if size == st.st_size and mtime_ns == st.st_mtime_ns:
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
