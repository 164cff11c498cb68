"""Files beside the user's: open only regular ones, never blocking; name our temporaries.

A FIFO, a device or a socket named `x.jpg` or `x.jpg.xmp` must never hang a sort, a tag
or a recovery: `open_regular` opens with O_NONBLOCK (so a FIFO without a writer returns at
once), checks with fstat that the descriptor is a regular file, and only then hands out a
file object. Every read of a photo, sidecar or companion goes through it.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import stat
import uuid
from pathlib import Path
from typing import BinaryIO

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_TEMP_SUFFIX = ".photosorter-tmp"
_CHUNK = 1 << 20
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The path names something other than a regular file; nothing was read from it."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> BinaryIO:
    """Open `path` for binary reading if it is a regular file; NotRegularFileError if not.

    Never blocks on a FIFO or device. `follow_symlinks=False` refuses a symlink itself
    (ELOOP from O_NOFOLLOW surfaces as NotRegularFileError).
    """
    flags = os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:
            raise NotRegularFileError(
                errno.ELOOP, "is a symbolic link; left as it is", os.fspath(path)
            ) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            why = f"is {_kind(mode)}, not a file"
            raise NotRegularFileError(errno.EINVAL, why, os.fspath(path))
        if _NONBLOCK:
            os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
        fh.raw.name = os.fspath(path)  # named by its path, as open() names a file
        return fh
    except BaseException:
        os.close(fd)
        raise


def regular_size(path: str | os.PathLike[str]) -> int:
    """The size of the regular file at `path` (lstat-free: symlinks followed); else raises."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(
            errno.EINVAL, f"is {_kind(st.st_mode)}, not a file", os.fspath(Path(path))
        )
    return st.st_size


def temp_name(dst: Path) -> Path:
    """A hidden temporary name beside `dst` (the scanner skips dot-files).

    `dst`'s name is cut to fit the folder's limit on name bytes (NAME_MAX), never inside
    a UTF-8 character.
    """
    tail = f".{uuid.uuid4().hex[:8]}{_TEMP_SUFFIX}"
    budget = _name_max(dst.parent) - len(os.fsencode(f".{tail}"))
    return dst.with_name(f".{_cut_name(dst.name, budget)}{tail}")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no such folder
        return 255


def _cut_name(name: str, budget: int) -> str:
    """`name` cut to at most `budget` bytes on disk, ending on a whole character."""
    raw = os.fsencode(name)
    if len(raw) <= budget:
        return name
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    return decoder.decode(raw[: max(budget, 0)], final=False)  # holds back a cut character


# -- the content hash: the store's key for a photo, the journal's proof of a copy ---------
def new_digest() -> hashlib.blake2b:
    """An empty content digest (blake2b-128), for hashing while copying."""
    return hashlib.blake2b(digest_size=16)


def hash_bytes(data: bytes) -> str:
    """The content hash of `data`."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_stream(fh: BinaryIO) -> str:
    """The content hash of an open file's remaining bytes, read a chunk at a time."""
    digest = new_digest()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    while n := fh.readinto(buf):  # type: ignore[attr-defined]
        digest.update(view[:n])
    return digest.hexdigest()
