"""The example photos of one category: what PhotoSorter learns that category from.

Photos the user placed there by hand can be removed here (the photo goes back to the
model's choice, and every photo is sorted again); those listed in the categories file are
shown as such, to be removed there.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photosorter.gui.session import Session
from photosorter.gui.session_categories import Example

KeyRole = Qt.ItemDataRole.UserRole + 1  # the content key of a photo placed by hand
PathRole = Qt.ItemDataRole.UserRole + 2
ICON = 64


class ExamplesDialog(QDialog):
    """Lists a category's examples; "Remove Example" unpins the selected photos."""

    def __init__(self, parent: QWidget | None, session: Session, name: str) -> None:
        super().__init__(parent)
        self.session, self.name = session, name
        self.setWindowTitle(self.tr("Examples of “{0}”").format(name))
        intro = QLabel(
            self.tr(
                "PhotoSorter learns what “{0}” looks like from these photos and sorts the "
                "others by them. Drag more photos onto the category to add examples."
            ).format(name)
        )
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._update_button)
        self.remove_button = QPushButton(self.tr("Remove Example"))
        self.remove_button.setToolTip(self.tr("Let the model place the selected photos again"))
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(520, 440)
        session.scoring_applied.connect(self.refresh)  # examples added or removed: relist
        session.thumbnails.thumbnail_ready.connect(self._on_thumbnail)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        self.list.clear()
        for example in self.session.examples_of(self.name):
            self.list.addItem(self._item(example))
        if not self.list.count():
            empty = QListWidgetItem(self.tr("No examples yet."))
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(empty)
        self._update_button()

    def _item(self, example: Example) -> QListWidgetItem:
        path = example.path
        if example.from_file:
            item = QListWidgetItem(
                self.tr("{0} — from the categories file").format(path.name if path else "")
            )
            where = self.session.categories_path
            item.setToolTip(
                self.tr("{0}\nListed in {1}: remove it there.").format(
                    path, where or self.tr("the categories file")
                )
            )
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            return item
        text = path.name if path else self.tr("A photo in a folder not open now")
        item = QListWidgetItem(self.tr("{0} — placed here by you").format(text))
        item.setData(KeyRole, example.key)
        item.setData(PathRole, path)
        item.setToolTip(str(path) if path else self.tr("content {0}").format(example.key))
        self._set_icon(item)
        return item

    def _set_icon(self, item: QListWidgetItem) -> None:
        key, path = item.data(KeyRole), item.data(PathRole)
        pixmap = self.session.thumbnails.pixmap(key, path) if key and path else None
        if isinstance(pixmap, QPixmap):
            item.setIcon(QIcon(pixmap.scaled(ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio)))

    def selected_keys(self) -> list[str]:
        return [k for i in self.list.selectedItems() if (k := i.data(KeyRole))]

    def remove_selected(self) -> None:
        keys = self.selected_keys()
        if keys:
            self.session.unpin(keys)  # scoring_applied lists them again

    def _update_button(self) -> None:
        self.remove_button.setEnabled(bool(self.selected_keys()))

    @Slot(str)
    def _on_thumbnail(self, key: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(KeyRole) == key:
                self._set_icon(item)
