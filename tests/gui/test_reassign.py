"""Dragging photos onto a category pins them there, through re-scores and restarts."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from photosorter.core.categories import UNCATEGORIZED, Category
from photosorter.core.library.cache import Store
from photosorter.gui.category_list import NameRole
from photosorter.gui.category_panel import CategoriesEdited
from photosorter.gui.photo_model import (
    CategoryRole,
    KeyRole,
    ManualRole,
    PathRole,
    keys_from_mime,
)
from tests.gui.conftest import start_and_wait


def drop_on_category(panel, name: str, mime) -> QDropEvent:
    """Simulate the end of a drag from the grid onto the row of `name`."""
    view = panel.list
    item = next(view.item(i) for i in range(view.count()) if view.item(i).data(NameRole) == name)
    pos = QPointF(view.visualItemRect(item).center())
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, buttons, keys)
    view.dragEnterEvent(enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, action, mime, buttons, keys)
    view.dragMoveEvent(move)
    assert move.isAccepted()
    drop = QDropEvent(pos, action, mime, buttons, keys)
    view.dropEvent(drop)
    return drop


def rows_of(window, name):
    window.category_panel.select(name)
    model = window.session.model
    return [model.index(r) for r in range(model.rowCount())]


def test_drag_reassign_is_stored_shown_and_kept(qtbot, make_window, photo_dir, colours_toml):
    window = make_window(photo_dir)
    window.show()
    start_and_wait(qtbot, window)
    session, model = window.session, window.session.model

    # Take two photos that are not in "Green" and drag them there.
    source = next(n for n in ("Red", "Blue", "Yellow", UNCATEGORIZED) if rows_of(window, n))
    picked = rows_of(window, source)[:2]
    keys = [i.data(KeyRole) for i in picked]
    paths = {i.data(PathRole) for i in picked}
    mime = model.mimeData(picked)
    assert keys_from_mime(mime) == keys
    before = session.results.counts()["Green"]
    drop = drop_on_category(window.category_panel, "Green", mime)
    assert drop.isAccepted()

    # Stored as manual overrides...
    assert session.store.overrides(keys) == {k: "Green" for k in keys}
    # ...shown in the Green group, marked manual, with the count updated.
    green = rows_of(window, "Green")
    pinned = [i for i in green if i.data(PathRole) in paths]
    assert len(pinned) == 2 and all(i.data(ManualRole) for i in pinned)
    # (at least: they are examples now, and photos like them may follow them)
    assert session.results.counts()["Green"] >= before + 2 - (source == "Green") * 2

    # A category edit re-scores from the vectors in memory; the pins stay.
    cats = session.categories
    edited = cats.with_categories([*cats.categories, Category("Purple", ("purple",))])
    with qtbot.waitSignal(session.scoring_applied, timeout=30_000):
        session.edit_categories(CategoriesEdited(edited))
    assert "Purple" in session.results.names
    green = rows_of(window, "Green")
    assert paths <= {i.data(PathRole) for i in green}

    # Renaming the category carries the pins along, instantly (no new prompt to encode).
    renamed = session.categories.with_categories(
        [Category("Grass", c.prompts) if c.name == "Green" else c for c in edited.categories]
    )
    session.edit_categories(CategoriesEdited(renamed, renamed={"Green": "Grass"}))
    assert session.store.overrides(keys) == {k: "Grass" for k in keys}
    assert paths <= {i.data(PathRole) for i in rows_of(window, "Grass")}
    window.shutdown()

    # A new start (same store, same categories file) still shows them pinned.
    again = make_window(photo_dir, categories=session.categories_path)
    start_and_wait(qtbot, again)
    grass = rows_of(again, "Grass")
    assert {i.data(PathRole) for i in grass if i.data(ManualRole)} == paths


def test_drop_on_uncategorized_pins_there(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session = window.session
    picked = rows_of(window, None)[:1]
    key = picked[0].data(KeyRole)
    drop_on_category(window.category_panel, UNCATEGORIZED, session.model.mimeData(picked))
    uncategorized = rows_of(window, UNCATEGORIZED)
    assert key in {i.data(KeyRole) for i in uncategorized if i.data(ManualRole)}
    with Store() as store:
        assert store.overrides([key]) == {key: UNCATEGORIZED}


def test_drop_on_all_photos_is_refused(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    view = window.category_panel.list
    mime = window.session.model.mimeData(rows_of(window, None)[:1])
    pos = QPointF(view.visualItemRect(view.item(0)).center())
    move = QDragMoveEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)  # fmt: skip
    view.dragMoveEvent(move)
    assert not move.isAccepted()
    QApplication.processEvents()


def selected_keys(window) -> set[str]:
    return {i.data(KeyRole) for i in window.grid.selectionModel().selectedIndexes()}


def test_dropped_photos_stay_selected_where_they_still_show(qtbot, make_window, photo_dir):
    """Like Lightroom: photos dropped on a category stay selected in "All photos" (the
    re-scoring the drop starts re-sorts the grid), so the next action applies to them."""
    window = make_window(photo_dir)
    window.show()
    start_and_wait(qtbot, window)
    grid, model = window.grid, window.session.model
    rows_of(window, None)
    picked = [model.index(1), model.index(4), model.index(5)]
    flags = grid.selectionModel().SelectionFlag
    for index in picked:
        grid.selectionModel().select(index, flags.Select)
    grid.selectionModel().setCurrentIndex(picked[-1], flags.NoUpdate)
    keys, current = {i.data(KeyRole) for i in picked}, picked[-1].data(KeyRole)
    target = next(n for n in ("Red", "Green") if n not in {i.data(CategoryRole) for i in picked})
    drop_on_category(window.category_panel, target, model.mimeData(picked))
    assert all(i.data(ManualRole) for i in grid.selectionModel().selectedIndexes())
    assert selected_keys(window) == keys
    assert grid.currentIndex().data(KeyRole) == current

    window.category_panel.select(UNCATEGORIZED)  # another view: the selection goes
    assert not grid.selectionModel().hasSelection()
