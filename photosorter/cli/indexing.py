"""Scan and index PATHs for the commands that only need embeddings (search, duplicates)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.known import Known, PhotoResult, Progress, stat_pass
from photosorter.core.library.matrix import EmbeddingMatrix, open_matrix
from photosorter.core.library.scanner import check_roots, scan_names
from photosorter.core.model.engine import Engine

if TYPE_CHECKING:
    from photosorter.core.library.cluster import Cluster


@dataclass
class Indexed:
    """The photos indexed and those that failed; `photos[i]`'s embedding is row `rows[i]` of
    the model's mapped `matrix` (photos of one content share a row)."""

    photos: list[PhotoResult] = field(default_factory=list)
    errors: list[PhotoResult] = field(default_factory=list)
    progress: Progress | None = None  # the last batch's
    matrix: EmbeddingMatrix | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def vectors(self, photos: np.ndarray | list[int]) -> np.ndarray:
        """The float32 embeddings of `photos` (indices into `photos`)."""
        if self.matrix is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self.matrix.vectors[self.rows[np.asarray(photos, dtype=np.int64)]].astype(np.float32)


def index_paths(
    roots: Sequence[Path],
    engine: Engine,
    store: Store,
    err: TextIO,
    *,
    extra: Sequence[Path] = (),
    cluster: Cluster | None = None,
) -> Indexed:
    """Every image under `roots` (plus `extra` files) embedded: from the store when known,
    else read and encoded now (on `cluster` when given, with a progress line on a terminal);
    then the rows of the model's mapped matrix that hold them (no vectors gathered here).

    When the store knows every file, neither the decoders nor the model are imported."""
    out = Indexed()
    found = scan_names(
        check_roots(roots), on_error=lambda p, m: out.errors.append(PhotoResult(p, error=m))
    )
    names = list(dict.fromkeys([*found, *map(os.fspath, extra)]))  # str: cheap to hash
    known = stat_pass(names, store, engine.model_id)
    out.photos, out.errors = list(known.fast), [*out.errors, *known.errors]
    if known.todo:
        _index_new(out, known, engine, store, err, cluster)
    if out.photos:
        _place_in_matrix(out, known, store, engine.model_id)
    return out


def _index_new(
    out: Indexed,
    known: Known,
    engine: Engine,
    store: Store,
    err: TextIO,
    cluster: Cluster | None,
) -> None:
    """Read and encode the photos the stat pass could not answer (`known.todo`)."""
    from photosorter.cli.output import ProgressLine
    from photosorter.core.library.pipeline import index_photos

    progress = ProgressLine(err) if err.isatty() else None
    # The answered ones are in `out` already.
    todo = Known(todo=known.todo, identities=known.identities)
    for batch in index_photos(known.todo, engine, store, known=todo, cluster=cluster):
        out.progress = batch.progress
        out.errors += [r for r in batch.results if r.error]
        out.photos += batch.ok
        if progress:
            progress.update(batch.progress)
    if progress:
        progress.finish()


def _place_in_matrix(out: Indexed, known: Known, store: Store, model: str) -> None:
    """Map the model's matrix (with the photos embedded just now) and find each photo's row:
    the stat pass's rows for the photos it answered (first in `out.photos`), unless the
    matrix was rebuilt since. A photo whose embedding vanished meanwhile becomes an error."""
    out.matrix = open_matrix(store, model)
    same = known.matrix is not None and known.matrix.generation == out.matrix.generation
    answered = len(known.fast) if same else 0
    rest = out.matrix.rows_of([r.key for r in out.photos[answered:]], store)  # type: ignore[misc]
    rows = np.concatenate([known.rows[:answered], rest])
    lost = rows < 0
    if lost.any():
        gone = set(np.flatnonzero(lost).tolist())
        out.errors += [
            PhotoResult(r.where, error="its embedding was removed from the store meanwhile")
            for i, r in enumerate(out.photos)
            if i in gone
        ]
        out.photos = [r for i, r in enumerate(out.photos) if i not in gone]
        rows = rows[~lost]
    out.rows = rows


def report_errors(errors: Sequence[PhotoResult], err: TextIO) -> None:
    for r in errors:
        print(f"error: {r.path}: {r.error}", file=err)
