"""The folders being sorted: a short list with add and remove buttons and a watch eye.

Clicking a folder shows only its photos in the grid; clicking it again, or "All folders",
shows every folder's. Each folder row ends in an eye: click it (or use "Watch This
Folder") to have new photos in that folder sorted as they arrive. A watched folder's eye
is drawn in the accent colour.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QFont, QIcon, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photosorter.gui import icons

log = logging.getLogger(__name__)

PathRole = Qt.ItemDataRole.UserRole + 1
WatchRole = Qt.ItemDataRole.UserRole + 2  # True / False; None: a single image, not watchable
EYE_WIDTH = 26  # the eye's column at the right of a row

AnyIndex = QModelIndex | QPersistentModelIndex
_PRESS_RELEASE = (
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick,
)


@dataclass(frozen=True)
class SourceRemoved:
    path: Path


@dataclass(frozen=True)
class WatchToggled:
    path: Path
    watch: bool


@dataclass(frozen=True)
class FolderChosen:
    """The grid shows only `path`'s photos; None: every folder's."""

    path: Path | None


def eye_rect(row: QRect) -> QRect:
    """Where a row's eye is drawn (and clicked)."""
    side = max(8, min(18, row.height() - 4))
    left = row.right() - EYE_WIDTH + (EYE_WIDTH - side) // 2
    return QRect(left, row.top() + (row.height() - side) // 2, side, side)


class _SourceDelegate(QStyledItemDelegate):
    """Draws a folder row with its watch eye (the panel handles clicks on it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._icons: dict[tuple[bool, bool], QIcon] = {}

    def _icon(self, watching: bool, selected: bool) -> QIcon:
        key = (watching, selected)
        if key not in self._icons:
            self._icons[key] = icons.watch_icon(watching, selected)
        return self._icons[key]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        try:  # an exception must never escape a Qt virtual
            self._paint(painter, option, index)
            icons.paint_focus(painter, option)
        except Exception:
            log.exception("painting a folder row")

    def _paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        watching = index.data(WatchRole)
        if watching is None:
            super().paint(painter, option, index)
            return
        full = QStyleOptionViewItem(option)
        self.initStyleOption(full, index)
        style = full.widget.style() if full.widget is not None else QApplication.style()
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, full, painter, full.widget
        )
        text = QStyleOptionViewItem(option)
        text.rect = option.rect.adjusted(0, 0, -EYE_WIDTH, 0)
        text.state &= ~QStyle.StateFlag.State_MouseOver
        super().paint(painter, text, index)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        self._icon(bool(watching), selected).paint(painter, eye_rect(option.rect))


class SourcesPanel(QWidget):
    """Lists the sources; sources given on the command line show in italics (this run only)."""

    remove_requested = Signal(SourceRemoved)
    watch_toggled = Signal(WatchToggled)
    folder_chosen = Signal(FolderChosen)

    def __init__(self, add_action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel(self.tr("Folders"))
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.list = QListWidget(self)
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.list.setMouseTracking(True)
        self.delegate = _SourceDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_menu)
        self.remove_action = QAction(self.tr("Remove Folder"), self)
        self.remove_action.setIcon(icons.icon("remove"))
        self.remove_action.setToolTip(self.tr("Stop sorting this folder (no files are touched)"))
        self.remove_action.setEnabled(False)
        self.remove_action.triggered.connect(self._remove_current)
        self.watch_action = QAction(self.tr("Watch This Folder"), self, checkable=True)
        self.watch_action.setToolTip(self.tr("Sort new photos in this folder as they arrive"))
        self.watch_action.setEnabled(False)
        self.watch_action.triggered.connect(self._watch_current)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.viewport().installEventFilter(self)
        self.list.clicked.connect(self._on_clicked)
        self._shown: Path | None = None  # the folder the grid shows (None: all of them)
        self._pressed_current = False  # the press was on the folder already shown
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for action in (add_action, self.remove_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def set_sources(
        self, saved: list[Path], this_run: list[Path], watched: Collection[Path] = ()
    ) -> None:
        current = self.current_path()
        self.list.blockSignals(True)  # one folder_chosen at the end, not one per row
        self.list.clear()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        if saved or this_run:  # the same icon size as the folders: rows of one height
            every_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon)
            every = QListWidgetItem(every_icon, self.tr("All folders"))
            every.setToolTip(self.tr("Show the photos of every folder"))
            self.list.addItem(every)
            self.list.setCurrentItem(every)
        file_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        for path, temporary in [(p, False) for p in saved] + [(p, True) for p in this_run]:
            is_file = bool(path.suffix) and path.is_file()
            item = QListWidgetItem(file_icon if is_file else icon, path.name or str(path))
            item.setData(PathRole, str(path))
            watching = path in watched
            item.setData(WatchRole, None if is_file else watching)
            item.setToolTip(self._tooltip(path, temporary, None if is_file else watching))
            if temporary:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            self.list.addItem(item)
            if path == current:
                self.list.setCurrentItem(item)
        if not saved and not this_run:
            item = QListWidgetItem(self.tr("No folders yet"))
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._on_current_changed()

    def _tooltip(self, path: Path, temporary: bool, watching: bool | None) -> str:
        """A folder row's tooltip; `watching` None: a single image, not watchable."""
        lines = [str(path)]
        if temporary:
            lines.append(self.tr("(opened for this session only)"))
        if watching:
            lines.append(
                self.tr(
                    "Watched: new photos here are sorted as they arrive. Click the eye to stop."
                )
            )
        elif watching is not None:
            lines.append(
                self.tr(
                    "Click the eye to watch it: its photos are sorted with the default "
                    "action (Settings), those here now and new ones as they arrive."
                )
            )
        return "\n".join(lines)

    def current_path(self) -> Path | None:
        item = self.list.currentItem()
        return Path(item.data(PathRole)) if item is not None and item.data(PathRole) else None

    def row_of(self, path: Path) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(PathRole) == str(path):
                return item
        return None

    def eye_position(self, path: Path) -> QPoint:
        """The centre of a folder's eye, in the list's viewport (for tests and tours)."""
        item = self.row_of(path)
        assert item is not None, path
        return eye_rect(self.list.visualItemRect(item)).center()

    def update_actions(self) -> None:
        item = self.list.currentItem()
        has_path = item is not None and bool(item.data(PathRole))
        self.remove_action.setEnabled(has_path)
        watching = item.data(WatchRole) if has_path else None
        self.watch_action.setEnabled(watching is not None)
        self.watch_action.setChecked(bool(watching))

    def show_all(self) -> None:
        """Show every folder's photos (select "All folders")."""
        if self.list.count() and self.list.item(0).flags() & Qt.ItemFlag.ItemIsSelectable:
            self.list.setCurrentRow(0)

    def _on_current_changed(self, *_args: object) -> None:
        self.update_actions()
        path = self.current_path()
        if path != self._shown:
            self._shown = path
            self.folder_chosen.emit(FolderChosen(path))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A click on a row's eye toggles watching (and neither selects nor filters);
        remember whether a press is on the folder already shown (a second click)."""
        kind = event.type()
        if not isinstance(event, QMouseEvent) or kind not in _PRESS_RELEASE:
            return super().eventFilter(watched, event)
        try:
            pos = event.position().toPoint()
            item = self.list.itemAt(pos)
            on_eye = (
                item is not None
                and item.data(WatchRole) is not None
                and eye_rect(self.list.visualItemRect(item)).adjusted(-4, -4, 4, 4).contains(pos)
            )
            if on_eye and event.button() == Qt.MouseButton.LeftButton:
                if kind == QEvent.Type.MouseButtonRelease:
                    self._on_eye_clicked(Path(item.data(PathRole)))
                return True
            if kind == QEvent.Type.MouseButtonPress:
                self._pressed_current = item is not None and item is self.list.currentItem()
        except Exception:  # an exception must never escape a Qt virtual
            log.exception("a click on a folder row")
        return super().eventFilter(watched, event)

    @Slot(QModelIndex)
    def _on_clicked(self, _index: QModelIndex) -> None:
        """A second click on the folder shown shows every folder again."""
        if self._pressed_current and self._shown is not None:
            self.show_all()

    @Slot(QPoint)
    def _show_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None or not item.data(PathRole):
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction(self.watch_action)
        menu.addSeparator()
        menu.addAction(self.remove_action)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    @Slot(Path)
    def _on_eye_clicked(self, path: Path) -> None:
        item = self.row_of(path)
        watching = bool(item.data(WatchRole)) if item is not None else False
        self.watch_toggled.emit(WatchToggled(path, not watching))

    def _watch_current(self, checked: bool) -> None:
        path = self.current_path()
        if path is not None:
            self.watch_toggled.emit(WatchToggled(path, checked))

    def _remove_current(self) -> None:
        path = self.current_path()
        if path is not None:
            self.remove_requested.emit(SourceRemoved(path))
