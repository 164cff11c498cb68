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
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from photosorter.core.categories import UNCATEGORIZED, CategorySet
from photosorter.core.errors import ImageError
from photosorter.core.library.cache import ImageInfo, Store, as_stored
from photosorter.core.library.decoders import installed
from photosorter.core.library.images import (
    PreprocessSpec,
    decode_photo,
    open_image_file,
    stream_digest,
    to_model_input,
)
from photosorter.core.library.known import (
    IndexBatch,
    Known,
    PhotoResult,
    Progress,
    known_batches,
    no_vectors,
    stat_pass,
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


def scoring_params(engine: Engine, store: Store) -> ScoringParams:
    """The model's logit scale/bias, from the store when known (no model load needed)."""
    info = _model_facts(engine, store)
    return ScoringParams(info["logit_scale"], info["logit_bias"])


def preprocess_spec(engine: Engine, store: Store) -> PreprocessSpec:
    """How the model wants its input, from the store when known (no model load needed)."""
    spec = _model_facts(engine, store)["preprocess"]
    return PreprocessSpec(
        int(spec["size"]),
        tuple(spec["mean"]),
        tuple(spec["std"]),
        spec["interpolation"],
        spec["resize_mode"],
    )


def _model_facts(engine: Engine, store: Store) -> dict:
    """What re-scoring and decoding need to know of the model, kept per model id so that a
    run with nothing new to encode (or only unreadable files) never loads it."""
    info = store.model_info(engine.model_id)
    if info is None or "preprocess" not in info:
        params = engine.scoring_params
        info = {
            "logit_scale": params.logit_scale,
            "logit_bias": params.logit_bias,
            "preprocess": asdict(engine.preprocess_spec),
        }
        store.set_model_info(engine.model_id, info)
    return info


@dataclass
class Prepared:
    """One photo read for indexing: its result, and the model input when it is new."""

    result: PhotoResult
    pixels: np.ndarray | None = None  # None: an error, or the content is already embedded
    info: ImageInfo | None = None  # with pixels: size, format, perceptual hash
    lasting: bool = False  # an error that the same bytes will give again (not an image)


def _prepare(path: Path, spec: PreprocessSpec, store: Store, model: str) -> Prepared:
    """Check the header, hash the whole file; decode it only when its content is new."""

    def read() -> Prepared:
        fh, st = open_image_file(path)
        with fh:
            key = stream_digest(fh)
            result = PhotoResult(path, key, size=st.st_size, mtime_ns=st.st_mtime_ns)
            if store.get_embeddings(model, [key]):  # renamed, moved or copied: already embedded
                return Prepared(result)
            fh.seek(0)
            return decode_for_model(fh, result, spec, st)

    return guarded_read(path, read)


def guarded_read(path: Path, read: Callable[[], Prepared]) -> Prepared:
    """`read()`, with a failure to read the file or decode the image as `path`'s error."""
    try:
        return read()
    except FileNotFoundError:
        return failed_read(path, "file vanished before it could be read")
    except NotRegularFileError as exc:  # a FIFO or device put there since the scan
        return failed_read(path, exc.strerror)
    except OSError as exc:
        return failed_read(path, f"cannot read file: {exc.strerror or exc}")
    except ImageError as exc:
        return Prepared(PhotoResult(path, error=str(exc)), lasting=True)


def decode_for_model(
    source: BinaryIO | bytes,
    result: PhotoResult,
    spec: PreprocessSpec,
    st: os.stat_result | None = None,
) -> Prepared:
    """Decode an open photo (or its bytes) into the model's input and its image info; with
    `st`, the file must not have changed since it was hashed. Raises ImageError."""
    decoded = decode_photo(source, min_side=spec.size)
    if st is not None and _changed(os.fstat(source.fileno()), st):  # type: ignore[union-attr]
        return failed_read(result.path, "file changed while it was read")  # pixels may not match
    return Prepared(result, to_model_input(decoded.image, spec), image_info(decoded))


def _changed(now: os.stat_result, before: os.stat_result) -> bool:
    return (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns)


def failed_read(path: Path, message: str) -> Prepared:
    return Prepared(PhotoResult(path, error=message))


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
        self.identities: dict[str, tuple[int, int]] = {}  # (size, mtime_ns), from the stat pass

    def progress(self) -> Progress:
        return Progress(
            self.done, self.total, self.cached, self.failed, time.monotonic() - self.started
        )

    def write(
        self,
        results: list[PhotoResult],
        fresh: Mapping[str, tuple[np.ndarray, ImageInfo]],
        unreadable: Sequence[PhotoResult] = (),
    ) -> IndexBatch:
        """Store the `fresh` vectors (with their image info) and remember every ok file, and
        the `unreadable` ones (no image, as they are now); results not in `fresh` take their
        vectors from the store."""
        store, model = self.store, self.model
        # As the store keeps them (float16), so a first run ranks exactly as the next ones.
        vectors = {key: as_stored(vector) for key, (vector, _) in fresh.items()}
        if fresh:
            with store.transaction():
                store.put_embeddings(model, vectors.items())
                store.put_image_info((key, info) for key, (_, info) in fresh.items())
        reused = {r.key for r in results if r.key is not None and r.key not in vectors}
        if reused:
            vectors.update(store.get_embeddings(model, list(reused)))  # type: ignore[arg-type]
        ok = [r for r in results if r.key is not None and r.key in vectors]
        store.remember_files((str(r.path), r.size, r.mtime_ns, r.key) for r in ok)  # type: ignore[misc]
        identities = self.identities
        store.remember_failures(
            (
                (str(r.path), *identities[str(r.path)], r.error)
                for r in unreadable
                if str(r.path) in identities
            ),
            installed(),
        )
        self.done += len(results)
        self.failed += sum(1 for r in results if r.error)
        self.cached += sum(1 for r in ok if r.key not in fresh)
        vecs = np.stack([vectors[r.key] for r in ok]) if ok else no_vectors()  # type: ignore[index]
        return IndexBatch(results, vecs, self.progress(), ok=ok)

    def known(
        self, paths: Sequence[Path], known: Known | None = None
    ) -> Generator[IndexBatch, None, list[Path]]:
        """Batches of the photos answered by a stat alone (`stat_pass`: embedded, or known
        to be no readable image) and of those that vanished; returns the paths to read."""
        if known is None:
            known = stat_pass(paths, self.store, self.model)
        self.identities = known.identities
        for ready in known_batches(known, self.total, self.started):
            self.done, self.cached, self.failed = (
                ready.progress.done,
                ready.progress.cached,
                ready.progress.failed,
            )
            yield ready
        return known.todo


def index_photos(
    paths: Sequence[Path],
    engine: Engine,
    store: Store,
    *,
    cancel: CancelToken | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    cluster: RemoteIndexer | None = None,
    known: Known | None = None,
) -> Iterator[IndexBatch]:
    """Embed every photo in `paths`, yielding batches of results with progress; with a
    `cluster`, the photos that need the model are decoded and encoded there. `known`: the
    `stat_pass` of these paths, when the caller has made it already."""
    writer = BatchWriter(store, engine.model_id, len(paths))
    todo = yield from writer.known(paths, known)
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
    spec = preprocess_spec(engine, writer.store)
    planned = False
    workers = workers or max(1, os.cpu_count() or 1)
    batch: list[Prepared] = []
    n_pixels = 0

    def flush() -> IndexBatch:
        nonlocal n_pixels, planned
        fresh: dict[str, Prepared] = {}
        for item in batch:
            if item.pixels is not None and item.result.key not in fresh:
                fresh[item.result.key] = item  # type: ignore[index]
        encoded: dict[str, tuple[np.ndarray, ImageInfo]] = {}
        if fresh:
            if not planned:  # the model loads only once a photo really needs it
                engine.plan_images(len(todo))
                planned = True
            vectors = engine.encode_images(np.stack([p.pixels for p in fresh.values()]))
            encoded = {k: (v, p.info) for (k, p), v in zip(fresh.items(), vectors, strict=True)}  # type: ignore[misc]
        unreadable = [item.result for item in batch if item.lasting]
        out = writer.write([item.result for item in batch], encoded, unreadable)
        batch.clear()
        n_pixels = 0
        return out

    read_ahead = batch_size * 2 + workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        queue: deque[Future[Prepared]] = deque()
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
