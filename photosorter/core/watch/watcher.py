"""watchdog -> settled, de-duplicated batches of new photos in watched folders.

FolderWatcher runs watchdog's observer (and restarts it when it or a watched folder dies)
and turns its events into `WatchBatch`es; when a file is complete is `settle.Settler`'s
job. Folders created or moved in are scanned, since their files raise no events of their
own. Paths PhotoSorter writes itself are ignored, so its own moves never loop.
"""

from __future__ import annotations

import errno
import os
import queue
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
from photosorter.core.library.formats import is_supported
from photosorter.core.library.scanner import ScanError, check_roots, scan
from photosorter.core.watch.settle import Settler

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
        self._settler = Settler(settle_s, ignore)
        self._events: queue.SimpleQueue[tuple[str, str, bool]] = queue.SimpleQueue()
        self._observer: Observer | PollingObserver | None = None
        self._missing_roots: set[Path] = set()

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

    def ignore_path(self, path: Path) -> None:
        """Never report `path` (a file PhotoSorter just moved, copied or tagged)."""
        self._settler.ignore_path(path)

    def retry_if_changed(self, path: Path) -> bool:
        """A handed-out file could not be read: True if it changed since it settled; it is
        then watched again until it settles anew (see `Settler.retry_if_changed`)."""
        return self._settler.retry_if_changed(path)

    @property
    def pending_count(self) -> int:
        return self._settler.pending_count

    # -- catching up -------------------------------------------------------------------
    def existing_files(self) -> list[Path]:
        """Every photo already in the watched folders (the cache tells which are new)."""
        found = [p for p in scan(self.roots) if not self._settler.is_own(p)]
        for path in found:
            self._settler.known(path)
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
            batch.added += self._settler.settled()
            now = time.monotonic()
            if (batch.added or batch.removed or batch.problems) and linger_until is None:
                # A burst: keep collecting briefly so the pipeline gets full batches.
                linger_until = now + min(0.5, self.settle_s)
            done = linger_until is not None and (
                now >= linger_until or not self._settler.has_pending
            )
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
            batch.removed += self._settler.removed(path, is_dir)
            return
        if is_dir:
            if kind == "moved_in" and path.is_dir():  # created or moved in: scan it
                for found in scan([path], on_error=lambda p, m: batch.problems.append(f"{p}: {m}")):
                    self._settler.touch(found, closed=False)
            return
        if is_supported(path):
            self._settler.touch(path, closed=kind == "closed")

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
            self._settler.touch(found, closed=False)
