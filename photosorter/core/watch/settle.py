"""When a changed file is complete: the settle clock behind FolderWatcher, free of watchdog.

A file is complete right after its writer closes it, or once its size and mtime have
stayed the same for `settle_s`. A photo whose RAW (same name, RAW extension) is still being
written waits for it: the photo carries its RAW when it is moved. Each file is handed out
once per content state; paths PhotoSorter writes itself are ignored for a minute, so its own
moves never come back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from photosorter.core.library.formats import raw_companions

_OWN_FOR_S = 60.0  # how long a path PhotoSorter wrote stays ignored


class Settler:
    """Pending files and their settle clocks; which files were already handed out.

    Not thread-safe except `ignore_path`/`is_own`: one thread (the watcher's caller) owns it.
    """

    def __init__(self, settle_s: float, ignore: Callable[[Path], bool] | None = None) -> None:
        self.settle_s = settle_s
        self._ignore = ignore or (lambda _p: False)
        # path -> (size, mtime_ns, first time this state was seen, closed after write)
        self._pending: dict[Path, tuple[int, int, float, bool]] = {}
        self._delivered: dict[Path, tuple[int, int]] = {}
        self._own: dict[Path, float] = {}  # paths PhotoSorter itself just wrote
        self._lock = threading.Lock()

    # -- what PhotoSorter writes itself ------------------------------------------------
    def ignore_path(self, path: Path) -> None:
        """Never report `path` (a file PhotoSorter just moved, copied or tagged)."""
        with self._lock:
            self._own[Path(path)] = time.monotonic()

    def is_own(self, path: Path) -> bool:
        with self._lock:
            return path in self._own or self._ignore(path)

    # -- state changes -------------------------------------------------------------------
    def known(self, path: Path) -> None:
        """`path` is already there (caught up at start): report it only when it changes."""
        try:
            st = path.stat()
        except OSError:
            return
        self._delivered[path] = (st.st_size, st.st_mtime_ns)

    def touch(self, path: Path, closed: bool) -> None:
        """A file changed: (re)start its settle clock; close-after-write settles at once."""
        if self.is_own(path):
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

    def removed(self, path: Path, is_dir: bool) -> list[Path]:
        """`path` (a file, or a folder and all under it) is gone: the handed-out files lost."""
        if is_dir:
            gone = [p for p in self._delivered if p.is_relative_to(path)]
            gone += [p for p in self._pending if p.is_relative_to(path)]
        else:
            gone = [path]
        lost = []
        for p in gone:
            self._pending.pop(p, None)
            if self._delivered.pop(p, None) is not None and not self.is_own(p):
                lost.append(p)
        return lost

    def settled(self) -> list[Path]:
        """Pending files that are complete now; each is handed out once."""
        now = time.monotonic()
        ready: list[tuple[Path, tuple[int, int]]] = []
        arriving: dict[Path, list[str]] = {}  # folder -> names still being written there
        for path, (size, mtime, since, closed) in list(self._pending.items()):
            try:
                st = path.stat()
            except OSError:
                del self._pending[path]
                continue
            state = (st.st_size, st.st_mtime_ns)
            if state != (size, mtime):
                self._pending[path] = (*state, now, False)  # still being written
            elif (closed or now - since >= self.settle_s) and (size or closed):
                ready.append((path, state))  # an empty file waits for content or its close
                continue
            arriving.setdefault(path.parent, []).append(path.name)
        done = []
        for path, state in ready:
            if raw_companions(path, arriving.get(path.parent, ())):
                continue  # its RAW is still arriving: they go together
            del self._pending[path]
            self._delivered[path] = state
            done.append(path)
        with self._lock:  # forget own-path marks after a while: a later real change counts
            for path, when in list(self._own.items()):
                if now - when > _OWN_FOR_S:
                    del self._own[path]
        return done

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

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)
