"""scan -> read + hash -> decode (thread pool) -> batched encode -> cache, as a generator.

Decoding runs in a bounded pool that reads ahead while the model encodes the previous
batch, so both CPU-heavy halves overlap. The pool never holds a whole file: a file is
hashed as it streams by and decoded from disk, once its header proved it an image. A file
whose (path, size, mtime) is known needs only a stat; a file whose content hash is known
(renamed, moved, copied) is read and hashed but never decoded or encoded again.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from photosorter.core.categories import UNCATEGORIZED, CategorySet
from photosorter.core.errors import ImageError
from photosorter.core.library.cache import ImageInfo, Store
from photosorter.core.library.images import (
    PreprocessSpec,
    decode_photo,
    open_image_file,
    stream_digest,
    to_model_input,
)
from photosorter.core.library.perceptual import image_info
from photosorter.core.model.classifier import CategoryMatrix, classify
from photosorter.core.model.engine import Engine, ScoringParams
from photosorter.core.userfiles import NotRegularFileError


class CancelToken:
    """Set from any thread to stop a running job at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


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
    """One photo: its content key when indexed, or the error that stopped it."""

    path: Path
    key: str | None = None
    error: str | None = None
    size: int = 0
    mtime_ns: int = 0


@dataclass
class IndexBatch:
    """Results finished together; `vectors[i]` belongs to `ok[i]`."""

    results: list[PhotoResult]
    vectors: np.ndarray
    progress: Progress
    ok: list[PhotoResult] = field(default_factory=list)


def scoring_params(engine: Engine, store: Store) -> ScoringParams:
    """The model's logit scale/bias, from the store when known (no model load needed)."""
    info = store.model_info(engine.model_id)
    if info is not None:
        return ScoringParams(info["logit_scale"], info["logit_bias"])
    params = engine.scoring_params
    store.set_model_info(
        engine.model_id, {"logit_scale": params.logit_scale, "logit_bias": params.logit_bias}
    )
    return params


@dataclass
class _Prepared:
    result: PhotoResult
    pixels: np.ndarray | None = None  # None: an error, or the content is already embedded
    info: ImageInfo | None = None  # with pixels: size, format, perceptual hash


def _prepare(path: Path, spec: PreprocessSpec, store: Store, model: str) -> _Prepared:
    """Check the header, hash the whole file; decode it only when its content is new."""

    def read() -> _Prepared:
        fh, st = open_image_file(path)
        with fh:
            key = stream_digest(fh)
            result = PhotoResult(path, key, size=st.st_size, mtime_ns=st.st_mtime_ns)
            if store.get_embeddings(model, [key]):  # renamed, moved or copied: already embedded
                return _Prepared(result)
            fh.seek(0)
            return decode_for_model(fh, result, spec, st)

    return guarded_read(path, read)


def guarded_read(path: Path, read: Callable[[], _Prepared]) -> _Prepared:
    """`read()`, with a failure to read the file or decode the image as `path`'s error."""
    try:
        return read()
    except FileNotFoundError:
        return _failed(path, "file vanished before it could be read")
    except NotRegularFileError as exc:  # a FIFO or device put there since the scan
        return _failed(path, exc.strerror)
    except OSError as exc:
        return _failed(path, f"cannot read file: {exc.strerror or exc}")
    except ImageError as exc:
        return _failed(path, str(exc))


def decode_for_model(
    source: BinaryIO | bytes,
    result: PhotoResult,
    spec: PreprocessSpec,
    st: os.stat_result | None = None,
) -> _Prepared:
    """Decode an open photo (or its bytes) into the model's input and its image info; with
    `st`, the file must not have changed since it was hashed. Raises ImageError."""
    decoded = decode_photo(source, min_side=spec.size)
    if st is not None and _changed(os.fstat(source.fileno()), st):  # type: ignore[union-attr]
        return _failed(result.path, "file changed while it was read")  # pixels may not match
    return _Prepared(result, to_model_input(decoded.image, spec), image_info(decoded))


def _changed(now: os.stat_result, before: os.stat_result) -> bool:
    return (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns)


def _failed(path: Path, message: str) -> _Prepared:
    return _Prepared(PhotoResult(path, error=message))


class RemoteIndexer(Protocol):
    """Decodes and encodes a job's new photos elsewhere (cluster.Cluster), yielding the
    batches `writer` wrote; everything before that (stat, hash, the store) stays here."""

    def index(
        self,
        todo: list[Path],
        engine: Engine,
        writer: BatchWriter,
        *,
        cancel: CancelToken | None = None,
        batch_size: int = 32,
    ) -> Iterator[IndexBatch]: ...


class BatchWriter:
    """Counts a job's progress and writes its finished results to the store (the one writer),
    a batch at a time, so that an interrupted job keeps everything written so far."""

    def __init__(self, store: Store, model: str, total: int) -> None:
        self.store, self.model, self.total = store, model, total
        self.done = self.cached = self.failed = 0
        self.started = time.monotonic()

    def progress(self) -> Progress:
        return Progress(
            self.done, self.total, self.cached, self.failed, time.monotonic() - self.started
        )

    def write(
        self, results: list[PhotoResult], fresh: Mapping[str, tuple[np.ndarray, ImageInfo]]
    ) -> IndexBatch:
        """Store the `fresh` vectors (with their image info) and remember every ok file;
        results not in `fresh` take their vectors from the store."""
        store, model = self.store, self.model
        vectors = {key: vector for key, (vector, _) in fresh.items()}
        if fresh:
            with store.transaction():
                store.put_embeddings(model, vectors.items())
                store.put_image_info((key, info) for key, (_, info) in fresh.items())
        reused = {r.key for r in results if r.key is not None and r.key not in vectors}
        if reused:
            vectors.update(store.get_embeddings(model, list(reused)))  # type: ignore[arg-type]
        ok = [r for r in results if r.key is not None and r.key in vectors]
        store.remember_files((str(r.path), r.size, r.mtime_ns, r.key) for r in ok)  # type: ignore[misc]
        self.done += len(results)
        self.failed += sum(1 for r in results if r.error)
        self.cached += sum(1 for r in ok if r.key not in fresh)
        vecs = np.stack([vectors[r.key] for r in ok]) if ok else _empty()  # type: ignore[index]
        return IndexBatch(results, vecs, self.progress(), ok=ok)

    def known(self, paths: Sequence[Path]) -> Iterator[IndexBatch]:
        """Batches of the photos answered by a stat alone (identity known and embedded), then
        of those that cannot be read; returns the paths that need reading."""
        store, model = self.store, self.model
        stats: dict[str, os.stat_result] = {}
        missing: list[PhotoResult] = []
        for path in paths:
            try:
                stats[str(path)] = path.stat()
            except FileNotFoundError:
                missing.append(PhotoResult(path, error="file vanished before it could be read"))
            except OSError as exc:
                missing.append(PhotoResult(path, error=f"cannot read file: {exc.strerror or exc}"))
        known_files = store.lookup_files(list(stats))
        hits: dict[str, str] = {}
        for name, st in stats.items():
            entry = known_files.get(name)
            if entry and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
                hits[name] = entry[2]
        embedded = store.get_embeddings(model, list(set(hits.values())))
        fast: list[PhotoResult] = []
        todo: list[Path] = []
        for path in paths:
            name = str(path)
            if name not in stats:
                continue
            key = hits.get(name)
            if key is not None and key in embedded:
                st = stats[name]
                fast.append(PhotoResult(path, key, size=st.st_size, mtime_ns=st.st_mtime_ns))
            else:
                todo.append(path)
        for i in range(0, len(fast), 4096):
            chunk = fast[i : i + 4096]
            self.done += len(chunk)
            self.cached += len(chunk)
            vecs = np.stack([embedded[r.key] for r in chunk])  # type: ignore[index]
            yield IndexBatch(chunk, vecs, self.progress(), ok=chunk)
        if missing:
            self.done += len(missing)
            self.failed += len(missing)
            yield IndexBatch(missing, _empty(), self.progress())
        return todo


def index_photos(
    paths: Sequence[Path],
    engine: Engine,
    store: Store,
    *,
    cancel: CancelToken | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    cluster: RemoteIndexer | None = None,
) -> Iterator[IndexBatch]:
    """Embed every photo in `paths`, yielding batches of results with progress; with a
    `cluster`, the photos that need the model are decoded and encoded there."""
    writer = BatchWriter(store, engine.model_id, len(paths))
    todo = yield from writer.known(paths)
    if not todo or (cancel and cancel.is_set()):
        return
    if cluster is not None:
        yield from cluster.index(todo, engine, writer, cancel=cancel, batch_size=batch_size)
    else:
        yield from _index_here(todo, engine, writer, cancel, batch_size, workers)


def _index_here(
    todo: list[Path],
    engine: Engine,
    writer: BatchWriter,
    cancel: CancelToken | None,
    batch_size: int,
    workers: int | None,
) -> Iterator[IndexBatch]:
    """Read + hash + decode in a pool, encode in batches on this thread."""
    spec = engine.preprocess_spec
    engine.plan_images(len(todo))
    workers = workers or max(1, os.cpu_count() or 1)
    batch: list[_Prepared] = []
    n_pixels = 0

    def flush() -> IndexBatch:
        nonlocal n_pixels
        fresh: dict[str, _Prepared] = {}
        for item in batch:
            if item.pixels is not None and item.result.key not in fresh:
                fresh[item.result.key] = item  # type: ignore[index]
        encoded: dict[str, tuple[np.ndarray, ImageInfo]] = {}
        if fresh:
            vectors = engine.encode_images(np.stack([p.pixels for p in fresh.values()]))
            encoded = {k: (v, p.info) for (k, p), v in zip(fresh.items(), vectors, strict=True)}  # type: ignore[misc]
        out = writer.write([item.result for item in batch], encoded)
        batch.clear()
        n_pixels = 0
        return out

    read_ahead = batch_size * 2 + workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        queue: deque[Future[_Prepared]] = deque()
        pending = iter(todo)
        try:
            while True:
                while len(queue) < read_ahead and (path := next(pending, None)) is not None:
                    queue.append(pool.submit(_prepare, path, spec, writer.store, writer.model))
                if not queue or (cancel and cancel.is_set()):
                    break
                item = queue.popleft().result()
                batch.append(item)
                n_pixels += item.pixels is not None
                if n_pixels >= batch_size or len(batch) >= batch_size * 8:
                    yield flush()
            if batch and not (cancel and cancel.is_set()):
                yield flush()
        finally:
            for fut in queue:
                fut.cancel()


def _empty() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Classified:
    """A photo's place: its category (None = Uncategorized) or the error that stopped it."""

    path: Path
    key: str | None
    category: str | None
    score: float
    error: str | None = None
    manual: bool = False  # the user put it there by hand (an override)
    margin: float = 0.0  # score minus the runner-up's: small means "check this one"


def classify_photos(
    paths: Sequence[Path],
    engine: Engine,
    store: Store,
    categories: CategorySet,
    matrix: CategoryMatrix,
    params: ScoringParams,
    *,
    cancel: CancelToken | None = None,
    batch_size: int = 32,
    cluster: RemoteIndexer | None = None,
) -> Iterator[tuple[IndexBatch, list[Classified]]]:
    """index_photos, then each batch placed with the store's manual overrides applied."""
    batches = index_photos(
        paths, engine, store, cancel=cancel, batch_size=batch_size, cluster=cluster
    )
    for batch in batches:
        overrides = store.overrides([r.key for r in batch.ok if r.key])
        yield batch, assign(batch, matrix, params, categories, overrides)


def assign(
    batch: IndexBatch,
    matrix: CategoryMatrix,
    params: ScoringParams,
    categories: CategorySet,
    overrides: dict[str, str] | None = None,
) -> list[Classified]:
    """Classify one batch; manual overrides win when their category still exists."""
    out = [Classified(r.path, None, None, 0.0, r.error) for r in batch.results if r.error]
    if batch.ok:
        found = classify(batch.vectors, matrix, params, categories.threshold, categories.margin)
        names = matrix.names
        overrides = overrides or {}
        valid = set(names)
        for r, idx, score, gap in zip(
            batch.ok, found.index, found.score, found.margin, strict=True
        ):
            manual = overrides.get(r.key)  # type: ignore[arg-type]
            if manual == UNCATEGORIZED:  # the user said: none of these
                out.append(Classified(r.path, r.key, None, 1.0, manual=True, margin=1.0))
            elif manual is not None and manual in valid:
                out.append(Classified(r.path, r.key, manual, 1.0, manual=True, margin=1.0))
            else:
                name = names[idx] if idx >= 0 else None
                out.append(Classified(r.path, r.key, name, float(score), margin=float(gap)))
    return out
