"""The thumbnail grid: an icon-mode QListView and a delegate that paints each tile.

A tile is the thumbnail, a confidence badge ("87%", or "Manual" for photos placed by
hand), a "RAW" badge for a RAW+JPEG pair, and the file name. Painting asks the model for
the thumbnail, so only tiles on screen are ever loaded. Every cell has the same fixed
size (set by the zoom), whatever the thumbnail, so the layout never moves as thumbnails
arrive, and the columns fill the width exactly: no horizontal scrolling. A drag shows a
small thumbnail with a count. The selection outlives a re-sort or re-scoring (a drop on a
category re-scores): the photos still shown stay selected.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractItemModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QColor,
    QDrag,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from photosorter.gui.photo_model import (
    CategoryRole,
    ManualRole,
    PhotoModel,
    RawRole,
    ScoreRole,
    ThumbnailFailedRole,
    ThumbnailRole,
)

AnyIndex = QModelIndex | QPersistentModelIndex
PAD = 6  # around the thumbnail inside a tile
GAP = 6  # between tiles (part of each grid cell)
DRAG_SIDE = 56  # the drag image: small, so the category names aimed at stay visible


def drag_pixmap(thumbnail: QPixmap | None, count: int, palette: QPalette) -> QPixmap:
    """A small drag image: the photo's thumbnail, and a count badge for several photos."""
    ratio = QApplication.primaryScreen().devicePixelRatio() if QApplication.primaryScreen() else 1
    side = DRAG_SIDE + 12  # room for the badge to overhang
    image = QPixmap(round(side * ratio), round(side * ratio))
    image.setDevicePixelRatio(ratio)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    box = QRect(0, 12, DRAG_SIDE, DRAG_SIDE)
    if count > 1:  # a second card behind: more than one photo
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(QRectF(box.translated(5, -5)), 4, 4)
    painter.setBrush(palette.color(QPalette.ColorRole.Mid))
    painter.drawRoundedRect(QRectF(box), 4, 4)
    if thumbnail is not None and not thumbnail.isNull():
        size = thumbnail.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(box.center())
        painter.drawPixmap(target, thumbnail)
    if count > 1:
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        text = f"{count:,}"
        w = max(22, QFontMetrics(font).horizontalAdvance(text) + 12)
        badge = QRectF(side - w, 0, w, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRoundedRect(badge, 11, 11)
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


class PhotoDelegate(QStyledItemDelegate):
    """Paints thumbnail + badge + name; `show_category` adds the category under the name."""

    def __init__(self, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.show_category = True
        self._badge_font: QFont | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return self.tile_size(option.font)

    def tile_size(self, font: QFont) -> QSize:
        lines = 2 if self.show_category else 1
        text_h = QFontMetrics(font).height() * lines
        return QSize(self.side + 2 * PAD, self.side + 2 * PAD + text_h + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        tile = QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5)
        if selected or hovered:
            colour = QColor(palette.color(QPalette.ColorRole.Highlight))
            colour.setAlpha(60 if selected else 28)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(tile, 6, 6)
        if selected:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(tile.adjusted(1, 1, -1, -1), 6, 6)

        box = QRect(rect.x() + PAD, rect.y() + PAD, self.side, self.side)
        self._paint_thumbnail(painter, box, index, palette)
        manual = bool(index.data(ManualRole))
        self._paint_badge(painter, box, float(index.data(ScoreRole) or 0.0), manual, palette)
        if index.data(RawRole):
            self._paint_pill(painter, box, "RAW", QColor(0, 0, 0, 160), left=True)

        fm = QFontMetrics(option.font)
        text_rect = QRect(rect.x() + 2, box.bottom() + 4, rect.width() - 4, fm.height())
        name = fm.elidedText(str(index.data()), Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.setFont(option.font)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        if self.show_category:
            font = QFont(option.font)
            font.setItalic(manual)
            painter.setFont(font)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            text_rect.translate(0, fm.height())
            category = QFontMetrics(font).elidedText(
                str(index.data(CategoryRole)), Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter, category)
        painter.restore()

    def _paint_thumbnail(
        self, painter: QPainter, box: QRect, index: AnyIndex, palette: QPalette
    ) -> None:
        pixmap = index.data(ThumbnailRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pixmap)
            return
        placeholder = QColor(palette.color(QPalette.ColorRole.Mid))
        placeholder.setAlpha(60)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(placeholder)
        painter.drawRoundedRect(QRectF(box), 4, 4)
        if index.data(ThumbnailFailedRole):
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            target = QRect(0, 0, 32, 32)
            target.moveCenter(box.center())
            icon.paint(painter, target)

    def _paint_badge(
        self, painter: QPainter, box: QRect, score: float, manual: bool, palette: QPalette
    ) -> None:
        text = "Manual" if manual else f"{score:.0%}"
        if manual:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
        elif score < 0.5:
            fill = QColor(150, 90, 0, 215)  # amber: a weak guess, worth a look
        else:
            fill = QColor(0, 0, 0, 160)
        self._paint_pill(painter, box, text, fill, left=False)

    def _paint_pill(
        self, painter: QPainter, box: QRect, text: str, fill: QColor, *, left: bool
    ) -> None:
        """A rounded label in the thumbnail's bottom left or right corner."""
        if self._badge_font is None:
            self._badge_font = QFont(painter.font())
            self._badge_font.setBold(True)
            self._badge_font.setPointSizeF(max(7.0, painter.font().pointSizeF() * 0.85))
        painter.setFont(self._badge_font)
        fm = QFontMetrics(self._badge_font)
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 4
        x = box.left() + 3 if left else box.right() - w - 3
        badge = QRectF(x, box.bottom() - h - 3, w, h)
        path = QPainterPath()
        path.addRoundedRect(badge, h / 2, h / 2)
        painter.fillPath(path, fill)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)


class PhotoGridView(QListView):
    """Icon-mode grid with uniform tiles, multi-select, drag-out, Space for preview."""

    preview_requested = Signal(QModelIndex)

    def __init__(self, parent: QWidget | None = None, side: int = 160) -> None:
        super().__init__(parent)
        self.empty_text = "Drop a folder of photos here or use File > Add Folder…"
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setSpacing(0)  # the gap is inside each grid cell: columns fill the width exactly
        self.setWrapping(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.photo_delegate = PhotoDelegate(side, self)
        self.setItemDelegate(self.photo_delegate)
        self.verticalScrollBar().setSingleStep(24)
        self.doubleClicked.connect(self.preview_requested)
        self._kept = np.zeros(0, dtype=np.int64)  # result rows selected before a reset
        self._kept_current = -1  # the current photo's result row before it (-1: none)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if isinstance(model, PhotoModel):  # after the view's own handlers: they clear first
            model.view_changed.connect(self.selectionModel().clear)
            model.modelAboutToBeReset.connect(self._remember_selection)
            model.modelReset.connect(self._restore_selection)

    @Slot()
    def _remember_selection(self) -> None:
        model = self.model()
        assert isinstance(model, PhotoModel)
        spans = [(r.top(), r.bottom()) for r in self.selectionModel().selection()]
        self._kept = model.rows_at(spans)
        current = self.currentIndex()
        self._kept_current = model.result_row(current) if current.isValid() else -1

    @Slot()
    def _restore_selection(self) -> None:
        """Select again the photos selected before the reset, where they show now."""
        model = self.model()
        assert isinstance(model, PhotoModel)
        kept, self._kept = self._kept, np.zeros(0, dtype=np.int64)
        selection = QItemSelection()
        for first, last in model.spans_of(kept):
            selection.select(model.index(first), model.index(last))
        flags = QItemSelectionModel.SelectionFlag
        if not selection.isEmpty():
            self.selectionModel().select(selection, flags.ClearAndSelect)
        if self._kept_current < 0:
            return
        current = model.spans_of(np.asarray([self._kept_current], dtype=np.int64))
        if current:
            self.selectionModel().setCurrentIndex(model.index(current[0][0]), flags.NoUpdate)

    def set_show_category(self, show: bool) -> None:
        if show != self.photo_delegate.show_category:
            self.photo_delegate.show_category = show
            self._fit_grid()

    def set_tile_side(self, side: int) -> None:
        """Thumbnails of `side` logical pixels (the zoom)."""
        if side != self.photo_delegate.side:
            self.photo_delegate.side = side
            self._fit_grid()
            self.viewport().update()

    def startDrag(self, supportedActions: Qt.DropAction) -> None:
        """Drag the selected photos with a small image and their count, not full tiles."""
        model = self.model()
        indexes = [
            i for i in self.selectedIndexes() if model.flags(i) & Qt.ItemFlag.ItemIsDragEnabled
        ]
        if not indexes:
            return
        current = self.currentIndex() if self.currentIndex() in indexes else indexes[0]
        thumbnail = current.data(ThumbnailRole)
        drag = QDrag(self)
        drag.setMimeData(model.mimeData(indexes))
        drag.setPixmap(
            drag_pixmap(
                thumbnail if isinstance(thumbnail, QPixmap) else None, len(indexes), self.palette()
            )
        )
        drag.setHotSpot(QPoint(-8, DRAG_SIDE // 2))  # the image sits right of the pointer
        drag.exec(supportedActions, self.defaultDropAction())

    def _fit_grid(self) -> None:
        """Spread the columns over the full width, so no ragged gap is left on the right."""
        hint = self.photo_delegate.tile_size(self.font())
        scrollbar = self.verticalScrollBar().sizeHint().width()
        width = max(1, self.width() - scrollbar - 2 * self.frameWidth() - 1)
        cell_w, cell_h = hint.width() + GAP, hint.height() + GAP
        columns = max(1, width // cell_w)
        size = QSize(width // columns, cell_h)
        if size != self.gridSize():
            self.setGridSize(size)

    def updateGeometries(self) -> None:
        """The columns fit the width by construction; Qt's icon layout still reports a few
        pixels more (its item centring), which would scroll sideways: never scroll."""
        super().updateGeometries()
        self.horizontalScrollBar().setRange(0, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_grid()
        super().resizeEvent(event)

    @Slot(str)
    def thumbnail_arrived(self, _key: str) -> None:
        self.viewport().update()  # Qt merges these into one repaint of the visible tiles

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and self.currentIndex().isValid():
            self.preview_requested.emit(self.currentIndex())
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.model() is not None and self.model().rowCount() > 0:
            super().paintEvent(event)
            return
        painter = QPainter(self.viewport())
        rect = self.viewport().rect().adjusted(40, 40, -40, -40)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        painter.setFont(font)
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(
            rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text
        )
