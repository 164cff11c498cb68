"""The folders being sorted: a short list with add and remove buttons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photosorter.gui import icons

PathRole = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class SourceRemoved:
    path: Path


class SourcesPanel(QWidget):
    """Lists the sources; sources given on the command line show in italics (this run only)."""

    remove_requested = Signal(SourceRemoved)

    def __init__(self, add_action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Folders")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.list = QListWidget(self)
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.remove_action = QAction("Remove Folder", self)
        self.remove_action.setIcon(icons.icon("remove"))
        self.remove_action.setToolTip("Stop sorting this folder (no files are touched)")
        self.remove_action.setEnabled(False)
        self.remove_action.triggered.connect(self._remove_current)
        self.list.currentItemChanged.connect(
            lambda item, _prev: self.remove_action.setEnabled(item is not None)
        )
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

    def set_sources(self, saved: list[Path], this_run: list[Path]) -> None:
        self.list.clear()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        file_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        for path, temporary in [(p, False) for p in saved] + [(p, True) for p in this_run]:
            item = QListWidgetItem(file_icon if path.suffix and path.is_file() else icon,
                                   path.name or str(path))  # fmt: skip
            item.setData(PathRole, str(path))
            tip = str(path) + ("\n(opened for this session only)" if temporary else "")
            item.setToolTip(tip)
            if temporary:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            self.list.addItem(item)
        if not saved and not this_run:
            item = QListWidgetItem("No folders yet")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)

    def _remove_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and item.data(PathRole):
            self.remove_requested.emit(SourceRemoved(Path(item.data(PathRole))))
