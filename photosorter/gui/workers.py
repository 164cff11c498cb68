"""Qt adapters that run core generators off the GUI thread and report with signals.

`InferenceWorker` lives on one long-lived QThread and owns the model (`Engine`): it scans,
indexes, builds category matrices, embeds search words and groups duplicates, one job at
a time (matrices and search words also between an index job's batches). `TaskWorker` runs file
operations (apply a plan, undo) on a second thread. Every payload (jobs.py) is a frozen
dataclass carrying the generation id of the request, so the GUI can drop stale results.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from photosorter.core.categories import CategorySet
from photosorter.core.errors import ModelDownloadError, ModelError, PhotoSorterError
from photosorter.core.find.duplicates import find_duplicates
from photosorter.core.find.duplicates import photos_with_info as with_info
from photosorter.core.find.search import text_query
from photosorter.core.library.cache import Store
from photosorter.core.library.catalogue import (
    Listing,
    joined,
    list_stored,
    recheck,
    stored_vectors,
)
from photosorter.core.library.cluster import Cluster
from photosorter.core.library.formats import paired_raws
from photosorter.core.library.pipeline import (
    CancelToken,
    IndexBatch,
    PhotoResult,
    Progress,
    index_photos,
    scoring_params,
)
from photosorter.core.library.scanner import check_roots, scan
from photosorter.core.model.classifier import Examples, build_matrix, vocabulary_bounds
from photosorter.core.model.engine import Engine, ModelSpec
from photosorter.core.model.examples import file_examples, override_examples
from photosorter.gui.columns import sort_names
from photosorter.gui.jobs import (  # noqa: F401 - re-exported: the workers' API
    BatchReady,
    DuplicatesReady,
    DuplicatesRequest,
    IndexedPhoto,
    IndexRequest,
    JobFailed,
    JobFinished,
    JobProgress,
    JobStatus,
    MatrixRequest,
    ModelChoice,
    QueryReady,
    QueryRequest,
    ScoringReady,
    StoredGone,
    StoredListed,
    StoredVectors,
)
from photosorter.gui.scoring import Placement, placement

log = logging.getLogger(__name__)


def _failure(generation: int, exc: BaseException) -> JobFailed:
    if isinstance(exc, PhotoSorterError):
        offline, model = isinstance(exc, ModelDownloadError), isinstance(exc, ModelError)
        return JobFailed(generation, str(exc), True, offline, model=model)
    log.exception("background job failed")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return JobFailed(generation, f"{type(exc).__name__}: {exc}", False, details=text)


class _ReportingEngine(Engine):
    """An Engine that reports its (slow, first-use) load through a status callback."""

    on_status: Callable[[str], None] | None = None

    def load(self, status: Callable[[str], None] | None = None) -> None:
        if not self.loaded and status is None:
            status = self.on_status
        super().load(status)


# -- the inference worker -----------------------------------------------------------------
class InferenceWorker(QObject):
    """Owns the Engine; runs index and matrix jobs on its own thread, one at a time."""

    status_changed = Signal(JobStatus)
    scoring_ready = Signal(ScoringReady)
    batch_ready = Signal(BatchReady)
    stored_listed = Signal(StoredListed)
    stored_vectors = Signal(StoredVectors)
    stored_gone = Signal(StoredGone)
    progress_changed = Signal(JobProgress)
    finished = Signal(JobFinished)
    failed = Signal(JobFailed)
    encoder_notice = Signal(str)  # the fast image encoder fell back, and why (plain words)
    scoring_failed = Signal(JobFailed)
    query_ready = Signal(QueryReady)
    duplicates_ready = Signal(DuplicatesReady)
    query_failed = Signal(JobFailed)
    duplicates_failed = Signal(JobFailed)
    _index_requested = Signal(IndexRequest)
    _matrix_requested = Signal()
    _query_requested = Signal()
    _duplicates_requested = Signal(DuplicatesRequest)

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store
        self._engine: _ReportingEngine | None = None
        self._lock = threading.Lock()
        self._pending_matrix: MatrixRequest | None = None
        self._pending_query: QueryRequest | None = None
        self._generation = 0
        self._cluster: Cluster | None = None
        self._cluster_address = ""
        self._index_requested.connect(self._run_index)
        self._matrix_requested.connect(self._serve_matrix)
        self._query_requested.connect(self._serve_query)
        self._duplicates_requested.connect(self._run_duplicates)

    # Called from the GUI thread; the work itself runs on the worker's thread.
    def start_index(self, request: IndexRequest) -> None:
        self._index_requested.emit(request)

    def request_matrix(self, request: MatrixRequest) -> None:
        """Queue a matrix job; served between batches when an index job is running."""
        with self._lock:
            self._pending_matrix = request  # only the newest one matters
        self._matrix_requested.emit()

    def request_query(self, request: QueryRequest) -> None:
        """Queue search words; served between batches when an index job is running."""
        with self._lock:
            self._pending_query = request  # only the newest words matter
        self._query_requested.emit()

    def find_duplicates(self, request: DuplicatesRequest) -> None:
        self._duplicates_requested.emit(request)

    def _engine_for(self, choice: ModelChoice, generation: int) -> Engine:
        spec, backend = ModelSpec.parse(choice.model), choice.backend
        device = None if choice.device == "auto" else choice.device
        engine = self._engine
        if engine is None or (engine.spec, engine.requested_device, engine.requested_backend) != (
            spec,
            device,
            backend,
        ):
            engine = _ReportingEngine(spec, device, backend=backend)
            self._engine = engine

        def report(text: str) -> None:
            self.status_changed.emit(JobStatus(generation, text))

        engine.on_status = report
        engine.on_notice = self.encoder_notice.emit
        return engine

    @Slot()
    def _serve_matrix(self) -> None:
        self._build_pending_matrix(standalone=True)

    def _build_pending_matrix(self, standalone: bool) -> None:
        with self._lock:
            request, self._pending_matrix = self._pending_matrix, None
        if request is None:
            return
        gen = request.scoring_generation
        try:
            engine = self._engine_for(request.engine, gen)
            ready = self._scoring(engine, gen, request.categories)
        except Exception as exc:
            self.scoring_failed.emit(_failure(gen, exc))
            return
        finally:
            if standalone:
                self.status_changed.emit(JobStatus(gen, ""))
        self.scoring_ready.emit(ready)

    @Slot()
    def _serve_query(self) -> None:
        with self._lock:
            request, self._pending_query = self._pending_query, None
        if request is None:
            return
        gen = request.generation
        try:
            engine = self._engine_for(request.engine, gen)
            vector = text_query(engine, self._store, request.text)
        except Exception as exc:
            self.query_failed.emit(_failure(gen, exc))
            return
        self.query_ready.emit(QueryReady(gen, request.text, vector))

    @Slot(DuplicatesRequest)
    def _run_duplicates(self, request: DuplicatesRequest) -> None:
        """Size, format and perceptual hash of each photo (decoded once for photos indexed
        before they were stored), then the groups."""
        gen = request.generation
        try:
            photos, rows, failed = with_info(self._store, request.photos)
            groups = find_duplicates(photos, request.vectors[rows]) if photos else []
        except Exception as exc:
            self.duplicates_failed.emit(_failure(gen, exc))
            return
        self.duplicates_ready.emit(DuplicatesReady(gen, tuple(groups), tuple(failed)))

    def _scoring(self, engine: Engine, gen: int, categories: CategorySet) -> ScoringReady:
        """The matrix for `categories` and their example photos. A bad example (the user can
        fix it in the categories file) is reported; the categories still work without."""
        matrix = build_matrix(engine, self._store, categories)
        params = scoring_params(engine, self._store)
        try:
            examples = file_examples(categories, engine, self._store)
        except PhotoSorterError as exc:
            self.scoring_failed.emit(_failure(gen, exc))
            examples = Examples.none()
        return ScoringReady(gen, categories, matrix, params, examples, engine.model_id)

    @Slot(IndexRequest)
    def _run_index(self, request: IndexRequest) -> None:
        gen, cancel = request.generation, request.cancel
        started = time.monotonic()
        total = failed = 0
        try:
            if not cancel.is_set():
                total, failed = self._index(request)
        except Exception as exc:
            self.failed.emit(_failure(gen, exc))
            return
        finally:
            self.status_changed.emit(JobStatus(gen, ""))
        elapsed = time.monotonic() - started
        self.finished.emit(JobFinished(gen, cancel.is_set(), total, failed, elapsed))

    def _index(self, request: IndexRequest) -> tuple[int, int]:
        """Scan, build the matrix, index; returns (photos found, failures)."""
        if request.show_stored:
            return self._index_stored(request)
        gen, cancel = request.generation, request.cancel
        self.status_changed.emit(JobStatus(gen, "Looking for photos…"))
        found, problems = self._scan(request.roots, cancel)
        paths = list(found)
        total = len(paths) + len(problems)
        self.progress_changed.emit(JobProgress(gen, 0, total, None))
        try:
            engine, scoring = self._prepare_scoring(request)
        except ModelError:  # no model (offline, say): still show the photos found, unsorted
            self._emit_unsorted(gen, [*problems, *(PhotoResult(p) for p in paths)], total)
            raise
        self.scoring_ready.emit(scoring)
        return self._index_paths(request, engine, paths, problems, 0)

    def _index_stored(self, request: IndexRequest) -> tuple[int, int]:
        """Show what the store knows under the roots (paths, then embeddings, then the
        categories), walk the disk, drop what is gone and index only what is new."""
        gen = request.generation
        self.status_changed.emit(JobStatus(gen, "Opening the library…"))
        pages = []
        for page in list_stored(self._store, request.roots):
            self.stored_listed.emit(_listed(gen, page))
            pages.append(page)
        listing = joined(pages)
        model_id = self._engine_for(request.engine, gen).model_id
        spare = len(listing) // 16  # room for new photos before the matrix must grow
        vectors, has = stored_vectors(self._store, model_id, listing.keys, spare)
        try:
            engine, scoring = self._prepare_scoring(request)
        except ModelError:  # no model: still list what the disk holds now, unsorted
            self.stored_vectors.emit(StoredVectors(gen, vectors, has))
            todo, problems, kept = self._recheck(request, listing, has)
            unsorted = [*problems, *(PhotoResult(p) for p in todo)]
            self._emit_unsorted(gen, unsorted, kept + len(unsorted))
            raise
        # Where each photo goes, worked out here, not on the GUI thread.
        bounds = vocabulary_bounds(vectors[: len(listing)], scoring.matrix)
        placed = self._placement(request, scoring, vectors, bounds)
        self.stored_vectors.emit(StoredVectors(gen, vectors, has, bounds, scoring.matrix))
        del vectors  # the GUI's result set holds the only reference from here on
        self.scoring_ready.emit(replace(scoring, placed=placed))
        todo, problems, kept = self._recheck(request, listing, has)
        return self._index_paths(request, engine, todo, problems, kept)

    def _placement(
        self, request: IndexRequest, ready: ScoringReady, vectors: np.ndarray, bounds: np.ndarray
    ) -> Placement:
        """The stored photos placed as the GUI's result set would, with the user's manual
        placements as examples (it takes this in if no setting or placement changed since)."""
        scoring = ready.scoring(request.threshold, request.min_fit)
        corrections = override_examples(self._store, ready.model_id, scoring.names)
        return placement(scoring, corrections, vectors, bounds)

    def _recheck(
        self, request: IndexRequest, listing: Listing, has: np.ndarray
    ) -> tuple[list[Path], list[PhotoResult], int]:
        """Walk the disk; the listed photos gone from it leave the grid. Returns the photos
        to index, the problems met, and how many listed photos stay."""
        gen, cancel = request.generation, request.cancel
        self.status_changed.emit(JobStatus(gen, "Checking the photos on disk…"))
        found, problems = self._scan(request.roots, cancel)
        checked = recheck(listing, has, found)
        if cancel.is_set():
            return [], [], len(listing)
        self.stored_gone.emit(StoredGone(gen, tuple(checked.gone)))
        return checked.todo, problems, len(listing) - len(checked.gone)

    def _prepare_scoring(self, request: IndexRequest) -> tuple[Engine, ScoringReady]:
        """The engine and the categories' matrix (a ModelError without a model)."""
        gen = request.generation
        engine = self._engine_for(request.engine, gen)
        self.status_changed.emit(JobStatus(gen, "Preparing categories…"))
        return engine, self._scoring(engine, request.scoring_generation, request.categories)

    def _index_paths(
        self,
        request: IndexRequest,
        engine: Engine,
        paths: list[Path],
        problems: list[PhotoResult],
        kept: int,
    ) -> tuple[int, int]:
        """Index `paths` after `kept` photos already shown; returns (photos, failures)."""
        gen, cancel = request.generation, request.cancel
        total, failed = kept + len(paths) + len(problems), len(problems)
        if problems:
            self._emit_unsorted(gen, problems, total)
        self.status_changed.emit(JobStatus(gen, "Sorting photos…"))
        offset = kept + len(problems)
        cluster = self._cluster_for(request.cluster)
        pairs = paired_raws(paths)
        for batch in index_photos(
            paths, engine, self._store, cancel=cancel, batch_size=request.batch_size,
            cluster=cluster,
        ):  # fmt: skip
            p = batch.progress
            failed = len(problems) + p.failed
            batch.progress = Progress(offset + p.done, total, p.cached, failed, p.elapsed_s)
            raws = frozenset(r.path for r in batch.results if r.path in pairs)
            self.batch_ready.emit(BatchReady(gen, batch, raws))
            self.progress_changed.emit(
                JobProgress(gen, batch.progress.done, total, batch.progress.eta_s)
            )
            self._build_pending_matrix(standalone=False)  # an edit need not wait for the run
            self._serve_query()  # nor a search
        return total, failed

    def _cluster_for(self, address: str) -> Cluster | None:
        """The connection to the cluster at `address` (kept for later runs); None: here."""
        if self._cluster is not None and self._cluster_address != address:
            self._cluster.close()
            self._cluster = None
        if address and self._cluster is None:
            self._cluster, self._cluster_address = Cluster.connect(address), address
        return self._cluster

    def _emit_unsorted(self, gen: int, results: list[PhotoResult], total: int) -> None:
        """Photos without embeddings: the files that failed, or (no model) all found."""
        failed = sum(1 for r in results if r.error)
        progress = Progress(failed, total, 0, failed, 0.0)
        self.batch_ready.emit(BatchReady(gen, IndexBatch(results, _no_vectors(), progress)))

    def _scan(
        self, roots: tuple[Path, ...], cancel: CancelToken
    ) -> tuple[Iterator[Path], list[PhotoResult]]:
        """The photos under `roots` as they are found; `problems` fills as they are read."""
        problems: list[PhotoResult] = []
        usable: list[Path] = []
        for root in roots:
            try:
                usable.extend(check_roots([root]))
            except PhotoSorterError as exc:
                problems.append(PhotoResult(Path(root), error=str(exc)))

        def on_error(path: Path, message: str) -> None:
            problems.append(PhotoResult(path, error=message))

        return (scan(usable, on_error=on_error, cancel=cancel) if usable else iter(())), problems


def _listed(gen: int, page: Listing) -> StoredListed:
    """A page of the store's listing with what the grid needs of each photo, worked out
    here rather than on the GUI thread."""
    pairs = paired_raws(Path(p) for p in page.paths)  # a folder listing each
    raws = frozenset(str(p) for p in pairs)
    has_raw = np.fromiter((p in raws for p in page.paths), np.bool_, len(page))
    return StoredListed(gen, page, has_raw, sort_names(page.paths), frozenset(page.paths))


def _no_vectors() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


# -- the file-operations worker -------------------------------------------------------------
@dataclass(frozen=True)
class TaskRequest:
    """A callable run off the GUI thread: `run(cancel, progress) -> result`."""

    generation: int
    kind: str  # "apply" | "undo" | ...
    run: Callable[[CancelToken, Callable[[int, int], None]], Any]
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)


@dataclass(frozen=True)
class TaskFinished:
    generation: int
    kind: str
    result: Any


class TaskWorker(QObject):
    """Runs file operations (apply a plan, undo) one at a time on its own thread."""

    progress_changed = Signal(JobProgress)
    finished = Signal(TaskFinished)
    failed = Signal(JobFailed)
    _requested = Signal(TaskRequest)

    def __init__(self) -> None:
        super().__init__()
        self._requested.connect(self._run)

    def start(self, request: TaskRequest) -> None:
        self._requested.emit(request)

    @Slot(TaskRequest)
    def _run(self, request: TaskRequest) -> None:
        gen = request.generation

        def progress(done: int, total: int) -> None:
            self.progress_changed.emit(JobProgress(gen, done, total, None))

        try:
            result = request.run(request.cancel, progress)
        except Exception as exc:
            self.failed.emit(_failure(gen, exc))
            return
        self.finished.emit(TaskFinished(gen, request.kind, result))


_THREADS: list[QThread] = []  # every thread started here, for running_threads()


def start_thread(worker: QObject, name: str) -> QThread:
    """Move `worker` onto a new, started QThread named `name`."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    _THREADS[:] = [t for t in _THREADS if t.isRunning()]
    _THREADS.append(thread)
    return thread


def running_threads() -> list[str]:
    """Names of worker threads still running (tests assert none is left behind)."""
    return [t.objectName() for t in _THREADS if t.isRunning()]


def stop_thread(thread: QThread, timeout_ms: int = 60_000) -> bool:
    """Ask the thread's event loop to quit and wait for it (after its current job)."""
    thread.quit()
    return thread.wait(timeout_ms)
