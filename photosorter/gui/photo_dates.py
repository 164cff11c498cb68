"""When each photo was taken (EXIF DateTimeOriginal), read off the GUI thread.

Only the header is parsed (Pillow reads EXIF without decoding pixels), in the thread
pool, so sorting thousands of photos by date never stalls the window. A photo with no
date taken has none (NaN): the grid sorts it by its file date instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from photosorter.core.library.images import open_image_file

_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME = 0x0132  # when the file was last changed by the camera or an editor


def date_taken(path: Path) -> float:
    """Seconds since the epoch the photo was taken (local time), or NaN when unknown."""
    try:
        fh, _st = open_image_file(path)
        with fh, Image.open(fh) as img:
            exif = img.getexif()
            text = exif.get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL) or exif.get(_DATE_TIME)
    except Exception:  # unreadable or not an image: no date, never an error
        return math.nan
    return parse_exif_date(text)


def parse_exif_date(text: object) -> float:
    """'2024:07:01 18:30:05' -> seconds since the epoch; NaN for anything else."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str):
        return math.nan
    try:
        return datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except (ValueError, OverflowError, OSError):
        return math.nan


@dataclass(frozen=True)
class DatesRead:
    """Dates taken of result rows (NaN: none), for the reader's `generation`."""

    generation: int
    rows: np.ndarray
    dates: np.ndarray


class _Signals(QObject):
    done = Signal(DatesRead)


class _Job(QRunnable):
    def __init__(
        self, signals: _Signals, generation: int, rows: list[int], paths: list[Path]
    ) -> None:
        super().__init__()
        self.signals, self.generation, self.rows, self.paths = signals, generation, rows, paths

    def run(self) -> None:
        dates = np.asarray([date_taken(p) for p in self.paths], dtype=np.float64)
        self.signals.done.emit(DatesRead(self.generation, np.asarray(self.rows), dates))


class DateReader(QObject):
    """Reads dates taken in the thread pool; `dates_read` answers each request once."""

    dates_read = Signal(DatesRead)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool.globalInstance()
        self.generation = 0  # bumped by reset(): answers for older rows are dropped
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)

    def read(self, rows: list[int], paths: list[Path]) -> None:
        if rows:
            self.pool.start(_Job(self._signals, self.generation, rows, paths))

    def reset(self) -> None:
        self.generation += 1

    @Slot(DatesRead)
    def _on_done(self, result: DatesRead) -> None:
        if result.generation == self.generation:
            self.dates_read.emit(result)
