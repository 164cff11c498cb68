"""Watched folders in the app: new photos are sorted or tagged as they arrive.

`WatchWorker` runs on its own QThread and owns the FolderWatchers (no model): it reports
settled new files, deleted files and problems as `FilesArrived`. `Watching` (GUI thread)
hands new files to the session as ordinary sort jobs, never beside another job on the
model, then has FileActions carry out the default action without asking (the user turned
watching on knowingly). The catch-up and own-writes rules are core.autosort's, the same
as `photosorter watch` follows.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox

from photosorter.core.errors import PhotoSorterError
from photosorter.core.library.cache import Store
from photosorter.core.watch.autosort import new_since_last_run
from photosorter.core.watch.watcher import FolderWatcher, WatchError
from photosorter.gui.notices import Notice, Problem
from photosorter.gui.operations import FileActions, OperationDone
from photosorter.gui.session import Session
from photosorter.gui.workers import JobFinished, start_thread

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # how long a file must stay unchanged before it is read (tests lower it)
POLL_S = 0.2  # the longest one round of the watch loop waits for events
RETRY_S = 5.0  # a folder that could not be watched is tried again this often


# -- payloads ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchConfig:
    """What to watch and how. Nothing under `destination` is reported (own moves)."""

    generation: int
    roots: tuple[Path, ...]
    action: str
    destination: Path | None
    polling: bool


@dataclass(frozen=True)
class WatchNote:
    """A folder-level message: watching could not start, a folder went away or came back."""

    text: str
    level: str = "warning"  # "info" | "warning" | "error"
    settings_hint: bool = False
    folder: Path | None = None  # set: the problem is also listed under Problems


@dataclass(frozen=True)
class FilesArrived:
    """New complete files, deleted files and problems from the watch worker."""

    generation: int
    added: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    problems: tuple[WatchNote, ...] = ()
    catch_up: bool = False  # photos that came while PhotoSorter was not watching


@dataclass(frozen=True)
class WatchState:
    """For the indicator: the watched folders and how many new photos were handled."""

    folders: tuple[Path, ...]
    new_photos: int
    action: str


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


# -- the watch worker (its own thread) -----------------------------------------------------
class WatchWorker(QObject):
    """Owns one FolderWatcher per watched folder; polls them from a timer on its thread."""

    files_arrived = Signal(FilesArrived)
    _configure_requested = Signal(WatchConfig)

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store
        self._config: WatchConfig | None = None
        self._watchers: dict[Path, FolderWatcher] = {}
        self._failed: dict[Path, tuple[str, float]] = {}  # root -> (message, next try)
        self._lock = threading.Lock()  # guards _watchers against ignore_paths
        self._ignore_root: Path | None = None
        self._stop = threading.Event()
        self._timer: QTimer | None = None
        self._last_bug = ""
        self._configure_requested.connect(self._configure)

    # Called from the GUI thread.
    def configure(self, config: WatchConfig) -> None:
        self._configure_requested.emit(config)

    def ignore_paths(self, paths: list[Path]) -> None:
        """Files PhotoSorter is about to write: never report them (thread-safe)."""
        with self._lock:
            watchers = list(self._watchers.values())
        for watcher in watchers:
            for path in paths:
                watcher.ignore_path(path)

    def watched_now(self) -> list[Path]:
        """The folders being watched at this moment (thread-safe)."""
        with self._lock:
            return list(self._watchers)

    def request_stop(self) -> None:
        """Stop watching; the thread ends itself after the current round (thread-safe)."""
        self._stop.set()

    def close(self) -> None:
        """Stop every observer; only once the worker's thread has ended."""
        self._close_all()

    # On the worker's thread.
    @Slot(WatchConfig)
    def _configure(self, config: WatchConfig) -> None:
        if not self._stop.is_set():
            try:
                self._apply(config)
            except Exception as exc:
                self._report_bug(exc)
        self._arm()

    def _apply(self, config: WatchConfig) -> None:
        old, self._config = self._config, config
        self._ignore_root = config.destination if config.action != "tag" else None
        if old is not None and old.polling != config.polling:
            self._close_all()  # every folder starts again with the other observer
        for root in [r for r in self._watchers if r not in config.roots]:
            with self._lock:
                watcher = self._watchers.pop(root)
            watcher.stop()
        for root in [r for r in self._failed if r not in config.roots]:
            del self._failed[root]
        for root in config.roots:
            if root not in self._watchers and root not in self._failed:
                self._start_root(root, config)

    def _ignored(self, path: Path) -> bool:
        root = self._ignore_root
        return root is not None and path.is_relative_to(root)

    def _start_root(self, root: Path, config: WatchConfig) -> None:
        """Watch `root`, then catch up on what came while it was not watched."""
        try:
            watcher = FolderWatcher(
                [root], settle_s=SETTLE_S, polling=config.polling, ignore=self._ignored
            )
            watcher.start()
        except WatchError as exc:
            self._fail(root, str(exc))
            return
        notes: tuple[WatchNote, ...] = ()
        if self._failed.pop(root, None) is not None:
            notes = (WatchNote(self.tr("Watching {folder} now.").format(folder=root), "info"),)
        with self._lock:
            self._watchers[root] = watcher
        try:
            fresh = new_since_last_run(self._store, watcher.existing_files(), config.action)
        except (PhotoSorterError, OSError) as exc:
            fresh = []
            text = self.tr("Could not look for photos already in {folder}: {error}")
            text = text.format(folder=root, error=exc)
            notes += (WatchNote(text, folder=root),)
        if fresh or notes:
            event = FilesArrived(config.generation, tuple(fresh), (), notes, catch_up=True)
            self.files_arrived.emit(event)

    def _fail(self, root: Path, message: str) -> None:
        old = self._failed.get(root)
        self._failed[root] = (message, time.monotonic() + RETRY_S)
        if old is not None and old[0] == message:
            return  # said once is enough; retried quietly
        detail = message.removeprefix(f"{root}: ").rstrip(".")
        text = self.tr(
            "Cannot watch {folder}: {reason}. PhotoSorter keeps trying every few seconds."
        )
        text = text.format(folder=root, reason=detail)
        note = WatchNote(text, "error", settings_hint="inotify" in message, folder=root)
        generation = self._config.generation if self._config else 0
        self.files_arrived.emit(FilesArrived(generation, problems=(note,)))

    @Slot()
    def _poll(self) -> None:
        if not self._stop.is_set():
            try:
                self._round()
            except Exception as exc:
                self._report_bug(exc)
        self._arm()

    def _round(self) -> None:
        config = self._config
        if config is None:
            return
        now = time.monotonic()
        for root, (_message, when) in list(self._failed.items()):
            if now >= when:
                self._start_root(root, config)
        with self._lock:
            watchers = list(self._watchers.items())
        for root, watcher in watchers:
            if self._stop.is_set():
                return
            batch = watcher.next_batch(timeout=POLL_S / len(watchers))
            if batch:
                notes = tuple(
                    WatchNote(t, "info")
                    if t.endswith("watching it again.")
                    else WatchNote(t, "warning", folder=root)
                    for t in batch.problems
                )
                event = FilesArrived(
                    config.generation, tuple(batch.added), tuple(batch.removed), notes
                )
                self.files_arrived.emit(event)

    def _arm(self) -> None:
        """Run the next round soon; or, when asked to stop, clean up and end the thread."""
        if self._stop.is_set():
            if self._timer is not None:
                self._timer.stop()
            self._close_all()
            thread = self.thread()
            if thread is not None:
                thread.quit()
            return
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._poll)
        self._timer.start(0 if self._watchers else round(POLL_S * 1000))

    def _close_all(self) -> None:
        with self._lock:
            watchers, self._watchers = list(self._watchers.values()), {}
        self._failed.clear()
        for watcher in watchers:
            watcher.stop()

    def _report_bug(self, exc: Exception) -> None:
        """Never a silent stop: an unexpected error is logged and shown (once)."""
        log.exception("watching folders")
        text = self.tr("Watching folders hit an unexpected error ({kind}: {error}).")
        text = text.format(kind=type(exc).__name__, error=exc)
        if text != self._last_bug:
            self._last_bug = text
            generation = self._config.generation if self._config else 0
            note = WatchNote(text + " " + self.tr("It keeps trying."), "error")
            self.files_arrived.emit(FilesArrived(generation, problems=(note,)))


# -- the GUI side --------------------------------------------------------------------------
@dataclass
class _Job:
    generation: int  # -1 until the session has started it
    paths: list[Path]


class Watching(QObject):
    """Keeps the watch worker in step with the watched sources; arrivals become jobs."""

    state_changed = Signal(WatchState)

    def __init__(self, session: Session, actions: FileActions) -> None:
        super().__init__()
        self.session, self.actions = session, actions
        self.worker: WatchWorker | None = None
        self.thread: QThread | None = None
        self._stopping: list[tuple[QThread, WatchWorker]] = []
        self._generation = 0
        self._config: WatchConfig | None = None
        self._roots: tuple[Path, ...] = ()
        self._pending: dict[Path, None] = {}  # arrived, waiting for the model (ordered set)
        self._job: _Job | None = None
        self._to_apply: list[tuple[Path, str]] = []  # sorted, waiting for the file worker
        self._removed: list[Path] = []  # deletions wait while a file operation runs
        self.new_photos = 0
        self.classified: list[Path] = []  # every arrival sorted so far (tests: once each)
        session.sources_changed.connect(self.sync)
        session.settings_changed.connect(self.sync)
        session.run_started.connect(self._on_run_started)
        session.run_finished.connect(self._on_run_finished)
        actions.finished.connect(self._on_operation_done)
        actions.will_write = self._ignore
        # Asked before a folder is watched with "move": its photos will start moving.
        self.confirm_move: Callable[[Path, Path], bool] = self._confirm_move_with_dialog
        self.sync()

    def state(self) -> WatchState:
        return WatchState(self._roots, self.new_photos, self.session.settings.action)

    # -- switching on and off -------------------------------------------------------------------
    def set_watch(self, path: Path, watch: bool) -> bool:
        """Watch a folder (asking once for the destination a move or copy needs), or stop."""
        settings = self.session.settings
        if watch and settings.action != "tag" and settings.destination is None:
            dest = self.actions.choose_destination(settings.action)
            if dest is None:
                return False
            self.session.update_settings(replace(settings, destination=dest), restart=False)
            settings = self.session.settings
        moving = watch and settings.action == "move" and settings.destination is not None
        if moving and not self.confirm_move(path, settings.destination):
            return False
        self.session.set_watch(path, watch)
        return True

    def _confirm_move_with_dialog(self, folder: Path, destination: Path) -> bool:
        answer = QMessageBox.question(
            self.actions.window,
            self.tr("Watch this folder?"),
            self.tr(
                "Photos in “{folder}”, those already there and every new one, will be "
                "moved into category folders in {destination}.\n\nEach batch can be undone "
                "with Edit > Undo. Change the action (move, copy or tag) in Settings."
            ).format(folder=folder.name, destination=destination),
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Ok,
        )
        return answer == QMessageBox.StandardButton.Ok

    def reset_count(self) -> None:
        """The user has seen the new photos: the badge goes."""
        self.new_photos = 0
        self.state_changed.emit(self.state())

    @Slot()
    def sync(self) -> None:
        """Start, reconfigure or stop the worker to match the settings."""
        settings = self.session.settings
        roots = tuple(_real(p) for p in settings.watched if not p.is_file())
        self._roots = roots
        if not roots:
            self._stop_worker()
        else:
            if self.worker is None:
                self._start_worker()
            dest = settings.destination
            config = WatchConfig(
                self._generation, roots, settings.action, _real(dest) if dest else None,
                settings.watch_polling,
            )  # fmt: skip
            if config != self._config and self.worker is not None:
                self._config = config
                self.worker.configure(config)
        self.state_changed.emit(self.state())

    def _start_worker(self) -> None:
        self._generation += 1
        self.worker = WatchWorker(self.session.store)
        self.worker.files_arrived.connect(self._on_files)
        self.thread = start_thread(self.worker, "photosorter-watch")
        self.thread.finished.connect(self._reap)

    def _stop_worker(self) -> None:
        if self.worker is None or self.thread is None:
            return
        self.worker.request_stop()  # it ends its own thread, without blocking this one
        self._stopping.append((self.thread, self.worker))
        self.worker = self.thread = None
        self._config = None
        self._generation += 1  # what the old worker still sends is dropped
        self._pending.clear()

    @Slot()
    def _reap(self) -> None:
        for thread, worker in [t for t in self._stopping if t[0].isFinished()]:
            worker.close()
            self._stopping.remove((thread, worker))

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop watching and wait for the worker's thread; False if it did not end."""
        self._stop_worker()
        stopped = True
        for thread, worker in self._stopping:
            if not thread.wait(timeout_ms):
                thread.quit()
                stopped = thread.wait(1_000) and stopped
            worker.close()
        self._stopping.clear()
        return stopped

    def _ignore(self, paths: list[Path]) -> None:
        if self.worker is not None:
            self.worker.ignore_paths(paths)

    # -- arrivals -> jobs -> actions ------------------------------------------------------------
    @Slot(FilesArrived)
    def _on_files(self, event: FilesArrived) -> None:
        if event.generation != self._generation:
            return
        for note in event.problems:
            self.session.notice.emit(Notice(note.text, note.level, note.settings_hint))
        listed = [Problem(n.folder, n.text) for n in event.problems if n.folder is not None]
        if listed:
            self.session.problems_added.emit(listed)
        if event.removed:
            for path in event.removed:
                self._pending.pop(path, None)
            self._removed += event.removed
            self._forget_removed()
        for path in event.added:
            if any(path.is_relative_to(root) for root in self._roots):
                self._pending[path] = None
        self._pump()

    def _forget_removed(self) -> None:
        if self.actions.busy or not self._removed:
            return  # a move in flight empties its sources on purpose: wait for its renames
        gone, self._removed = self._removed, []
        self.session.forget(gone)

    def _pump(self) -> None:
        """Start a job for what arrived, unless the model is busy (then after that job)."""
        if self._job is not None or self.session.running or not self._pending:
            return
        paths = list(self._pending)
        self._pending.clear()
        self._job = job = _Job(-1, paths)
        job.generation = self.session.start_run(paths)

    @Slot(int)
    def _on_run_started(self, generation: int) -> None:
        job = self._job
        if job is None or job.generation in (-1, generation):
            return
        self._job = None  # superseded by the user's own run: queue its files again
        self._pending = dict.fromkeys([*job.paths, *self._pending])
        QTimer.singleShot(0, self._pump)

    @Slot(JobFinished)
    def _on_run_finished(self, event: JobFinished) -> None:
        job = self._job
        if job is not None and event.generation == job.generation:
            self._job = None
            if not event.cancelled:  # cancelled by the user, or failed (reported)
                self.classified += job.paths
                self._queue_action(job.paths)
        self._pump()

    def _queue_action(self, paths: list[Path]) -> None:
        """The photos of a finished job that landed in a category (manual pins win)."""
        results = self.session.results
        live = results.live_rows()
        for path in paths:
            row = live.get(path)
            category = results.category_of(row) if row is not None else None
            if category:
                self._to_apply.append((path, category))
        self._apply_pending()

    def _apply_pending(self) -> None:
        if not self._to_apply or self.actions.busy:
            return
        settings = self.session.settings
        items, self._to_apply = self._to_apply, []
        if settings.action != "tag" and settings.destination is None:
            text = self.tr(
                "New photos in watched folders were sorted but stay where they are: "
                "choose a destination folder in Settings."
            )
            self.session.notice.emit(Notice(text, "error", settings_hint=True))
            return
        self.actions.apply_automatically(items, settings.action, settings.destination)

    @Slot(OperationDone)
    def _on_operation_done(self, done: OperationDone) -> None:
        if done.auto and done.done:
            self.new_photos += done.done
            self.state_changed.emit(self.state())
        if done.moved:
            self._to_apply = [(done.moved.get(p, p), c) for p, c in self._to_apply]
        self._forget_removed()
        self._apply_pending()
