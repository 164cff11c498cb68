"""Thumbnails shared with the desktop: the freedesktop.org Thumbnail Managing Standard.

File managers (GNOME, KDE, Xfce) keep a PNG per photo under $XDG_CACHE_HOME/thumbnails,
named by the MD5 of the photo's file URI and valid while its mtime and size are unchanged.
PhotoSorter reads theirs and writes its own there, so each photo is decoded once for both.
A thumbnail is read like any file that is not ours: regular files only, bytes bounded, a
PNG whose size fits its folder, about this very file as it is now; anything else is a miss.
A photo that cannot be thumbnailed is recorded under fail/photosorter-VERSION until it
changes. Only on Linux and the BSDs: macOS and Windows have no such shared folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import stat
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from PIL import Image, PngImagePlugin

from photosorter import __version__
from photosorter.core.library.images import to_rgb
from photosorter.core.userfiles import open_regular, temp_name

log = logging.getLogger(__name__)

# The standard's size folders and the side each thumbnail must fit in, smallest first.
FOLDERS: tuple[tuple[str, int], ...] = (
    ("normal", 128),
    ("large", 256),
    ("x-large", 512),
    ("xx-large", 1024),
)
# A thumbnail file larger than this is not read: a 1024 px RGBA PNG stored without any
# compression is 4 MiB, plus its text chunks.
MAX_THUMBNAIL_BYTES = 5 << 20
# What GLib's g_filename_to_uri leaves unescaped in a path besides letters, digits and
# "-._~" (its UNSAFE_PATH table); the MD5 name must match the file manager's to the byte.
_URI_SAFE = "/!$&'()*+,:=@"
# zlib level for the PNGs written: a 256 px photo thumbnail encodes 4x faster at 3 than at
# Pillow's default 6 for 13% more bytes (level 1: 7x faster, 24% more).
_PNG_LEVEL = 3
_FAIL_FOLDER = f"fail/photosorter-{__version__}"
_ERROR_KEY = "X-PhotoSorter::Error"  # why a photo failed: the standard's own-namespace key
_PNG_ERRORS = (Warning, OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class Original:
    """A photo as the standard names it: its URI, and the mtime and size a thumbnail of it
    must carry to be valid."""

    uri: str
    mtime: int
    size: int

    @property
    def name(self) -> str:
        """The thumbnail's file name: the MD5 of the URI, in hex, + '.png'."""
        return hashlib.md5(self.uri.encode("ascii"), usedforsecurity=False).hexdigest() + ".png"


def supported() -> bool:
    """Whether this platform keeps thumbnails by the freedesktop standard."""
    return os.name == "posix" and sys.platform != "darwin"


def thumbnails_root() -> Path:
    """$XDG_CACHE_HOME/thumbnails; ~/.cache/thumbnails when the variable is unset, blank or
    relative (the XDG base directory spec says to ignore a relative one)."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return Path(cache if os.path.isabs(cache) else Path.home() / ".cache") / "thumbnails"


def file_uri(path: str | os.PathLike[str]) -> str:
    """The canonical file:// URI of `path`, byte for byte as GLib writes it (RFC 2396)."""
    return "file://" + quote(os.fsencode(os.path.abspath(path)), safe=_URI_SAFE)


def original(path: str | os.PathLike[str]) -> Original | None:
    """`path` as the standard sees it now; None when the standard does not apply to it:
    another platform, not a readable regular file, or itself in the thumbnails folder."""
    if not supported():
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.R_OK):
        return None
    root = os.path.realpath(thumbnails_root())
    if os.path.realpath(path).startswith(root + os.sep):
        return None
    return Original(file_uri(path), int(st.st_mtime), st.st_size)


def folder_for(side: int) -> str:
    """The size folder whose thumbnails fit a `side` px square: the smallest that is enough."""
    return next((name for name, limit in FOLDERS if side <= limit), FOLDERS[-1][0])


def find(photo: Original, side: int) -> Image.Image | None:
    """A valid thumbnail of `photo` (RGB) from the folder for `side`, else from a larger one."""
    start = [name for name, _ in FOLDERS].index(folder_for(side))
    for name, limit in FOLDERS[start:]:
        found = _read_valid(thumbnails_root() / name / photo.name, photo, limit)
        if found is not None:
            return to_rgb(found[0])
    return None


def save(photo: Original, img: Image.Image, side: int) -> Path | None:
    """Store `img` as `photo`'s thumbnail in the folder for `side` (scaled down to fit it).
    The path written, or None when the folder cannot be written (that only costs speed)."""
    name = folder_for(side)
    limit = dict(FOLDERS)[name]
    if max(img.size) > limit:
        img = img.copy()
        img.thumbnail((limit, limit), Image.Resampling.BICUBIC)
    return _write(thumbnails_root() / name / photo.name, img.convert("RGBA"), photo, {})


def failure(photo: Original) -> str | None:
    """Why `photo` could not be thumbnailed, when PhotoSorter recorded that for it unchanged."""
    found = _read_valid(thumbnails_root() / _FAIL_FOLDER / photo.name, photo, 1)
    if found is None:
        return None
    return found[1].get(_ERROR_KEY) or "could not be read before, and is unchanged since"


def record_failure(photo: Original, path: str | os.PathLike[str], reason: str) -> Path | None:
    """Record that `photo` (at `path`) cannot be thumbnailed, so that nobody tries again
    until it changes; not when `path` is no longer that file (moved, changed meanwhile)."""
    if original(path) != photo:
        return None
    blank = Image.new("RGBA", (1, 1), (0, 0, 0, 0))
    where = thumbnails_root() / _FAIL_FOLDER / photo.name
    return _write(where, blank, photo, {_ERROR_KEY: reason})


def _read_valid(
    path: Path, photo: Original, limit: int
) -> tuple[Image.Image, dict[str, str]] | None:
    """The loaded PNG at `path` and its text when it is a thumbnail of `photo` as it is now
    and fits `limit`; None for anything else (missing, odd, too large, stale, another URI)."""
    try:
        with open_regular(path, follow_symlinks=False) as fh:
            data = fh.read(MAX_THUMBNAIL_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_THUMBNAIL_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            if max(img.size) > limit:
                return None
            img.load()  # text chunks may follow the pixels
            text = {str(k): str(v) for k, v in img.text.items()}
            return (img.copy(), text) if _describes(text, photo) else None
    except _PNG_ERRORS:
        return None


def _describes(text: dict[str, str], photo: Original) -> bool:
    """The standard's check: the same URI and mtime, and the same size where it is given."""
    try:
        same_size = "Thumb::Size" not in text or int(text["Thumb::Size"]) == photo.size
        return (
            text.get("Thumb::URI") == photo.uri
            and int(text.get("Thumb::MTime", "")) == photo.mtime
            and same_size
        )
    except ValueError:
        return False


def _write(dst: Path, img: Image.Image, photo: Original, extra: dict[str, str]) -> Path | None:
    """Write a PNG with the standard's text atomically: a 0600 temporary file beside `dst`
    renamed over it, in folders made 0700."""
    info = PngImagePlugin.PngInfo()
    text = {"Thumb::URI": photo.uri, "Thumb::MTime": str(photo.mtime)}
    text |= {"Thumb::Size": str(photo.size), "Software": f"PhotoSorter {__version__}"}
    for key, value in (text | extra).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info, compress_level=_PNG_LEVEL)
    tmp = temp_name(dst)
    try:
        _make_private_folders(dst.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(tmp, flags, 0o600), "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, dst)
    except OSError as exc:  # a full or read-only cache: the next run decodes again
        log.debug("cannot write thumbnail %s: %s", dst, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return None
    return dst


def _make_private_folders(folder: Path) -> None:
    """`folder` and those from the thumbnails folder down to it, each made 0700."""
    root = thumbnails_root()
    root.parent.mkdir(parents=True, exist_ok=True)  # ~/.cache: not ours, the usual mode
    chain = [folder, *folder.parents]
    for part in reversed(chain[: chain.index(root) + 1]):
        part.mkdir(mode=0o700, exist_ok=True)
