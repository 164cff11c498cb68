"""watchdog -> settled, de-duplicated batches of new photos in watched folders.

A file is handed out once it is complete: right after the writer closes it (inotify's
close-after-write), otherwise once its size and mtime have stayed the same for a settle
period. Folders created or moved in are scanned, since their files raise no events of
their own. Paths PhotoSorter writes itself are ignored, so its own moves never loop.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from photosorter.core.errors import PhotoSorterError
from photosorter.core.library.images import is_supported
from photosorter.core.library.scanner import ScanError, check_roots, scan

DEFAULT_SETTLE_S = 1.0


class WatchError(PhotoSorterError):
    """A folder cannot be watched (missing, inotify limit reached, ...)."""


@dataclass
class WatchBatch:
    """New complete files, files that went away, and problems worth telling the user."""

    added: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.problems)


def _hidden(path: Path, roots: Iterable[Path]) -> bool:
    for root in roots:
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return any(part.startswith(".") for part in rel.parts)
    return path.name.startswith(".")


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: only records events in a thread-safe queue."""

    def __init__(self, events: queue.SimpleQueue[tuple[str, str, bool]]) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        if kind == "moved":
            self.events.put(("deleted", src, event.is_directory))
            self.events.put(("moved_in", dest, event.is_directory))
        elif isinstance(event, FileClosedEvent):
            self.events.put(("closed", src, False))
        elif isinstance(event, DirCreatedEvent | DirMovedEvent):
            self.events.put(("moved_in", src, True))
        else:
            self.events.put((kind, src, event.is_directory))


class FolderWatcher:
    """Watch folders; `next_batch()` returns settled new files, de-duplicated.

    Thread model: watchdog's observer thread only enqueues raw events; the caller's
    thread (the one calling `next_batch`) owns every other piece of state.
    """

    def __init__(
        self,
        roots: Iterable[str | os.PathLike[str]],
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        polling: bool = False,
        ignore: Callable[[Path], bool] | None = None,
    ) -> None:
        try:
            self.roots = check_roots(roots)
        except ScanError as exc:
            raise WatchError(str(exc)) from None
        for root in self.roots:
            if not root.is_dir():
                raise WatchError(f"{root}: only folders can be watched")
        self.settle_s = settle_s
        self.polling = polling
        self._ignore = ignore or (lambda _p: False)
        self._events: queue.SimpleQueue[tuple[str, str, bool]] = queue.SimpleQueue()
        self._observer: Observer | PollingObserver | None = None
        # path -> (size, mtime_ns, first time this state was seen, closed after write)
        self._pending: dict[Path, tuple[int, int, float, bool]] = {}
        self._delivered: dict[Path, tuple[int, int]] = {}
        self._own: dict[Path, float] = {}  # paths PhotoSorter itself just wrote
        self._missing_roots: set[Path] = set()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        observer = PollingObserver(timeout=0.5) if self.polling else Observer()
        handler = _Handler(self._events)
        try:
            for root in self.roots:
                if root.is_dir():  # a missing one is reported by next_batch
                    observer.schedule(handler, str(root), recursive=True)
            observer.start()
        except OSError as exc:
            observer.stop()
            raise WatchError(self._explain(exc)) from None
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _explain(exc: OSError) -> str:
        if exc.errno in (errno.ENOSPC, errno.EMFILE):
            return (
                "The system's limit on watched folders (inotify) is reached. Raise it with "
                "`sysctl fs.inotify.max_user_watches=524288`, or watch with polling "
                "(--poll, or the 'Network drive' option), which also suits network drives."
            )
        return f"Cannot watch folder: {exc.strerror or exc}"

    # -- what PhotoSorter writes itself ------------------------------------------------
    def ignore_path(self, path: Path) -> None:
        """Never report `path` (a file PhotoSorter just moved, copied or tagged)."""
        with self._lock:
            self._own[Path(path)] = time.monotonic()

    def _is_own(self, path: Path) -> bool:
        with self._lock:
            return path in self._own or self._ignore(path)

    # -- catching up -------------------------------------------------------------------
    def existing_files(self) -> list[Path]:
        """Every photo already in the watched folders (the cache tells which are new)."""
        found = [p for p in scan(self.roots) if not self._is_own(p)]
        for path in found:
            try:
                st = path.stat()
            except OSError:
                continue
            self._delivered[path] = (st.st_size, st.st_mtime_ns)
        return found

    # -- the batches -------------------------------------------------------------------
    def next_batch(self, timeout: float = 1.0) -> WatchBatch:
        """Wait up to `timeout` s; return what settled in the meantime (maybe empty)."""
        deadline = time.monotonic() + timeout
        batch = WatchBatch()
        linger_until: float | None = None
        while True:
            now = time.monotonic()
            self._drain(batch, wait=min(0.1, max(0.0, deadline - now)))
            self._check_roots(batch)
            self._settle(batch)
            now = time.monotonic()
            if (batch.added or batch.removed or batch.problems) and linger_until is None:
                # A burst: keep collecting briefly so the pipeline gets full batches.
                linger_until = now + min(0.5, self.settle_s)
            done = linger_until is not None and (now >= linger_until or not self._pending)
            if done or len(batch.added) >= 256 or now >= deadline:
                return batch

    def _drain(self, batch: WatchBatch, wait: float) -> None:
        try:
            item = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._record(*item, batch=batch)
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return

    def _record(self, kind: str, src: str, is_dir: bool, batch: WatchBatch) -> None:
        path = Path(src)
        if _hidden(path, self.roots):
            return
        if kind == "deleted":
            if is_dir:
                gone = [p for p in self._delivered if p.is_relative_to(path)]
                gone += [p for p in self._pending if p.is_relative_to(path)]
            else:
                gone = [path]
            for p in gone:
                self._pending.pop(p, None)
                if self._delivered.pop(p, None) is not None and not self._is_own(p):
                    batch.removed.append(p)
            return
        if is_dir:
            if kind == "moved_in" and path.is_dir():  # created or moved in: scan it
                for found in scan([path], on_error=lambda p, m: batch.problems.append(f"{p}: {m}")):
                    self._touch(found, closed=False)
            return
        if is_supported(path):
            self._touch(path, closed=kind == "closed")

    def _touch(self, path: Path, closed: bool) -> None:
        """A file changed: (re)start its settle clock; close-after-write settles at once."""
        if self._is_own(path):
            return
        try:
            st = path.stat()
        except OSError:
            self._pending.pop(path, None)  # gone again before it settled: nothing to do
            return
        state = (st.st_size, st.st_mtime_ns)
        if self._delivered.get(path) == state:
            return
        old = self._pending.get(path)
        since = old[2] if old and old[:2] == state else time.monotonic()
        self._pending[path] = (*state, since, closed)

    def _settle(self, batch: WatchBatch) -> None:
        now = time.monotonic()
        for path, (size, mtime, since, closed) in list(self._pending.items()):
            try:
                st = path.stat()
            except OSError:
                del self._pending[path]
                continue
            state = (st.st_size, st.st_mtime_ns)
            if state != (size, mtime):
                self._pending[path] = (*state, now, False)  # still being written
                continue
            if size == 0 and not closed:
                continue  # an empty placeholder; wait for content or the close event
            if closed or now - since >= self.settle_s:
                del self._pending[path]
                self._delivered[path] = state
                batch.added.append(path)
        # Forget own-path marks after a while, so a later real change is seen again.
        with self._lock:
            for path, when in list(self._own.items()):
                if now - when > 60:
                    del self._own[path]

    def retry_if_changed(self, path: Path) -> bool:
        """A handed-out file could not be read: True if it changed since it settled (a
        writer that paused longer than the settle time), and it is watched again until it
        settles anew; False if it is unchanged (or gone), so the failure is real."""
        settled = self._delivered.get(path)
        try:
            st = path.stat()
        except OSError:
            return False
        state = (st.st_size, st.st_mtime_ns)
        if settled is None or state == settled:
            return False
        if path not in self._pending:
            self._pending[path] = (*state, time.monotonic(), False)
        return True

    def _check_observer(self, batch: WatchBatch) -> None:
        """An observer thread that died (an OS error, say) must not stop watching silently."""
        observer = self._observer
        if observer is None:
            return
        if observer.is_alive() and all(e.is_alive() for e in observer.emitters):
            return
        batch.problems.append("Watching stopped unexpectedly; restarted and caught up.")
        self._restart([r for r in self.roots if r.is_dir()], batch)

    def _check_roots(self, batch: WatchBatch) -> None:
        for root in self.roots:
            exists = root.is_dir()
            if not exists and root not in self._missing_roots:
                self._missing_roots.add(root)
                batch.problems.append(
                    f"Watched folder {root} was removed; watching resumes when it is back."
                )
            elif exists and root in self._missing_roots:
                self._missing_roots.discard(root)
                batch.problems.append(f"Watched folder {root} is back; watching it again.")
                self._restart([root], batch)  # the old inotify watch died with it
        if not self._missing_roots:  # a removed root's watch dies by design
            self._check_observer(batch)

    def _restart(self, rescan: list[Path], batch: WatchBatch) -> None:
        """A fresh observer, then catch up on what arrived in `rescan` meanwhile."""
        if self._observer is not None:
            self.stop()
            try:
                self.start()
            except WatchError as exc:
                batch.problems.append(str(exc))
                return
        for found in scan(rescan):
            self._touch(found, closed=False)

    @property
    def pending_count(self) -> int:
        return len(self._pending)
