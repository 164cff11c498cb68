"""The row above the grid: what it shows (a category, a folder, a search) and how many
photos, beside the sort and zoom controls; and the grid's text when it is empty."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from photosorter.gui.category_panel import NEEDS_REVIEW
from photosorter.gui.grid_controls import GridControls
from photosorter.gui.photo_view import PhotoGridView
from photosorter.gui.search import Search
from photosorter.gui.session import Session
from photosorter.gui.texts import plural

EMPTY_TEXT = QT_TRANSLATE_NOOP(
    "GridHeading", "Drop a folder of photos here or use File > Add Folder…"
)


class GridHeading(QWidget):
    """The heading (a category, or what is searched), the count of photos shown, and the
    grid's sort and zoom controls."""

    def __init__(
        self, session: Session, grid: PhotoGridView, search: Search, controls: GridControls
    ) -> None:
        super().__init__()
        self.session, self.grid, self.search = session, grid, search
        self.heading = QLabel()
        font = QFont(self.heading.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.heading.setFont(font)
        self.subheading = QLabel()
        self.subheading.setForegroundRole(self.subheading.foregroundRole())
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 10, 12, 4)
        row.setSpacing(10)
        row.addWidget(self.heading)
        row.addWidget(self.subheading, 1)
        row.addWidget(QLabel(self.tr("Sort by:")))
        row.addWidget(controls.sort_combo)
        row.addWidget(controls.direction_button)
        row.addSpacing(8)
        row.addWidget(controls.zoom_slider)
        grid.empty_text = self.tr(EMPTY_TEXT)

    @Slot()
    def update_text(self) -> None:
        """Follow what the grid shows now."""
        model = self.session.model
        if self.search.active:
            self._show_search()
            return
        category = model.category
        self.heading.setText(NEEDS_REVIEW if model.review else category or self.tr("All photos"))
        n = model.rowCount()
        photos = plural("GridHeading", "%n photo(s)", n) if n or category else ""
        if model.folder is not None:
            where = self.tr("{photos} in {folder}")
            photos = where.format(photos=photos or self.tr("No photos"), folder=model.folder.name)
        if model.review and n:
            photos = self.tr("{photos}, least sure first").format(photos=photos)
        self.subheading.setText(photos)
        if model.review:
            self.grid.empty_text = self.tr("Nothing to review: no photo was sorted by the model.")
        elif category is None and not self.session.roots():
            self.grid.empty_text = self.tr(EMPTY_TEXT)
        elif category is None:
            running = self.session.running
            self.grid.empty_text = (
                self.tr("Looking for photos…") if running else self.tr("No photos found.")
            )
        else:
            self.grid.empty_text = self.tr("No photos in “{category}”.").format(category=category)
        self.grid.viewport().update()

    def _show_search(self) -> None:
        """Searching: what is searched, and how many photos of every folder match."""
        n = self.session.model.rowCount()
        self.heading.setText(self.search.label)
        self.subheading.setText(
            plural("GridHeading", "%n photo(s), best match first", n) if n else ""
        )
        self.grid.empty_text = self.tr("No photo matches.")
        self.grid.viewport().update()
