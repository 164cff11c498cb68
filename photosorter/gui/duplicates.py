"""The Duplicates view: groups of photos that are the same picture, side by side, and
"Keep Best, Move the Rest to the Trash" for one group or all of them.

The groups are found on the inference worker (`core.find.duplicates`: perceptual hash and
embedding) from the photos in the result set. Trashing runs through `FileActions` like
every other file operation: journalled, on the undo stack, undone from the trash.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLocale, Qt, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from photosorter.core.find.duplicates import DuplicateGroup, Photo
from photosorter.gui.notices import Problem
from photosorter.gui.operations import FileActions, OperationDone
from photosorter.gui.session import Session
from photosorter.gui.texts import plural
from photosorter.gui.widgets import resize_within_screen
from photosorter.gui.workers import (
    DuplicatesReady,
    DuplicatesRequest,
    IndexedPhoto,
    JobFailed,
    JobFinished,
)

CARD_SIDE = 160


def photo_facts(photo: Photo) -> str:
    """Resolution, format, size and file date, one per line, as a card shows them."""
    info = photo.info
    date = datetime.fromtimestamp(photo.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M")
    size = QLocale().formattedDataSize(photo.size)
    return f"{info.width} × {info.height}\n{info.format} · {size}\n{date}"


class PhotoCard(QFrame):
    """One photo of a group: thumbnail, name, facts; the best one is marked "Keep"."""

    def __init__(self, photo: Photo, best: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo = photo
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.image = QLabel()
        self.image.setFixedSize(CARD_SIDE, CARD_SIDE)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        name = QLabel(photo.path.name)
        name.setToolTip(str(photo.path))
        name.setMaximumWidth(CARD_SIDE)
        facts = QLabel(photo_facts(photo))
        verdict = QLabel(self.tr("Keep") if best else self.tr("To the trash"))
        font = verdict.font()
        font.setBold(best)
        verdict.setFont(font)
        column = QVBoxLayout(self)
        for widget in (self.image, name, facts, verdict):
            column.addWidget(widget)

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self.image.setPixmap(
            pixmap.scaled(
                CARD_SIDE, CARD_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )  # fmt: skip


class DuplicatesDialog(QDialog):
    """Every group of duplicates among the photos shown, best photo first in each."""

    def __init__(self, session: Session, file_actions: FileActions, parent: QWidget) -> None:
        super().__init__(parent)
        self.session, self.file_actions = session, file_actions
        self.groups: list[DuplicateGroup] = []
        self.cards: list[PhotoCard] = []
        self._generation = 0
        self.setWindowTitle(self.tr("Duplicates"))
        resize_within_screen(self, 900, 640)
        self.summary = QLabel()
        self.trash_all_button = QPushButton(
            self.tr("Keep the Best of Every Group, Move the Rest to the Trash")
        )
        self.trash_all_button.clicked.connect(lambda: self.trash_extras(self.groups))
        self.list = QWidget()
        self.rows = QVBoxLayout(self.list)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.trash_all_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        worker = session.worker
        worker.duplicates_ready.connect(self._on_ready)
        worker.duplicates_failed.connect(self._on_failed)
        session.thumbnails.thumbnail_ready.connect(self._on_thumbnail)
        session.run_finished.connect(self._on_run_finished)
        file_actions.finished.connect(self._on_operation_done)
        file_actions.busy_changed.connect(lambda _state: self._update_buttons())

    def find(self) -> None:
        """Look for duplicates among every photo with an embedding (on the worker)."""
        self._generation += 1
        results = self.session.results
        rows, vectors = results.embedded_rows()
        photos = tuple(
            IndexedPhoto(
                results.paths[r], results.keys[r], int(results.sizes[r]),
                int(results.mtimes[r] * 1e9),
            )
            for r in rows.tolist()
        )  # fmt: skip
        self.summary.setText(self.tr("Looking for duplicates…"))
        self._update_buttons()
        self.session.worker.find_duplicates(DuplicatesRequest(self._generation, photos, vectors))

    def trash_extras(self, groups: list[DuplicateGroup]) -> bool:
        """Keep the best photo of each group; the others go to the system trash."""
        extras = [p.path for g in groups for p in g.photos[1:]]
        return self.file_actions.trash(extras)

    @Slot(DuplicatesReady)
    def _on_ready(self, event: DuplicatesReady) -> None:
        if event.generation != self._generation:
            return
        self.groups = list(event.groups)
        if event.failed:
            problems = [Problem(f.path, f.error) for f in event.failed]
            self.session.problems_added.emit(problems)
        self._show_groups()

    @Slot(JobFailed)
    def _on_failed(self, event: JobFailed) -> None:
        if event.generation == self._generation:
            self.summary.setText("")
            self.session.report_failure(event)

    def _show_groups(self) -> None:
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.cards = []
        for group in self.groups:
            self.rows.addWidget(self._group_row(group))
        self.rows.addStretch(1)
        extra = sum(len(g.photos) - 1 for g in self.groups)
        if self.groups:
            text = plural("DuplicatesDialog", "%n group(s) of duplicates", len(self.groups))
            text += "; " + plural("DuplicatesDialog", "%n photo(s) beside the best", extra)
        else:
            text = self.tr("No duplicates: every photo is a picture of its own.")
        self.summary.setText(text)
        self._update_buttons()

    def _group_row(self, group: DuplicateGroup) -> QWidget:
        row = QFrame()
        row.setFrameShape(QFrame.Shape.StyledPanel)
        cards = QHBoxLayout()
        for i, photo in enumerate(group.photos):
            card = PhotoCard(photo, best=i == 0)
            pixmap = self.session.thumbnails.pixmap(photo.key, photo.path)
            if pixmap is not None:
                card.set_pixmap(pixmap)
            self.cards.append(card)
            cards.addWidget(card)
        cards.addStretch(1)
        button = QPushButton(self.tr("Keep Best, Move the Rest to the Trash"))
        button.clicked.connect(lambda: self.trash_extras([group]))
        head = QHBoxLayout()
        head.addWidget(QLabel(plural("DuplicatesDialog", "%n photo(s)", len(group.photos))))
        head.addStretch(1)
        head.addWidget(button)
        column = QVBoxLayout(row)
        column.addLayout(head)
        column.addLayout(cards)
        return row

    def _update_buttons(self) -> None:
        idle = not self.file_actions.busy
        self.trash_all_button.setEnabled(idle and bool(self.groups))
        for button in self.list.findChildren(QPushButton):
            button.setEnabled(idle)

    @Slot(str)
    def _on_thumbnail(self, key: str) -> None:
        for card in self.cards:
            if card.photo.key == key:
                pixmap = self.session.thumbnails.pixmap(key, card.photo.path)
                if pixmap is not None:
                    card.set_pixmap(pixmap)

    @Slot(OperationDone)
    def _on_operation_done(self, done: OperationDone) -> None:
        if self.isVisible() and (done.trashed or done.kind == "undo"):
            self.find()  # trashed photos left the result set

    @Slot(JobFinished)
    def _on_run_finished(self, _event: JobFinished) -> None:
        if self.isVisible():
            self.find()  # photos put back from the trash, or new ones

    def paths(self) -> list[list[Path]]:
        """The groups shown, as paths (best first)."""
        return [g.paths for g in self.groups]
