"""The category list widget: one row per category with its count (and examples), the row
under a drag highlighted; photos dropped on a category or on Uncategorized are emitted."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from photosorter.gui import icons
from photosorter.gui.photo_model import PHOTO_KEYS_MIME, keys_from_mime
from photosorter.gui.texts import plural

AnyIndex = QModelIndex | QPersistentModelIndex
NameRole = Qt.ItemDataRole.UserRole + 1  # category name; None for "All photos"
CountRole = Qt.ItemDataRole.UserRole + 2
KindRole = Qt.ItemDataRole.UserRole + 3  # "all" | "review" | "category" | "uncategorized"
ExamplesRole = Qt.ItemDataRole.UserRole + 4  # example photos of a category


@dataclass(frozen=True)
class PhotosDropped:
    """Photos (content keys) dragged onto a category: pin them there."""

    keys: tuple[str, ...]
    category: str


class _Delegate(QStyledItemDelegate):
    """Name on the left, count on the right; the drop target row highlighted."""

    def __init__(self, view: CategoryList) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        line = QFontMetrics(option.font).height()
        return QSize(160, line + 14 + (line if index.data(ExamplesRole) else 0))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect.adjusted(4, 1, -4, -1)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        drop = index.row() == self.view.drop_row
        if selected or drop:
            colour = QColor(palette.color(QPalette.ColorRole.Highlight))
            if drop and not selected:
                colour.setAlpha(110)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 5, 5)
        if drop:
            painter.setPen(palette.color(QPalette.ColorRole.Highlight).darker(130))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 5, 5)
        text_colour = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        kind = index.data(KindRole)
        font = QFont(option.font)
        font.setBold(kind == "all")
        font.setItalic(kind in ("uncategorized", "review"))
        count = index.data(CountRole)
        count = "" if count is None else f"{count:,}"
        fm = QFontMetrics(font)
        count_w = fm.horizontalAdvance(count) + 8
        inner = rect.adjusted(10, 0, -10, 0)
        examples = index.data(ExamplesRole) or 0
        if examples:  # a second, smaller line: "3 examples"
            inner.setHeight(rect.height() - fm.height() + 2)
        name_rect = QRect(inner.x(), inner.y(), inner.width() - count_w, inner.height())
        painter.setFont(font)
        painter.setPen(text_colour)
        name = fm.elidedText(str(index.data()), Qt.TextElideMode.ElideRight, name_rect.width())
        painter.drawText(
            name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name
        )
        if not selected:
            text_colour = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setPen(text_colour)
        painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, count)
        if examples:
            small = QFont(option.font)
            small.setPointSizeF(small.pointSizeF() * 0.85)
            painter.setFont(small)
            below = QRect(inner.x(), inner.bottom() - 4, inner.width(), fm.height())
            label = plural("CategoryPanel", "%n example(s)", examples)
            painter.drawText(below, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, label)
        icons.paint_focus(painter, option)
        painter.restore()


class CategoryList(QListWidget):
    """The list itself; accepts photo drops on categories and on Uncategorized."""

    photos_dropped = Signal(PhotosDropped)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drop_row = -1
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setItemDelegate(_Delegate(self))
        self.setFrameShape(QListWidget.Shape.NoFrame)

    def _target(self, pos: QPoint) -> QListWidgetItem | None:
        item = self.itemAt(pos)
        if item is None or item.data(KindRole) in ("all", "review"):
            return None
        return item

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(PHOTO_KEYS_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        item = self._target(event.position().toPoint())
        row = self.row(item) if item is not None else -1
        if row != self.drop_row:
            self.drop_row = row
            self.viewport().update()
        if item is not None and event.mimeData().hasFormat(PHOTO_KEYS_MIME):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_row = -1
        self.viewport().update()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_row = -1
        self.viewport().update()
        item = self._target(event.position().toPoint())
        keys = keys_from_mime(event.mimeData())
        if item is None or not keys:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        name = item.data(NameRole)
        self.photos_dropped.emit(PhotosDropped(tuple(keys), name))
