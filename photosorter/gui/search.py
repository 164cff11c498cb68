"""Find: the photos that match words (as the user types) or look like one photo.

The words are embedded on the inference worker (it owns the model; a query asked before
comes from the store), then every photo of every folder is ranked by its cosine to them
from the vectors in memory. The grid shows the photos more like the query than the
average photo, best first, each with its similarity; Escape goes back to the grid as it was.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLineEdit, QWidget

from photosorter.gui.session import Session
from photosorter.gui.workers import JobFailed, QueryReady, QueryRequest

DEBOUNCE_MS = 300  # typing pauses this long before the words are searched
FIELD_WIDTH = 260


def best_matches(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of `rows` ranked best first, those more like the query than the average photo."""
    if not len(scores):
        return rows, scores
    keep = scores >= float(np.mean(scores))
    return rows[keep], scores[keep]


class Search(QObject):
    """The search field, Ctrl+F and Escape, and what the grid shows while searching."""

    changed = Signal()  # the search started, ended or found something: the heading follows

    def __init__(self, session: Session, parent: QWidget) -> None:
        super().__init__(parent)
        self.session = session
        self.label = ""  # what is searched, for the heading; "" when not searching
        self._generation = 0
        self.field = QLineEdit(parent)
        self.field.setPlaceholderText(self.tr("Search photos by words"))
        self.field.setToolTip(self.tr("Find photos by what they show (Ctrl+F); Escape clears"))
        self.field.setClearButtonEnabled(True)
        self.field.setMaximumWidth(FIELD_WIDTH)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._search_typed)
        self.field.textChanged.connect(lambda _text: self._timer.start())
        self.focus_action = QAction(self.tr("Find…"), parent)
        self.focus_action.setShortcut(QKeySequence.StandardKey.Find)
        self.focus_action.triggered.connect(self.focus)
        self.clear_action = QAction(self.tr("Clear Search"), parent)
        self.clear_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.clear_action.setEnabled(False)
        self.clear_action.triggered.connect(self.clear)
        parent.addAction(self.clear_action)
        session.worker.query_ready.connect(self._on_query)
        session.worker.query_failed.connect(self._on_failed)

    @property
    def active(self) -> bool:
        return bool(self.label)

    def focus(self) -> None:
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def search_words(self, text: str) -> None:
        """Rank every photo by how well it matches `text` (embedded on the worker)."""
        text = text.strip()
        if not text:
            self.clear()
            return
        self._generation += 1
        s = self.session
        s.worker.request_query(QueryRequest(self._generation, text, s.model_choice))
        self._set_label(self.tr("Photos matching “{words}”").format(words=text))

    def find_similar(self, row: int) -> None:
        """Rank every photo by how much it looks like the photo in result row `row`."""
        vector = self.session.results.vector(row)
        if vector is None:
            return
        self._generation += 1
        self._set_text("")
        name = self.session.results.paths[row].name
        self._set_label(self.tr("Photos like {name}").format(name=name))
        self._show(vector)

    def clear(self) -> None:
        """Back to the grid as it was before searching."""
        self._generation += 1
        self._timer.stop()
        self._set_text("")
        if self.active:
            self.session.model.set_search(None)
            self._set_label("")

    def _set_text(self, text: str) -> None:
        """Put `text` in the field without searching it again. The field's own signals still
        run (blocking them left its clear button showing on an empty field)."""
        self.field.setText(text)
        self._timer.stop()  # the change started the debounce: nothing to search

    def _set_label(self, label: str) -> None:
        self.label = label
        self.clear_action.setEnabled(bool(label))
        self.changed.emit()

    def _search_typed(self) -> None:
        self.search_words(self.field.text())

    def _show(self, query: np.ndarray) -> None:
        rows, scores = best_matches(*self.session.results.ranked(query))
        self.session.model.set_search(rows, scores)
        self.changed.emit()

    @Slot(QueryReady)
    def _on_query(self, event: QueryReady) -> None:
        if event.generation == self._generation and self.active:
            self._show(event.vector)

    @Slot(JobFailed)
    def _on_failed(self, event: JobFailed) -> None:
        if event.generation == self._generation:
            self.session.report_failure(event)
