"""The sorting session: sources, categories and results, kept in step with the worker.

The GUI-side state lives here (not in the window): which folders are sorted, the current
CategorySet and where it is saved, the ResultSet with its vectors, and the jobs running
on the inference worker. Stale worker results are dropped by generation id. Editing the
categories and placing photos by hand are in session_categories.py (mixed in).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QGuiApplication, QUndoStack

from photosorter.core.categories import (
    CategorySet,
)
from photosorter.core.errors import StorageError
from photosorter.core.library.cache import Store
from photosorter.core.library.pipeline import CancelToken
from photosorter.core.library.scanner import holds_images
from photosorter.core.model.examples import override_examples
from photosorter.core.settings import OVERRIDABLE, Overrides, Settings, save_settings
from photosorter.gui.notices import Notice, Problem
from photosorter.gui.photo_model import PhotoModel
from photosorter.gui.results import ResultSet
from photosorter.gui.scoring import Placement, Scoring
from photosorter.gui.session_categories import SessionCategories
from photosorter.gui.thumbnails import DISK_SIDE, ThumbnailLoader
from photosorter.gui.workers import (
    BatchReady,
    IndexRequest,
    InferenceWorker,
    JobFailed,
    JobFinished,
    JobProgress,
    JobStatus,
    ModelChoice,
    ScoringReady,
    StoredGone,
    StoredListed,
    StoredVectors,
    start_thread,
    stop_thread,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusyState:
    """What the status bar shows; `text` empty when nothing runs."""

    text: str
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    cancellable: bool = False


@dataclass(frozen=True)
class Counts:
    per_category: dict[str, int]
    total: int
    errors: int
    examples: dict[str, int] = field(default_factory=dict)  # example photos per category


def thumbnail_side(logical: int = 160) -> int:
    """Thumbnail pixels for a tile of `logical` size: sharp on HiDPI screens too."""
    screen = QGuiApplication.primaryScreen()
    ratio = screen.devicePixelRatio() if screen is not None else 1.0
    return min(DISK_SIDE, round(logical * max(1.0, ratio)))


class Session(SessionCategories, QObject):
    """Sources + categories + results; starts worker jobs and applies what comes back."""

    busy_changed = Signal(BusyState)
    counts_changed = Signal(Counts)
    categories_changed = Signal(CategorySet)
    sources_changed = Signal()
    problems_added = Signal(list)  # list[Problem]
    problems_cleared = Signal()
    notice = Signal(Notice)
    bug = Signal(JobFailed)  # not the user's fault: the window shows the traceback
    run_started = Signal(int)  # the generation of a new job (an older one is superseded)
    run_finished = Signal(JobFinished)
    running_changed = Signal(bool)  # a run started or ended
    settings_changed = Signal()
    scoring_applied = Signal()

    def __init__(
        self,
        settings: Settings,
        store: Store,
        categories: CategorySet,
        categories_path: Path | None,
        *,
        overrides: Overrides | None = None,
        extra_sources: Sequence[Path] = (),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.categories = categories
        self.categories_path = categories_path
        self.overrides = overrides or Overrides()  # --model etc.: in effect until changed here
        self.model_spec, self.device, self.backend = self._engine_in_effect()
        self.extra_sources = [Path(p) for p in extra_sources]
        self.batch_size = 32
        self.results = ResultSet()
        self.thumbnails = ThumbnailLoader(side=thumbnail_side())
        self.model = PhotoModel(self.results, self.thumbnails)
        self.undo_stack = QUndoStack(self)  # every edit the user makes, file operations too
        self.worker = InferenceWorker(store)
        self.worker.batch_ready.connect(self._on_batch)
        self.worker.stored_listed.connect(self._on_stored_listed)
        self.worker.stored_vectors.connect(self._on_stored_vectors)
        self.worker.stored_gone.connect(self._on_stored_gone)
        self.worker.scoring_ready.connect(self._on_scoring)
        self.worker.progress_changed.connect(self._on_progress)
        self.worker.status_changed.connect(self._on_status)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.scoring_failed.connect(self._on_scoring_failed)
        self.worker.encoder_notice.connect(self._on_encoder_notice)
        self.thread = start_thread(self.worker, "photosorter-inference")
        self._generation = 0
        self._scoring_generation = 0
        self._cancel: CancelToken | None = None
        self._running = False
        self._status = ""
        self._progress = JobProgress(0, 0, 0, None)
        self._known_paths: set[str] = set()  # every photo listed, as strings
        self._stored_rows = range(0)  # the rows of the store's listing in this run
        self.encoder_notes: list[str] = []  # engine details, shown in the About box

    # -- sources ---------------------------------------------------------------------------
    @property
    def saved_sources(self) -> list[Path]:
        return [s.path for s in self.settings.sources]

    def roots(self) -> list[Path]:
        return list(dict.fromkeys([*self.saved_sources, *self.extra_sources]))

    def add_sources(self, new: list[Path]) -> None:
        """Add folders or images (remembered in the settings) and sort what they hold."""
        fresh = [Path(p) for p in new if Path(p) not in self.roots()]
        if not fresh:
            return
        settings = self.settings
        for path in fresh:
            settings = settings.with_source(path)
        self.update_settings(settings, restart=False)
        self.sources_changed.emit()
        if self._running:
            self.start_run()  # the running job is cancelled: start over with every source
        else:
            self.start_run(fresh)

    def remove_source(self, path: Path) -> None:
        self.extra_sources = [p for p in self.extra_sources if p != path]
        self.update_settings(self.settings.without_source(path), restart=False)
        self.sources_changed.emit()
        self.start_run()

    def set_watch(self, path: Path, watch: bool) -> None:
        """Watch a folder for new photos, or stop; a folder opened for this run is saved."""
        self.extra_sources = [p for p in self.extra_sources if p != path]
        self.update_settings(self.settings.with_watch(path, watch), restart=False)
        self.sources_changed.emit()

    def forget(self, paths: Sequence[os.PathLike[str] | str]) -> None:
        """Files deleted from disk: they leave the grid and the counts."""
        rows = self.results.forget(paths)
        self._known_paths.difference_update(os.fspath(p) for p in paths)
        if rows:
            self.model.rows_removed(rows)
            self._emit_counts()

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def start_run(self, only: list[Path] | None = None) -> int:
        """Sort every source (clearing the results), or, with `only`, add those to them.

        Returns the job's generation; a running job is cancelled (superseded)."""
        if self._cancel is not None:
            self._cancel.cancel()
        self._generation += 1
        self._scoring_generation += 1
        self.run_started.emit(self._generation)
        if only is None:
            self.results.clear()
            self.model.clear()
            self.thumbnails.reset()  # retry files that failed before; cached ones stay
            self._known_paths.clear()
            self._stored_rows = range(0)
            self.problems_cleared.emit()
            self.results.set_overrides(self.store.overrides())
        roots = self.roots() if only is None else only
        if not roots:
            self._cancel = None
            self._set_running(False)
            self._emit_counts()
            return self._generation
        request = IndexRequest(
            self._generation,
            self._scoring_generation,
            tuple(roots),
            self.categories,
            self.model_choice,
            batch_size=self.batch_size,
            cluster=self.settings.cluster,
            show_stored=only is None,
            threshold=self.settings.threshold,
            min_fit=self.settings.min_fit,
        )
        self._cancel = request.cancel
        self._progress = JobProgress(self._generation, 0, 0, None)
        self._status = "Starting…"
        self._set_running(True)
        self.worker.start_index(request)
        return self._generation

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self._status = "Cancelling…"
            self._emit_busy()

    def _set_running(self, running: bool) -> None:
        changed, self._running = running != self._running, running
        self._emit_busy()
        if changed:
            self.running_changed.emit(running)

    def _emit_busy(self) -> None:
        if not self._running and not self._status:
            self.busy_changed.emit(BusyState(""))
            return
        p = self._progress
        text = self._status or "Sorting photos…"
        self.busy_changed.emit(BusyState(text, p.done, p.total, p.eta_s, self._running))

    @Slot(BatchReady)
    def _on_batch(self, event: BatchReady) -> None:
        if event.generation != self._generation:
            return
        batch = event.batch
        dupes = [r for r in batch.results if str(r.path) in self._known_paths]
        if dupes:  # an added folder overlapping one already sorted
            keep = [r for r in batch.results if r not in dupes]
            ok_idx = [i for i, r in enumerate(batch.ok) if r not in dupes]
            batch = replace(
                batch, results=keep, ok=[batch.ok[i] for i in ok_idx], vectors=batch.vectors[ok_idx]
            )
        self._known_paths.update(str(r.path) for r in batch.results)
        rows = self.results.add_batch(batch, event.raws)
        self.model.rows_added(rows)
        problems = [Problem(r.path, r.error) for r in batch.results if r.error]
        if problems:
            self.problems_added.emit(problems)
        self._emit_counts()

    @Slot(StoredListed)
    def _on_stored_listed(self, event: StoredListed) -> None:
        """The library as the store knows it: shown at once, before the disk is walked."""
        if event.generation != self._generation:
            return
        self._known_paths |= event.paths  # the first rows of a full run
        rows = self.results.add_listing(event.listing, event.has_raw, event.names)
        start = self._stored_rows.start if self._stored_rows else rows.start
        self._stored_rows = range(start, rows.stop)  # pages follow one another
        self.model.rows_added(rows)
        self._emit_counts()

    @Slot(StoredVectors)
    def _on_stored_vectors(self, event: StoredVectors) -> None:
        if event.generation != self._generation:
            return
        vocabulary = event.matrix.vocabulary if event.matrix is not None else None
        rows = self._stored_rows
        self.results.attach_vectors(rows, event.vectors, event.has, event.bounds, vocabulary)
        self.model.refresh()
        self._emit_counts()

    @Slot(StoredGone)
    def _on_stored_gone(self, event: StoredGone) -> None:
        """Listed photos deleted or changed on disk meanwhile: they leave (a changed one
        comes back once indexed again)."""
        if event.generation == self._generation:
            self.forget(event.paths)

    @Slot(ScoringReady)
    def _on_scoring(self, event: ScoringReady) -> None:
        if event.scoring_generation != self._scoring_generation:
            return
        scoring = event.scoring(self.settings.threshold, self.settings.min_fit)
        self._apply_scoring(scoring, event.placed)

    def _apply_scoring(self, scoring: Scoring, placed: Placement | None = None) -> None:
        """Learn from the examples (the file's and every manual placement in the store),
        then re-place every photo from the vectors in memory (or take `placed`, the
        worker's placement, when it still fits): no image is read."""
        corrections = override_examples(self.store, scoring.model_id, scoring.names)
        self.results.set_scoring(scoring, corrections, placed)
        self.model.refresh()
        self._emit_counts()
        self.scoring_applied.emit()

    @Slot(JobProgress)
    def _on_progress(self, event: JobProgress) -> None:
        if event.generation == self._generation:
            self._progress = event
            self._emit_busy()

    @Slot(str)
    def _on_encoder_notice(self, text: str) -> None:
        """Which image encoder runs, and why: for the log and the About box, not the user."""
        log.info("image encoder: %s", text)
        self.encoder_notes.append(text)

    @Slot(JobStatus)
    def _on_status(self, event: JobStatus) -> None:
        if self._cancel is not None and self._cancel.is_set() and self._running:
            return  # keep "Cancelling…"
        self._status = event.text
        self._emit_busy()

    @Slot(JobFinished)
    def _on_finished(self, event: JobFinished) -> None:
        if event.generation != self._generation:
            return
        self._cancel = None
        self._status = ""
        self._set_running(False)
        self.run_finished.emit(event)

    @Slot(JobFailed)
    def _on_failed(self, event: JobFailed) -> None:
        if event.generation != self._generation:
            return
        self._cancel = None
        self._status = ""
        self._set_running(False)
        self.report_failure(event)
        self.run_finished.emit(JobFinished(event.generation, True, 0, 0, 0.0))

    @Slot(JobFailed)
    def _on_scoring_failed(self, event: JobFailed) -> None:
        if event.generation == self._scoring_generation:
            self.report_failure(event)

    def report_failure(self, event: JobFailed) -> None:
        """A job stopped: a plain notice for what the user can fix, else the bug dialog."""
        if event.user_error:
            self.notice.emit(Notice(event.message, "error", True, model_problem=event.model))
        else:
            self.bug.emit(event)

    def _emit_counts(self) -> None:
        res = self.results
        counts = res.counts()
        self.counts_changed.emit(
            Counts(counts, sum(counts.values()), res.error_count, res.example_counts())
        )

    # -- settings ----------------------------------------------------------------------------
    def update_settings(
        self, settings: Settings, restart: bool = True, released: Iterable[str] = ()
    ) -> None:
        """Save new settings; a new model or device re-sorts, a new sensitivity re-scores.
        A setting changed here, or `released`, ends its command line's override."""
        old = self.settings
        self.settings = settings
        changed = [k for k in OVERRIDABLE if getattr(settings, k) != getattr(old, k)]
        self.overrides = self.overrides.without([*changed, *released])
        try:
            save_settings(settings)
        except StorageError as exc:
            self.notice.emit(Notice(str(exc)))
        self.settings_changed.emit()
        if not restart:
            return
        engine = self._engine_in_effect()
        if engine != (self.model_spec, self.device, self.backend):
            self.model_spec, self.device, self.backend = engine
            self.start_run()
        elif (settings.threshold, settings.sensitivity) != (old.threshold, old.sensitivity):
            scoring = self.results.scoring
            if scoring is not None:
                self._apply_scoring(
                    replace(scoring, threshold=settings.threshold, min_fit=settings.min_fit)
                )

    @property
    def model_choice(self) -> ModelChoice:
        """The model, device and encoder the session's jobs run on."""
        return ModelChoice(self.model_spec, self.device, self.backend)

    def _engine_in_effect(self) -> tuple[str, str, str]:
        effective = self.overrides.apply(self.settings)
        return effective.model, effective.device, effective.backend

    def moved(self, mapping: dict[Path, Path]) -> None:
        """Files PhotoSorter moved: keep showing them, at their new place."""
        moved = {os.fspath(old): os.fspath(new) for old, new in mapping.items()}
        self._known_paths = {moved.get(p, p) for p in self._known_paths}
        rows = self.model.rename_paths(mapping)
        res = self.results
        self.thumbnails.moved({k: res.paths[r] for r in rows if (k := res.keys[r]) is not None})

    def keep_in_library(self, folder: Path) -> bool:
        """Photos moved into `folder` stay in the library at their new place: unless a
        folder sorted already holds it, it becomes one (saved), so a restart finds them.
        True when it became one."""
        if any(folder.is_relative_to(root) for root in self.roots()):
            return False
        self.update_settings(self.settings.with_source(folder), restart=False)
        self.sources_changed.emit()
        return True

    def let_go(self, folder: Path) -> None:
        """A folder `keep_in_library` added, its move undone: gone or left without photos,
        it leaves the library again (its photos are back in their folders: nothing to sort)."""
        if folder not in self.saved_sources or holds_images(folder):
            return
        self.update_settings(self.settings.without_source(folder), restart=False)
        self.sources_changed.emit()

    # -- shutdown ----------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the worker after its current step; False if it is still busy (a download)."""
        if self._cancel is not None:
            self._cancel.cancel()
        self.undo_stack.blockSignals(True)  # its destructor must not call back into widgets
        stopped = stop_thread(self.thread, timeout_ms)
        self.thumbnails.shutdown()
        if stopped:
            self.store.close()
        return stopped
