"""The grid's order and zoom: the "Sort by" box, its direction, the thumbnail size slider
and their menu actions (Ctrl+plus / Ctrl+minus), remembered in the settings."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QCoreApplication, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QSlider, QToolButton, QWidget

from photosorter.core.settings import THUMBNAIL_SIZES
from photosorter.gui.photo_model import SortMode
from photosorter.gui.photo_view import PhotoGridView
from photosorter.gui.session import Session, thumbnail_side

ZOOM_STEP = 40  # logical pixels per Ctrl+plus / Ctrl+minus


def sort_label(mode: SortMode) -> str:
    labels = {
        SortMode.CONFIDENCE: QCoreApplication.translate("GridControls", "Confidence"),
        SortMode.DATE_TAKEN: QCoreApplication.translate("GridControls", "Date Taken"),
        SortMode.FILE_DATE: QCoreApplication.translate("GridControls", "File Date"),
        SortMode.NAME: QCoreApplication.translate("GridControls", "Name"),
        SortMode.SIZE: QCoreApplication.translate("GridControls", "Size"),
    }
    return labels[mode]


class GridControls(QObject):
    """Sort box + direction button + zoom slider, and the View menu's actions for them."""

    def __init__(self, session: Session, grid: PhotoGridView, parent: QWidget) -> None:
        super().__init__(parent)
        self.session, self.grid = session, grid
        self.sort_combo = QComboBox(parent)
        self.sort_group = QActionGroup(self)
        self.sort_actions: dict[SortMode, QAction] = {}
        for mode in SortMode:
            self.sort_combo.addItem(sort_label(mode), mode)
            action = QAction(self.tr("Sort by {how}").format(how=sort_label(mode)), self)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, m=mode: self.set_sort(m))
            self.sort_group.addAction(action)
            self.sort_actions[mode] = action
        self.sort_combo.activated.connect(lambda _i: self.set_sort(self.sort_combo.currentData()))
        self.descending_action = QAction(self.tr("Largest First"), self, checkable=True)
        self.descending_action.toggled.connect(self.set_descending)
        self.direction_button = QToolButton(parent)
        self.direction_button.setDefaultAction(self.descending_action)
        self.direction_button.setAutoRaise(True)
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal, parent)
        self.zoom_slider.setRange(*THUMBNAIL_SIZES)
        self.zoom_slider.setSingleStep(ZOOM_STEP // 2)
        self.zoom_slider.setPageStep(ZOOM_STEP)
        self.zoom_slider.setFixedWidth(110)
        self.zoom_slider.setToolTip(self.tr("Thumbnail size (Ctrl+plus, Ctrl+minus)"))
        self.zoom_slider.valueChanged.connect(self.set_zoom)
        self.zoom_in_action = QAction(self.tr("Larger Thumbnails"), self)
        self.zoom_in_action.setShortcuts([QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")])
        self.zoom_in_action.triggered.connect(lambda: self.zoom_by(ZOOM_STEP))
        self.zoom_out_action = QAction(self.tr("Smaller Thumbnails"), self)
        self.zoom_out_action.setShortcut(QKeySequence.StandardKey.ZoomOut)
        self.zoom_out_action.triggered.connect(lambda: self.zoom_by(-ZOOM_STEP))
        parent.addActions([self.zoom_in_action, self.zoom_out_action])  # work without the menu
        settings = session.settings
        self._show(SortMode(settings.sort), settings.sort_descending)
        session.model.set_sort(SortMode(settings.sort), settings.sort_descending)
        self.zoom_slider.setValue(settings.thumbnail_size)
        self.set_zoom(settings.thumbnail_size)

    @property
    def actions(self) -> list[QAction]:
        """For the View menu: the sort orders, the direction, zoom in and out."""
        return [
            *self.sort_actions.values(),
            self.descending_action,
            self.zoom_in_action,
            self.zoom_out_action,
        ]

    def set_sort(self, mode: SortMode) -> None:
        """Sort by `mode` in its usual direction (most confident, oldest, A, smallest first)."""
        self._apply(mode, mode.descending_first)

    def set_descending(self, descending: bool) -> None:
        if descending != self.session.model.descending:
            self._apply(self.session.model.sort_mode, descending)

    def set_enabled(self, enabled: bool) -> None:
        """The Needs review view has its own order."""
        for widget in (self.sort_combo, self.direction_button):
            widget.setEnabled(enabled)
        self.sort_group.setEnabled(enabled)
        self.descending_action.setEnabled(enabled)

    def zoom_by(self, step: int) -> None:
        self.zoom_slider.setValue(self.zoom_slider.value() + step)

    def set_zoom(self, side: int) -> None:
        """Tiles of `side` logical pixels; thumbnails are loaded sharp for that size."""
        self.grid.set_tile_side(side)
        pixels = thumbnail_side(max(side, 160))
        if pixels != self.session.thumbnails.side:
            self.session.thumbnails.reset(pixels)
        self._remember(thumbnail_size=side)

    def _apply(self, mode: SortMode, descending: bool) -> None:
        self._show(mode, descending)
        self.session.model.set_sort(mode, descending)
        self._remember(sort=mode.value, sort_descending=descending)

    def _show(self, mode: SortMode, descending: bool) -> None:
        self.sort_actions[mode].setChecked(True)
        self.sort_combo.setCurrentIndex(self.sort_combo.findData(mode))
        self.descending_action.blockSignals(True)
        self.descending_action.setChecked(descending)
        self.descending_action.blockSignals(False)
        self.direction_button.setArrowType(
            Qt.ArrowType.DownArrow if descending else Qt.ArrowType.UpArrow
        )
        self.direction_button.setToolTip(
            self.tr("Largest first: click for smallest first")
            if descending
            else self.tr("Smallest first: click for largest first")
        )

    def _remember(self, **changes: object) -> None:
        settings = self.session.settings
        if any(getattr(settings, k) != v for k, v in changes.items()):
            self.session.update_settings(replace(settings, **changes), restart=False)
