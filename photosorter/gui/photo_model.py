"""The grid's model: the photos of one category (or all) from the ResultSet, sorted;
or, in the "Needs review" view, the photos the model is least sure of first; or, while
searching, the photos found, best match first, each with its similarity as its score.

Filtering and sorting happen here with numpy over the whole set (a million rows: no
per-row Python object, no per-comparison Python call; `data()` reads the arrays when a
tile paints); rows that arrive while a job runs are inserted in place.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

from photosorter.core.categories import UNCATEGORIZED
from photosorter.gui.photo_dates import DateReader, DatesRead
from photosorter.gui.results import ResultSet
from photosorter.gui.thumbnails import ThumbnailLoader

PHOTO_KEYS_MIME = "application/x-photosorter-keys"
_BULK = 256  # more new rows than this at once: rebuild instead of inserting one by one

PathRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
CategoryRole = Qt.ItemDataRole.UserRole + 3
ScoreRole = Qt.ItemDataRole.UserRole + 4
ManualRole = Qt.ItemDataRole.UserRole + 5
ErrorRole = Qt.ItemDataRole.UserRole + 6
ThumbnailRole = Qt.ItemDataRole.UserRole + 7
ThumbnailFailedRole = Qt.ItemDataRole.UserRole + 8
RawRole = Qt.ItemDataRole.UserRole + 9  # a RAW+JPEG pair: one photo, two files

AnyIndex = QModelIndex | QPersistentModelIndex


class SortMode(Enum):
    CONFIDENCE = "confidence"
    DATE_TAKEN = "date-taken"  # EXIF DateTimeOriginal; the file date when there is none
    FILE_DATE = "file-date"
    NAME = "name"
    SIZE = "size"

    @property
    def descending_first(self) -> bool:
        """The usual direction: most confident first; oldest, A to Z, smallest first."""
        return self is SortMode.CONFIDENCE


def keys_from_mime(mime: QMimeData) -> list[str]:
    """The content keys carried by a drag from the photo grid ([] for anything else)."""
    if not mime.hasFormat(PHOTO_KEYS_MIME):
        return []
    try:
        keys = json.loads(bytes(mime.data(PHOTO_KEYS_MIME).data()).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


class PhotoModel(QAbstractListModel):
    """A filtered, sorted window onto a ResultSet; rows map to result rows.

    A reset that re-sorts or re-places the same photos keeps the grid's selection (the grid
    follows the result rows); `view_changed` comes first when other photos show instead
    (another category, folder or search, a new run), and the selection goes."""

    view_changed = Signal()

    def __init__(self, results: ResultSet, thumbnails: ThumbnailLoader | None = None) -> None:
        super().__init__()
        self.results = results
        self.thumbnails = thumbnails
        self.category: str | None = None  # None: all photos
        self.review = False  # the "Needs review" view: least sure first, whatever the sort
        self.folder: Path | None = None  # None: every folder; else only photos under it
        self._found: np.ndarray | None = None  # searching: the rows found, best first
        self._similarity = np.zeros(0, dtype=np.float32)  # searching: per result row
        self._in_folder = np.zeros(0, dtype=np.bool_)  # per result row: under `folder`
        self.sort_mode = SortMode.CONFIDENCE
        self.descending = True
        self.dates = DateReader(self)
        self.dates.dates_read.connect(self._on_dates)
        self._taken = np.zeros(0)  # per result row: date taken (NaN: none, or not read yet)
        self._dates_asked = 0  # result rows whose date taken was asked for
        self._order = np.zeros(0, dtype=np.int64)  # the result row shown at each position
        self._sort_keys: list[tuple] | None = []  # ascending per position; None: not built
        self._name_rank: np.ndarray | None = None  # per result row: rank of its name

    # -- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._order):
            return None
        row = int(self._order[index.row()])
        res = self.results
        if role == Qt.ItemDataRole.DisplayRole:
            return res.paths[row].name
        if role == PathRole:
            return res.paths[row]
        if role == KeyRole:
            return res.keys[row]
        if role == CategoryRole:
            return res.category_of(row) or UNCATEGORIZED
        if role == ScoreRole:
            return float(self._similarity[row] if self.searching else res.scores[row])
        if role == ManualRole:
            return bool(res.manual[row]) and not self.searching
        if role == ErrorRole:
            return res.errors[row]
        if role == RawRole:
            return bool(res.has_raw[row])
        if role in (ThumbnailRole, ThumbnailFailedRole):
            key = res.keys[row]
            if self.thumbnails is None or key is None:  # not read yet, or unreadable
                return None if role == ThumbnailRole else res.errors[row] is not None
            if role == ThumbnailFailedRole:
                return self.thumbnails.failed(key)
            return self.thumbnails.pixmap(key, res.paths[row])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        return None

    def _tooltip(self, row: int) -> str:
        res = self.results
        category = res.category_of(row) or UNCATEGORIZED
        how = "set by you" if res.manual[row] else f"{res.scores[row]:.0%} confidence"
        text = f"{res.paths[row]}\n{category} ({how})"
        if self.searching:
            text += "\n" + self.tr("{score:.0%} match").format(score=self._similarity[row])
        return text

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return [PHOTO_KEYS_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        rows = self.result_rows(indexes)
        keys = list(dict.fromkeys(k for k in (self.results.keys[r] for r in rows) if k))
        mime = QMimeData()
        mime.setData(PHOTO_KEYS_MIME, json.dumps(keys).encode("utf-8"))
        mime.setText("\n".join(str(self.results.paths[r]) for r in rows))
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    # -- what the window asks ---------------------------------------------------------------
    def result_row(self, index: AnyIndex) -> int:
        return int(self._order[index.row()])

    def result_rows(self, indexes: Iterable[AnyIndex]) -> list[int]:
        return [int(self._order[i.row()]) for i in indexes if i.isValid()]

    def keys(self, indexes: Iterable[AnyIndex]) -> list[str]:
        rows = self.result_rows(indexes)
        return list(dict.fromkeys(k for k in (self.results.keys[r] for r in rows) if k))

    def rows_at(self, spans: Iterable[tuple[int, int]]) -> np.ndarray:
        """The result rows shown at these (first, last) positions."""
        parts = [self._order[first : last + 1] for first, last in spans]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def spans_of(self, rows: np.ndarray) -> list[tuple[int, int]]:
        """Where these result rows show now, as runs of positions (first, last)."""
        if not len(rows):
            return []
        wanted = np.zeros(len(self.results), dtype=np.bool_)
        wanted[rows[rows < len(wanted)]] = True
        positions = np.flatnonzero(wanted[self._order])
        if not len(positions):
            return []
        breaks = np.flatnonzero(np.diff(positions) != 1)
        firsts = positions[np.concatenate([[0], breaks + 1])]
        lasts = positions[np.concatenate([breaks, [len(positions) - 1]])]
        return list(zip(firsts.tolist(), lasts.tolist(), strict=True))

    # -- keeping up with the result set ---------------------------------------------------------
    def set_category(self, category: str | None, *, review: bool = False) -> None:
        """Show one category (UNCATEGORIZED included) or, with None, every photo; `review`:
        the photos the model placed, least sure first."""
        self.category, self.review = (None if review else category), review
        self.view_changed.emit()
        self.refresh()

    def set_folder(self, folder: Path | None) -> None:
        """Show only the photos in `folder` (a source folder or single photo), with the
        category chosen; None: every folder."""
        self.folder = folder
        self._in_folder = np.zeros(0, dtype=np.bool_)
        self.view_changed.emit()
        self.refresh()

    @property
    def searching(self) -> bool:
        return self._found is not None

    def set_search(self, rows: np.ndarray | None, scores: np.ndarray | None = None) -> None:
        """Show only `rows` (result rows, best match first) with their similarity `scores`,
        whatever the category, folder or sort chosen; None: back to them."""
        self._found = None if rows is None else np.asarray(rows, dtype=np.int64)
        if rows is not None and scores is not None:
            self._similarity = np.zeros(len(self.results), dtype=np.float32)
            self._similarity[self._found] = scores
        self.view_changed.emit()
        self.refresh()

    def _visible(self) -> np.ndarray:
        if self._found is not None:
            return self._found
        rows = self.results.review_rows() if self.review else self.results.rows_in(self.category)
        if self.folder is None or not len(rows):
            return rows
        return rows[self._in_folder[rows]]

    def set_sort(self, mode: SortMode, descending: bool | None = None) -> None:
        """Sort by `mode`, largest first when `descending` (None: the mode's usual way)."""
        self.sort_mode = mode
        self.descending = mode.descending_first if descending is None else descending
        self.refresh()

    def clear(self) -> None:
        self.view_changed.emit()
        self.beginResetModel()
        self._order, self._sort_keys = np.zeros(0, dtype=np.int64), []
        self._in_folder, self._name_rank = np.zeros(0, dtype=np.bool_), None
        self._found = None
        self._taken, self._dates_asked = np.zeros(0), 0
        self.dates.reset()
        self.endResetModel()

    def refresh(self) -> None:
        """Recompute which rows show and in what order (after a re-score or a filter change)."""
        self._sync_rows()
        order = rows = self._visible()  # review, search: already in their order
        if len(rows) and not self.review and not self.searching:
            names = self._names_ranked()[rows]
            primary = self._primary(rows)
            if primary is None:  # by name
                order = rows[np.lexsort((rows, names))]
                order = order[::-1] if self.descending else order
            else:
                order = rows[np.lexsort((rows, names, primary))]
        self.beginResetModel()
        self._order = np.asarray(order, dtype=np.int64)
        self._sort_keys = None  # built when a row is first inserted in place
        self.endResetModel()

    def _names_ranked(self) -> np.ndarray:
        """Per result row: its name's place in name order (one stable C sort, quick on
        names already in order folder by folder; cached until rows are added or renamed)."""
        names = self.results.sort_names
        if self._name_rank is None or len(self._name_rank) != len(names):
            self._name_rank = _ranks(names)
        return self._name_rank

    def rows_added(self, rows: range) -> None:
        """New result rows: insert the visible ones where the sort order puts them."""
        self._sync_rows()
        added = np.arange(rows.start, rows.stop, dtype=np.int64)
        new = added[np.isin(added, self._visible())]
        if not len(new):
            return
        if not len(self._order) or len(new) > _BULK or not self._keys_ascend:
            self.refresh()
            return
        for row in new.tolist():
            self._insert(row)

    @property
    def _keys_ascend(self) -> bool:
        """Whether `_sort_keys` ascend (all but Z-to-A names), so a row can be bisected in."""
        return (
            self.review or self.searching
            or self.sort_mode is not SortMode.NAME or not self.descending
        )  # fmt: skip

    def _insert(self, row: int) -> None:
        if self._sort_keys is None:
            self._sort_keys = self._keys(self._order)
        (key,) = self._keys(np.asarray([row]))
        pos = bisect.bisect_left(self._sort_keys, key)
        self.beginInsertRows(QModelIndex(), pos, pos)
        self._order = np.insert(self._order, pos, row)
        self._sort_keys.insert(pos, key)
        self.endInsertRows()

    def _remove_at(self, positions: np.ndarray) -> None:
        """Take the rows at these positions out of the view: one by one when few, else
        in one reset (a deleted folder of thousands)."""
        if len(positions) > _BULK:
            self.beginResetModel()
            self._order = np.delete(self._order, positions)
            self._sort_keys = None
            self.endResetModel()
            return
        for pos in sorted(positions.tolist(), reverse=True):
            self.beginRemoveRows(QModelIndex(), pos, pos)
            self._order = np.delete(self._order, pos)
            if self._sort_keys is not None:
                del self._sort_keys[pos]
            self.endRemoveRows()

    def _ask_dates(self) -> None:
        """Sorting by date taken: read the dates not asked for yet, off the GUI thread."""
        if self.sort_mode is not SortMode.DATE_TAKEN:
            return
        paths = self.results.paths
        rows = list(range(self._dates_asked, len(paths)))
        self._dates_asked = len(paths)
        self.dates.read(rows, [paths[r] for r in rows])

    @Slot(DatesRead)
    def _on_dates(self, event: DatesRead) -> None:
        """Dates taken arrived: move the rows they change to their place."""
        self._sync_rows()
        self._taken[event.rows] = event.dates
        if self.sort_mode is not SortMode.DATE_TAKEN or self.review or self.searching:
            return
        if len(event.rows) > _BULK:
            self.refresh()
            return
        shown = event.rows[np.isin(event.rows, self._order)]
        self._remove_at(np.flatnonzero(np.isin(self._order, shown)))
        for row in shown.tolist():
            self._insert(row)

    def rows_removed(self, rows: Iterable[int]) -> None:
        """Result rows that no longer show (deleted files): take them out of the view."""
        gone = np.fromiter(rows, dtype=np.int64)
        self._remove_at(np.flatnonzero(np.isin(self._order, gone)))

    def rows_changed(self) -> None:
        """Paths or labels changed in place (after a move): repaint every row."""
        if len(self._order):
            self.dataChanged.emit(self.index(0), self.index(len(self._order) - 1))

    def _sync_rows(self) -> None:
        """Per-row facts for filtering and sorting, computed once for each new row."""
        paths = self.results.paths.raw
        if len(self._in_folder) > len(paths):
            self._in_folder = np.zeros(0, dtype=np.bool_)
        if len(self._taken) != len(paths):
            known = self._taken[: len(paths)]
            self._taken = np.concatenate([known, np.full(len(paths) - len(known), np.nan)])
        self._ask_dates()
        folder = self.folder
        if folder is not None:
            inside = os.path.join(folder, "")  # the folder and a separator
            new = paths[len(self._in_folder) :]
            found = [p == str(folder) or p.startswith(inside) for p in new]
            self._in_folder = np.concatenate([self._in_folder, np.asarray(found, dtype=np.bool_)])

    def _keys(self, rows: np.ndarray) -> list[tuple]:
        """The sort key of each row, in the order shown (one numpy pass, no per-row calls)."""
        index = rows.tolist()
        if self.searching:
            return list(zip((-self._similarity[rows]).tolist(), index, strict=True))
        if self.review:
            return list(zip(self.results.margins[rows].tolist(), index, strict=True))
        names = self.results.sort_names[rows].tolist()
        primary = self._primary(rows)
        if primary is None:
            return list(zip(names, index, strict=True))
        return list(zip(primary.tolist(), names, index, strict=True))

    def _primary(self, rows: np.ndarray) -> np.ndarray | None:
        """What `rows` sort by first, ascending in the order shown; None: by name."""
        res, mode = self.results, self.sort_mode
        if mode is SortMode.NAME:
            return None
        if mode is SortMode.CONFIDENCE:
            values = res.scores[rows].astype(np.float64)
        elif mode is SortMode.SIZE:
            values = res.sizes[rows].astype(np.float64)
        elif mode is SortMode.FILE_DATE:
            values = res.mtimes[rows]
        else:
            taken = self._taken[rows]
            values = np.where(np.isnan(taken), res.mtimes[rows], taken)
        return -values if self.descending else values

    def rename_paths(self, moved: dict[Path, Path]) -> list[int]:
        """Photos moved on disk: show them at their new place; returns the changed rows."""
        changed = self.results.rename_paths(moved)
        self._name_rank = None
        if changed and self.folder is not None:  # some may have left the folder shown
            self._in_folder = np.zeros(0, dtype=np.bool_)
            self.refresh()
        elif changed:
            self.rows_changed()
        return changed


def _ranks(values: np.ndarray) -> np.ndarray:
    """Per item: how many distinct values sort before it (equal values share a rank)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(len(values), dtype=np.int64)
    new[1:] = ordered[1:] != ordered[:-1]
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks
