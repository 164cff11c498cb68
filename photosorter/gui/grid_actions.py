"""What the user can do with photos in the grid: preview, open, show, find similar ones,
put in a category."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QStyle, QWidget

from photosorter.core.categories import UNCATEGORIZED
from photosorter.gui.photo_model import CategoryRole, ManualRole, PathRole, ScoreRole
from photosorter.gui.photo_view import PhotoGridView
from photosorter.gui.preview import PreviewDialog, PreviewItem, open_in_viewer, show_in_folder
from photosorter.gui.session import Session


class GridActions(QObject):
    """The grid's actions and context menu; shared with the window's Photos menu."""

    similar_requested = Signal(int)  # "Find Similar": the result row of the current photo

    def __init__(self, session: Session, grid: PhotoGridView, window: QWidget) -> None:
        super().__init__(window)
        self.session, self.grid, self.window = session, grid, window
        style = window.style()
        self.preview_action = QAction(self.tr("Preview"), self)
        self.preview_action.setShortcut(QKeySequence("Space"))
        self.preview_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.preview_action.triggered.connect(lambda: self.preview(grid.currentIndex()))
        self.open_action = QAction(self.tr("Open in Default Viewer"), self)
        self.open_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.open_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_FileIcon))
        self.open_action.triggered.connect(self.open_current)
        self.show_folder_action = QAction(self.tr("Show in Folder"), self)
        self.show_folder_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DirIcon))
        self.show_folder_action.triggered.connect(self.show_current_in_folder)
        self.similar_action = QAction(self.tr("Find Similar"), self)
        self.similar_action.setToolTip(self.tr("Show the photos that look like this one"))
        self.similar_action.triggered.connect(self.find_similar)
        self.unpin_action = QAction(self.tr("Let the Model Decide"), self)
        self.unpin_action.setToolTip(self.tr("Undo a manual placement of the selected photos"))
        self.unpin_action.triggered.connect(self.unpin_selected)
        grid.addAction(self.preview_action)
        grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        grid.customContextMenuRequested.connect(self.context_menu)
        grid.preview_requested.connect(self.preview)

    @property
    def photo_actions(self) -> list[QAction]:
        return [
            self.preview_action, self.open_action, self.show_folder_action, self.similar_action
        ]  # fmt: skip

    def selected_keys(self) -> list[str]:
        return self.session.model.keys(self.grid.selectionModel().selectedIndexes())

    def preview(self, index: QModelIndex) -> None:
        """The large preview of `index`; Left/Right step through the photos shown."""
        model = self.session.model
        if not index.isValid() or not model.rowCount():
            return
        items = []
        for row in range(model.rowCount()):
            i = model.index(row)
            if i.data(ManualRole):
                how = self.tr("set by you")
            else:
                how = self.tr("{score:.0%} confidence").format(score=i.data(ScoreRole))
            items.append(PreviewItem(i.data(PathRole), f"{i.data(CategoryRole)} · {how}"))
        dialog = PreviewDialog(self.window, self.session.thumbnails, items, index.row())
        dialog.exec()
        self.grid.setCurrentIndex(model.index(dialog.current))

    def open_current(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid():
            open_in_viewer(index.data(PathRole))

    def show_current_in_folder(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid():
            show_in_folder(index.data(PathRole))

    def find_similar(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid():
            self.similar_requested.emit(self.session.model.result_row(index))

    def unpin_selected(self) -> None:
        keys = self.selected_keys()
        if keys:
            self.session.unpin(keys)

    def context_menu(self, pos: QPoint) -> None:
        if not self.grid.indexAt(pos).isValid():
            return
        menu = QMenu(self.window)
        menu.addActions(self.photo_actions)
        menu.addSeparator()
        put = menu.addMenu(self.tr("Put in Category"))
        keys = self.selected_keys()
        for name in [*self.session.categories.names, UNCATEGORIZED]:
            action = put.addAction(name)
            action.triggered.connect(lambda _c=False, n=name: self.session.pin(keys, n))
        menu.addAction(self.unpin_action)
        menu.exec(self.grid.viewport().mapToGlobal(pos))
