"""The category list on the left: counts, filter for the grid, editor, drop target.

"All photos" and "Needs review" sit on top and "Uncategorized" at the bottom, always.
Dropping photos from the grid on a category pins them there by hand (a manual override),
which also makes them examples the model learns from; a category shows how many examples
it has. Edits are emitted as a new CategorySet plus what was renamed or removed; the
session applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photosorter.core.categories import UNCATEGORIZED, Category, CategorySet, load_categories
from photosorter.core.errors import PhotoSorterError
from photosorter.gui import icons
from photosorter.gui.category_list import (
    CategoryList,
    CountRole,
    ExamplesRole,
    KindRole,
    NameRole,
    PhotosDropped,
)
from photosorter.gui.dialogs import CategoryDialog
from photosorter.gui.texts import plural

# Source texts (show them through tr in the "CategoryPanel" context)
ALL_PHOTOS = QT_TRANSLATE_NOOP("CategoryPanel", "All photos")
NEEDS_REVIEW = QT_TRANSLATE_NOOP("CategoryPanel", "Needs review")
HINT_GIVES_WAY = 6  # rows: the drag hint hides rather than leave the list fewer than these


@dataclass(frozen=True)
class CategorySelected:
    """The grid should show `name` (UNCATEGORIZED included); None: every photo, or with
    `review` the photos the model is least sure of."""

    name: str | None
    review: bool = False


@dataclass(frozen=True)
class CategoriesEdited:
    """The new categories, plus old -> new names and removed names (for manual pins)."""

    categories: CategorySet
    renamed: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()


class CategoryPanel(QWidget):
    """Header, list with counts, and add / edit / delete / import / export controls."""

    category_selected = Signal(CategorySelected)
    photos_dropped = Signal(PhotosDropped)
    categories_edited = Signal(CategoriesEdited)
    examples_requested = Signal(str)  # show the example photos of this category

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.categories = CategorySet(())
        self.examples: dict[str, int] = {}
        self.list = CategoryList(self)
        self.list.photos_dropped.connect(self.photos_dropped)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.edit_current())
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)

        title = QLabel(self.tr("Categories"))
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.add_action = QAction(self.tr("Add Category…"), self)
        self.add_action.setIcon(icons.icon("add"))
        self.add_action.triggered.connect(self.add_category)
        self.edit_action = QAction(self.tr("Edit Category…"), self)
        self.edit_action.setIcon(icons.icon("edit"))
        self.edit_action.triggered.connect(self.edit_current)
        self.delete_action = QAction(self.tr("Delete Category"), self)
        self.delete_action.setIcon(icons.icon("remove"))
        self.delete_action.triggered.connect(self.delete_current)
        self.import_action = QAction(self.tr("Import Categories…"), self)
        self.import_action.triggered.connect(self.choose_import)
        self.export_action = QAction(self.tr("Export Categories…"), self)
        self.export_action.triggered.connect(self.choose_export)
        self.examples_action = QAction(self.tr("Show Examples…"), self)
        self.examples_action.setToolTip(self.tr("The photos this category learns from"))
        self.examples_action.triggered.connect(self.show_examples)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for action in (self.add_action, self.edit_action, self.delete_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            buttons.addWidget(button)
        buttons.addStretch(1)
        more = QToolButton(self)
        more.setText(self.tr("Import / Export"))
        more.setAutoRaise(True)
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(more)
        menu.addAction(self.import_action)
        menu.addAction(self.export_action)
        more.setMenu(menu)
        buttons.addWidget(more)

        self.hint = QLabel(
            self.tr(
                "Drag photos onto a category to put them there by hand: PhotoSorter learns "
                "from them and sorts the rest again."
            )
        )
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.hint)
        self._rebuild({}, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)  # the layout has placed the list and the hint already
        self._fit_hint()

    def _fit_hint(self) -> None:
        """The list comes first: the hint shows only while the list keeps room for its
        first HINT_GIVES_WAY rows (or all, when fewer) beside it."""
        rows = min(self.list.count(), HINT_GIVES_WAY)
        wanted = sum(self.list.sizeHintForRow(r) for r in range(rows)) + 2 * self.list.frameWidth()
        hint_h = self.hint.heightForWidth(self.list.width()) + self.layout().spacing()
        room = self.list.height() + (0 if self.hint.isHidden() else hint_h)
        self.hint.setHidden(room - hint_h < wanted)

    # -- showing -----------------------------------------------------------------------------
    def set_categories(self, categories: CategorySet, counts: dict[str, int], total: int) -> None:
        self.categories = categories
        self._rebuild(counts, total)

    def set_counts(
        self, counts: dict[str, int], total: int, examples: dict[str, int] | None = None
    ) -> None:
        """Photos per category (and in all), and example photos per category."""
        if examples is not None:
            self.examples = dict(examples)
        for row in range(self.list.count()):
            item = self.list.item(row)
            kind, name = item.data(KindRole), item.data(NameRole)
            if kind == "review":
                continue
            item.setData(CountRole, total if kind == "all" else counts.get(name, 0))
            if kind == "category":
                self._show_examples(item, self.categories.get(name))
        self._fit_hint()  # a category's examples make its row taller

    def _rebuild(self, counts: dict[str, int], total: int) -> None:
        current = self.list.currentItem()
        kind, name = (current.data(KindRole), current.data(NameRole)) if current else ("", None)
        self.list.blockSignals(True)
        self.list.clear()
        self._add_item(self.tr(ALL_PHOTOS), None, "all", total)
        self._add_item(self.tr(NEEDS_REVIEW), None, "review", None)
        for cat in self.categories.categories:
            self._add_item(cat.name, cat.name, "category", counts.get(cat.name, 0))
        self._add_item(UNCATEGORIZED, UNCATEGORIZED, "uncategorized", counts.get(UNCATEGORIZED, 0))
        self.list.blockSignals(False)
        if kind == "review":
            self.select_review()
        else:
            self.select(name if name in (*self.categories.names, UNCATEGORIZED) else None)
        self._update_actions()
        self._fit_hint()

    def _add_item(self, text: str, name: str | None, kind: str, count: int | None) -> None:
        item = QListWidgetItem(text)
        item.setData(NameRole, name)
        item.setData(KindRole, kind)
        item.setData(CountRole, count)
        if kind == "category":
            self._show_examples(item, self.categories.get(name or ""))
        elif kind == "review":
            item.setToolTip(
                self.tr(
                    "Photos the model placed but was least sure about, the least sure first. "
                    "Drag them where they belong: PhotoSorter learns from it."
                )
            )
        elif kind == "uncategorized":
            item.setToolTip(self.tr("Photos that match no category well enough"))
        self.list.addItem(item)

    def _show_examples(self, item: QListWidgetItem, cat: Category | None) -> None:
        if cat is None:
            return
        n = self.examples.get(cat.name, 0)
        if item.data(ExamplesRole) != n:
            item.setData(ExamplesRole, n)
        if cat.prompts:
            tip = self.tr("Prompts: {prompts}").format(prompts="; ".join(cat.prompts))
        else:
            tip = self.tr("No prompts")
        if n:
            tip += "\n" + plural(
                "CategoryPanel", "%n example photo(s) (Show Examples… to see them)", n
            )
        item.setToolTip(tip)

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(NameRole) if item is not None else None

    def select(self, name: str | None) -> None:
        """Select category `name` (UNCATEGORIZED included); None: All photos."""
        self._select_where(lambda item: item.data(NameRole) == name)

    def select_review(self) -> None:
        self._select_where(lambda item: item.data(KindRole) == "review")

    def _select_where(self, wanted: Callable[[QListWidgetItem], bool]) -> None:
        for row in range(self.list.count()):
            if wanted(self.list.item(row)):
                self.list.setCurrentRow(row)
                return

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._update_actions()
        if current is not None:
            review = current.data(KindRole) == "review"
            self.category_selected.emit(CategorySelected(current.data(NameRole), review))

    def _update_actions(self) -> None:
        item = self.list.currentItem()
        editable = item is not None and item.data(KindRole) == "category"
        self.edit_action.setEnabled(editable)
        self.delete_action.setEnabled(editable)
        self.examples_action.setEnabled(editable)

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(self.add_action)
        menu.addAction(self.edit_action)
        menu.addAction(self.delete_action)
        menu.addSeparator()
        menu.addAction(self.examples_action)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def show_examples(self) -> None:
        name = self.selected_name()
        if self.categories.get(name or "") is not None:
            self.examples_requested.emit(name)

    # -- editing -------------------------------------------------------------------------------
    def add_category(self) -> None:
        dialog = CategoryDialog(self, taken=self.categories.names)
        if dialog.exec():
            self.apply_edit(None, dialog.category())

    def edit_current(self) -> None:
        name = self.selected_name()
        cat = self.categories.get(name or "")
        if cat is None:
            return
        taken = [n for n in self.categories.names if n != cat.name]
        dialog = CategoryDialog(self, cat, taken=taken)
        if dialog.exec():
            self.apply_edit(cat.name, dialog.category())

    def delete_current(self) -> None:
        name = self.selected_name()
        if self.categories.get(name or "") is None:
            return
        answer = QMessageBox.question(
            self,
            self.tr("Delete category"),
            self.tr(
                "Delete the category “{name}”? Its photos go to the other categories or to "
                "Uncategorized. No files are touched."
            ).format(name=name),
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_category(name)  # type: ignore[arg-type]

    def apply_edit(self, old_name: str | None, category: Category) -> None:
        """Add `category` (old_name None) or replace the category named `old_name`."""
        cats = list(self.categories.categories)
        if old_name is None:
            cats.append(category)
            renamed: dict[str, str] = {}
        else:
            cats = [category if c.name == old_name else c for c in cats]
            renamed = {old_name: category.name} if old_name != category.name else {}
        edited = CategoriesEdited(self.categories.with_categories(cats), renamed)
        self.categories_edited.emit(edited)
        self.select(category.name)

    def remove_category(self, name: str) -> None:
        cats = [c for c in self.categories.categories if c.name != name]
        self.categories_edited.emit(
            CategoriesEdited(self.categories.with_categories(cats), removed=(name,))
        )

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            self.tr("Import categories"),
            "",
            self.tr("Categories (*.toml);;All files (*)"),
        )
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Replace the categories with those in a TOML file."""
        try:
            imported = load_categories(path)
        except PhotoSorterError as exc:
            QMessageBox.warning(self, self.tr("Cannot import categories"), str(exc))
            return
        removed = tuple(n for n in self.categories.names if n not in imported.names)
        self.categories_edited.emit(CategoriesEdited(imported, removed=removed))

    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export categories"), "categories.toml", self.tr("Categories (*.toml)")
        )
        if path:
            self.export_file(Path(path))

    def export_file(self, path: Path) -> None:
        """Write the categories to a new file (the file dialog asked before replacing one)."""
        try:
            self.categories.export(path)
        except OSError as exc:
            QMessageBox.warning(self, self.tr("Cannot export categories"), f"{path}: {exc}")
