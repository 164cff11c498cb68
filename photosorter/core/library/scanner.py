"""Find candidate image files under folders: os.scandir, no hidden files, safe symlinks.

Yields canonical (real, absolute) paths, each file once (as `str` from `scan_names`, which
spares a million-photo library the `Path` objects), in a deterministic order: per
folder, its images sorted by name, then its sub-folders sorted by name, depth first. A RAW
beside its same-stem JPEG is not yielded: the JPEG stands for the pair.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from photosorter.core.errors import PhotoSorterError
from photosorter.core.library.formats import is_supported, without_paired_raws


class ScanError(PhotoSorterError):
    """A folder or file given to scan does not exist or is not usable."""


class _Cancel(Protocol):
    def is_set(self) -> bool: ...


OnError = Callable[[Path, str], None]


def check_roots(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Resolve the given folders/images; raise ScanError naming the first unusable one."""
    checked: list[Path] = []
    for root in roots:
        shown = os.fspath(root)
        try:
            st = os.stat(root)
        except FileNotFoundError:
            raise ScanError(f"{shown}: no such folder or file") from None
        except OSError as exc:
            raise ScanError(f"{shown}: cannot access: {exc.strerror or exc}") from None
        if not (stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and is_supported(root))):
            raise ScanError(f"{shown}: not a folder or image file")
        checked.append(Path(os.path.realpath(root)))
    return checked


def scan(
    roots: Iterable[str | os.PathLike[str]],
    *,
    on_error: OnError | None = None,
    cancel: _Cancel | None = None,
) -> Iterator[Path]:
    """Yield every supported image under `roots` once; unreadable folders go to on_error."""
    yield from map(Path, scan_names(roots, on_error=on_error, cancel=cancel))


def scan_names(
    roots: Iterable[str | os.PathLike[str]],
    *,
    on_error: OnError | None = None,
    cancel: _Cancel | None = None,
) -> Iterator[str]:
    """`scan`, yielding the real paths as `str`."""
    resolved = check_roots(roots)
    walker = _Walker(resolved, on_error, cancel)
    for root in resolved:
        if walker.cancelled():
            return
        yield from walker.walk_root(root)


def holds_images(folder: str | os.PathLike[str]) -> bool:
    """Whether any supported image lies under `folder` (False when it is gone); stops at
    the first one found."""
    try:
        return next(scan_names([folder]), None) is not None
    except ScanError:
        return False


class _Walker:
    """State shared across roots: visited folders and yielded files, so each counts once."""

    def __init__(self, roots: list[Path], on_error: OnError | None, cancel: _Cancel | None):
        self.prefixes = [_prefix(str(r)) for r in roots if r.is_dir()]
        self.on_error = on_error
        self.cancel = cancel
        self.visited: set[tuple[int, int]] = set()
        self.yielded: set[str] = set()

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def inside_roots(self, real: str) -> bool:
        key = os.path.normcase(real)
        return any(key == p.rstrip(os.sep) or key.startswith(p) for p in self.prefixes)

    def report(self, path: str, message: str) -> None:
        if self.on_error is not None:
            self.on_error(Path(path), message)

    def new_files(self, reals: list[str]) -> list[str]:
        """Those of `reals` not yielded yet (now marked yielded)."""
        yielded, fresh = self.yielded, []
        for real in reals:
            key = os.path.normcase(real)
            if key not in yielded:
                yielded.add(key)
                fresh.append(real)
        return fresh

    def enter(self, real: str, st: os.stat_result) -> bool:
        """Mark a folder visited; False when it was already (a loop or an overlap)."""
        ident = (st.st_dev, st.st_ino)
        if ident in self.visited:
            return False
        self.visited.add(ident)
        return True

    def walk_root(self, root: Path) -> Iterator[str]:
        real = str(root)
        try:
            st = os.stat(real)
        except OSError as exc:  # vanished since check_roots
            self.report(real, f"cannot read folder: {exc.strerror or exc}")
            return
        if not stat.S_ISDIR(st.st_mode):  # an explicitly given image file, hidden or not
            yield from self.new_files([real])
            return
        if not self.enter(real, st):
            return
        stack = [real]
        while stack:
            if self.cancelled():
                return
            folder = stack.pop()
            files, dirs = self.list_folder(folder)
            yield from self.new_files(files)
            stack.extend(reversed(dirs))

    def list_folder(self, folder: str) -> tuple[list[str], list[str]]:
        """Real paths of the images and the not-yet-visited sub-folders directly in folder."""
        files: list[str] = []
        dirs: list[str] = []
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.report(folder, f"cannot read folder: {exc.strerror or exc}")
            return files, dirs
        for entry in entries:
            try:
                if _is_hidden(entry):
                    continue
                if entry.is_symlink():
                    self.add_link(entry, files, dirs)
                elif entry.is_dir(follow_symlinks=False):
                    if self.enter(entry.path, entry.stat(follow_symlinks=False)):
                        dirs.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and is_supported(entry.name):
                    files.append(entry.path)
            except FileNotFoundError:  # deleted since the folder was listed
                continue
            except OSError as exc:  # cannot be stat'ed
                self.report(entry.path, f"cannot read: {exc.strerror or exc}")
        return without_paired_raws(files), dirs

    def add_link(self, entry: os.DirEntry[str], files: list[str], dirs: list[str]) -> None:
        """Follow a symlink only when its target lies inside one of the roots."""
        real = os.path.realpath(entry.path)
        if not self.inside_roots(real):
            return
        try:
            st = os.stat(real)
        except OSError:  # dangling or looping link
            return
        if stat.S_ISDIR(st.st_mode):
            if self.enter(real, st):
                dirs.append(real)
        elif stat.S_ISREG(st.st_mode) and is_supported(real):
            files.append(real)


def _prefix(real: str) -> str:
    key = os.path.normcase(real)
    return key if key.endswith(os.sep) else key + os.sep


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    """Dot-files everywhere; on Windows also the hidden attribute (stat is free there)."""
    if entry.name.startswith("."):
        return True
    if sys.platform == "win32":
        attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
        return bool(attrs & stat.FILE_ATTRIBUTE_HIDDEN)
    return False
