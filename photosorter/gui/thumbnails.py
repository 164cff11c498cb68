"""Thumbnails: QRunnables make QImages off the GUI thread; the GUI thread keeps QPixmaps.

Only what the view paints is requested, newest request first, so a fast scroll through
10,000 photos never queues work for rows long gone. A decoded thumbnail is kept twice: as
a small JPEG under our cache dir keyed by content hash (read first: 10x quicker than a PNG,
it survives a move or rename, and serves macOS and Windows), and as the desktop's shared
PNG (freedesktop standard, by file URI), so that the file manager and PhotoSorter decode
each photo once between them. The next run reads 20 KB, not 20 MB.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from photosorter.core import paths
from photosorter.core.errors import ImageError, PhotoSorterError
from photosorter.core.library import desktop_thumbnails
from photosorter.core.library.images import thumbnail

log = logging.getLogger(__name__)

DISK_SIDE = 256  # side of the JPEGs kept on disk: sharp enough for any grid zoom
MEMORY_BYTES = 192 * 1024 * 1024  # pixmaps kept in memory
MAX_PENDING = 256  # requests waiting for a thread; older (scrolled-away) ones are dropped


@dataclass(frozen=True)
class ImageReady:
    """A decoded image (or the reason it failed) for request `ticket` of `generation`."""

    generation: int
    ticket: str
    image: QImage | None
    error: str | None = None


def thumbnail_dir() -> Path:
    return paths.cache_dir() / "thumbnails"


def to_qimage(img: Image.Image) -> QImage:
    """A deep-copied QImage of an RGB PIL image (safe to hand to another thread)."""
    img = img.convert("RGB")
    data = img.tobytes("raw", "RGB")
    w, h = img.size
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def load_thumbnail(key: str, source: Path, side: int) -> Image.Image:
    """The thumbnail of `source`: ours by content hash (the quickest read, and it survives a
    move), else the desktop's while valid, else decoded once and kept in both."""
    found = _cached(key)
    if found is None:
        found = _shared_or_decoded(key, source, side)
    if max(found.size) > side:
        found.thumbnail((side, side), Image.Resampling.BILINEAR)
    return found


def _shared_or_decoded(key: str, source: Path, side: int) -> Image.Image:
    """The file manager's thumbnail of `source` while valid; else `source` decoded, and kept
    by content hash and for the desktop."""
    shared = desktop_thumbnails.original(source)  # None where the standard does not apply
    found = desktop_thumbnails.find(shared, side) if shared is not None else None
    if found is None:
        found = _decode(source, shared)
        _keep(key, found)
        if shared is not None:
            desktop_thumbnails.save(shared, found, side)
    return found


def _cached_path(key: str) -> Path:
    return thumbnail_dir() / key[:2] / f"{key}.jpg"


def _cached(key: str) -> Image.Image | None:
    """Our own thumbnail of the content `key`: it survives a move or rename, which changes
    the file's URI and so loses the desktop's."""
    try:
        with Image.open(_cached_path(key)) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError):
        return None


def _keep(key: str, img: Image.Image) -> None:
    cached = _cached_path(key)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.{id(img)}.tmp")
        img.save(tmp, "JPEG", quality=85)
        tmp.replace(cached)
    except OSError as exc:  # a full or read-only cache only costs speed
        log.debug("cannot cache thumbnail %s: %s", cached, exc)


def _decode(source: Path, shared: desktop_thumbnails.Original | None) -> Image.Image:
    """`source` decoded to DISK_SIDE; a photo that cannot be is recorded as such for the
    desktop, and not tried again until it changes."""
    if shared is not None and (reason := desktop_thumbnails.failure(shared)) is not None:
        raise ImageError(reason)
    try:
        return thumbnail(source, DISK_SIDE)
    except ImageError as exc:
        if shared is not None:
            desktop_thumbnails.record_failure(shared, source, str(exc))
        raise


class _Signals(QObject):
    ready = Signal(ImageReady)


class _Job(QRunnable):
    def __init__(
        self, signals: _Signals, gen: int, ticket: str, key: str | None, path: Path, side: int
    ):
        super().__init__()
        self.signals, self.gen, self.ticket = signals, gen, ticket
        self.key, self.path, self.side = key, path, side

    def run(self) -> None:
        try:
            if self.key is None:  # previews: straight from the file, not cached
                img = thumbnail(self.path, self.side)
            else:
                img = load_thumbnail(self.key, self.path, self.side)
            result = ImageReady(self.gen, self.ticket, to_qimage(img))
        except PhotoSorterError as exc:
            result = ImageReady(self.gen, self.ticket, None, str(exc))
        except Exception as exc:  # never let a worker thread die silently
            log.exception("thumbnail of %s failed", self.path)
            result = ImageReady(self.gen, self.ticket, None, f"{type(exc).__name__}: {exc}")
        self.signals.ready.emit(result)


class ThumbnailLoader(QObject):
    """Hands out cached pixmaps and loads missing ones in a thread pool."""

    thumbnail_ready = Signal(str)  # content key
    preview_ready = Signal(ImageReady)

    def __init__(self, side: int = 160, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(2, min(4, (os.cpu_count() or 2) - 1)))
        self._signals = _Signals()
        self._signals.ready.connect(self._on_ready)
        self._generation = 0
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._failed: set[str] = set()
        self._pending: OrderedDict[str, Path] = OrderedDict()
        self._in_flight: set[str] = set()
        self._moved: set[str] = set()  # in flight from a path the file has since left

    # -- grid thumbnails --------------------------------------------------------------------
    def pixmap(self, key: str, path: Path) -> QPixmap | None:
        """The thumbnail if cached; otherwise None and a load is queued (newest first)."""
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        if key in self._failed or key in self._in_flight:
            return None
        self._pending[key] = path
        self._pending.move_to_end(key)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        self._submit()
        return None

    def failed(self, key: str) -> bool:
        return key in self._failed

    def moved(self, paths: dict[str, Path]) -> None:
        """Files now at a new path (key -> path): a load that failed at the old one is tried
        again at the new one (a watched folder moves photos while they are shown)."""
        for key, path in paths.items():
            self._failed.discard(key)
            if key in self._pending:
                self._pending[key] = path
            if key in self._in_flight:
                self._moved.add(key)

    def _submit(self) -> None:
        while self._pending and len(self._in_flight) < self.pool.maxThreadCount() * 2:
            key, path = self._pending.popitem(last=True)
            self._in_flight.add(key)
            self.pool.start(_Job(self._signals, self._generation, "t:" + key, key, path, self.side))

    # -- large previews -----------------------------------------------------------------------
    def load_preview(self, ticket: str, path: Path, side: int) -> None:
        """Decode `path` to fit `side`; answers with preview_ready(ticket)."""
        self.pool.start(_Job(self._signals, self._generation, "p:" + ticket, None, path, side))

    # -- results --------------------------------------------------------------------------------
    @Slot(ImageReady)
    def _on_ready(self, result: ImageReady) -> None:
        kind, _, ticket = result.ticket.partition(":")
        if kind == "p":
            if result.generation == self._generation:
                self.preview_ready.emit(
                    ImageReady(result.generation, ticket, result.image, result.error)
                )
            return
        self._in_flight.discard(ticket)
        if result.generation == self._generation:
            if result.image is None and ticket in self._moved:
                pass  # read from where the file was: the repaint asks again at its new place
            elif result.image is None:
                self._failed.add(ticket)
            else:
                self._remember(ticket, QPixmap.fromImage(result.image))
            self.thumbnail_ready.emit(ticket)
        self._moved.discard(ticket)
        self._submit()

    def _remember(self, key: str, pixmap: QPixmap) -> None:
        self._cache[key] = pixmap
        self._cache_bytes += pixmap.width() * pixmap.height() * 4
        while self._cache_bytes > MEMORY_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.width() * old.height() * 4

    def reset(self, side: int | None = None) -> None:
        """Forget queued work and (with a new `side`) cached pixmaps; late results drop."""
        self._generation += 1
        self._pending.clear()
        self._in_flight.clear()
        self._failed.clear()
        self._moved.clear()
        if side is not None and side != self.side:
            self.side = side
            self._cache.clear()
            self._cache_bytes = 0

    def shutdown(self) -> None:
        """Wait for running jobs; call before the app quits."""
        self._pending.clear()
        self.pool.clear()
        self.pool.waitForDone()
