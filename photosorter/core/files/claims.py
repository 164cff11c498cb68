"""Claims: two PhotoSorter processes (CLI, app, watcher) never act on the same file at once.

A claim is an OS advisory lock (`flock`) on a lock file in the per-user lock folder
(`<data dir>/locks`), named by a hash of the file's absolute path: nothing is written into
the user's folders, the lock is keyed by path whichever store a process uses, and the OS
releases it when the process dies (even by SIGKILL). A claim never waits: a file claimed by
another process is left to it (`ClaimedError`). Whoever claims a file re-checks it is still
there before acting on it.

The lock file is removed by its holder while it holds the lock; a claimer that then finds
it locked a removed file tries again (the usual lock-file protocol).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from photosorter.core.errors import FileOpError
from photosorter.core.paths import data_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class ClaimedError(FileOpError):
    """Another PhotoSorter process is acting on this file right now; it was left to it."""


def lock_dir() -> Path:
    """The per-user folder holding the lock files."""
    return data_dir() / "locks"


def _lock_path(path: Path) -> Path:
    key = os.fsencode(os.path.realpath(path))
    return lock_dir() / f"{hashlib.blake2b(key, digest_size=16).hexdigest()}.lock"


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _acquire(path: Path) -> tuple[Path, int] | None:
    """Lock `path`'s lock file: (lock file, fd), or None when another process holds it."""
    lock = _lock_path(path)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        fd = os.open(lock, flags, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            return None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False)):
                return lock, fd
        except FileNotFoundError:
            pass  # its holder removed it after we opened it: take a fresh one
        os.close(fd)


def _release(lock: Path, fd: int) -> None:
    if fcntl is not None:  # Windows cannot remove an open file; its lock files stay
        with contextlib.suppress(OSError):
            os.unlink(lock)
    os.close(fd)


@contextlib.contextmanager
def claim(paths: Iterable[Path]) -> Iterator[None]:
    """Hold claims on all `paths` for the block; ClaimedError if another process has one."""
    lock_dir().mkdir(parents=True, exist_ok=True)
    held: list[tuple[Path, int]] = []
    try:
        for path in dict.fromkeys(Path(os.path.abspath(p)) for p in paths):
            got = _acquire(path)
            if got is None:
                raise ClaimedError(
                    f"another PhotoSorter process is handling {path} right now; left to it"
                )
            held.append(got)
        yield
    finally:
        for lock, fd in reversed(held):
            _release(lock, fd)
