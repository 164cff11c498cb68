"""Scan and index PATHs for the commands that only need embeddings (search, duplicates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.known import PhotoResult, Progress, known_batches, stat_pass
from photosorter.core.library.scanner import check_roots, scan
from photosorter.core.model.engine import Engine

if TYPE_CHECKING:
    from photosorter.core.library.cluster import Cluster


@dataclass
class Indexed:
    """The photos indexed (`vectors[i]` embeds `photos[i]`) and those that failed."""

    photos: list[PhotoResult] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    errors: list[PhotoResult] = field(default_factory=list)
    progress: Progress | None = None  # the last batch's


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
    else read and encoded now (on `cluster` when given), with a progress line on a terminal.

    When the store knows every file, neither the decoders nor the model are imported."""
    import time

    from photosorter.cli.output import ProgressLine

    out = Indexed()
    found = scan(
        check_roots(roots), on_error=lambda p, m: out.errors.append(PhotoResult(p, error=m))
    )
    paths = list(dict.fromkeys([*found, *extra]))
    progress = ProgressLine(err) if err.isatty() else None
    chunks = []
    known = stat_pass(paths, store, engine.model_id)
    if known.todo:
        from photosorter.core.library.pipeline import index_photos

        batches = index_photos(paths, engine, store, known=known, cluster=cluster)
    else:
        batches = known_batches(known, len(paths), time.monotonic())
    for batch in batches:
        out.progress = batch.progress
        out.errors += [r for r in batch.results if r.error]
        if batch.ok:
            out.photos += batch.ok
            chunks.append(batch.vectors)
        if progress:
            progress.update(batch.progress)
    if progress:
        progress.finish()
    if chunks:
        out.vectors = np.concatenate(chunks)
    return out


def report_errors(errors: Sequence[PhotoResult], err: TextIO) -> None:
    for r in errors:
        print(f"error: {r.path}: {r.error}", file=err)
