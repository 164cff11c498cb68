"""A large preview of one photo (double-click or Space), with Left/Right to step through."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from photosorter.gui.thumbnails import ImageReady, ThumbnailLoader
from photosorter.gui.widgets import resize_within_screen

PREVIEW_SIDE = 1600


@dataclass(frozen=True)
class PreviewItem:
    path: Path
    caption: str  # e.g. "Pets · 87%"


def open_in_viewer(path: Path) -> bool:
    """Open a photo in the system's default viewer."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_folder(path: Path) -> bool:
    """Open the file manager at the photo (selected where the platform allows)."""
    try:
        if sys.platform == "win32":
            subprocess.Popen(["explorer", "/select,", os.path.normpath(path)])
            return True
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", str(path)])
            return True
    except OSError:
        pass
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


class _ImageLabel(QLabel):
    """Shows a pixmap scaled to fit, keeping the aspect ratio, re-scaled on resize."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(200, 200)

    def set_image(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            self.setPixmap(QPixmap())
            return
        self.setPixmap(
            self._pixmap.scaled(
                self.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )


class PreviewDialog(QDialog):
    """One photo at a time, loaded off the GUI thread; Left/Right move, Space/Esc close."""

    def __init__(
        self, parent: QWidget | None, loader: ThumbnailLoader, items: list[PreviewItem], start: int
    ) -> None:
        super().__init__(parent)
        self.loader = loader
        self.items = items
        self.current = start
        self.image = _ImageLabel(self)
        self.image.setText(self.tr("Loading…"))
        self.caption = QLabel()
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_button = QPushButton(self.tr("Open in Viewer"))
        open_button.clicked.connect(lambda: open_in_viewer(self.items[self.current].path))
        folder_button = QPushButton(self.tr("Show in Folder"))
        folder_button.clicked.connect(lambda: show_in_folder(self.items[self.current].path))
        close_button = QPushButton(self.tr("Close"))
        close_button.clicked.connect(self.accept)
        for button in (open_button, folder_button, close_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows and Space stay ours
        bottom = QHBoxLayout()
        bottom.addWidget(self.caption, 1)
        bottom.addWidget(open_button)
        bottom.addWidget(folder_button)
        bottom.addWidget(close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addLayout(bottom)
        loader.preview_ready.connect(self._on_ready)
        resize_within_screen(self, 1000, 760)
        self._show()

    def _show(self) -> None:
        item = self.items[self.current]
        self.setWindowTitle(self.tr("{0} — PhotoSorter").format(item.path.name))
        self.caption.setText(
            f"<b>{item.path.name}</b> &nbsp; {item.caption} &nbsp; "
            + self.tr("<span style='color: gray'>{0} of {1}</span>").format(
                self.current + 1, len(self.items)
            )
        )
        self.loader.load_preview(str(self.current), item.path, PREVIEW_SIDE)

    @Slot(ImageReady)
    def _on_ready(self, result: ImageReady) -> None:
        if result.ticket != str(self.current):
            return  # the user has stepped on meanwhile
        if result.image is None:
            self.image.set_image(QPixmap())
            self.image.setText(self.tr("Cannot show this photo: {0}").format(result.error))
        else:
            self.image.set_image(QPixmap.fromImage(result.image))

    def step(self, delta: int) -> None:
        new = min(max(self.current + delta, 0), len(self.items) - 1)
        if new != self.current:
            self.current = new
            self._show()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.step(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.step(-1)
        elif key == Qt.Key.Key_Space:
            self.accept()
        else:
            super().keyPressEvent(event)

    def done(self, result: int) -> None:
        self.loader.preview_ready.disconnect(self._on_ready)
        super().done(result)
