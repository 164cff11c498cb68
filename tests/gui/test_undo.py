"""One undo stack for everything the user does: drags, examples, category edits, files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from photosorter.core.categories import Category, load_categories
from photosorter.gui.category_list import PhotosDropped
from tests.gui.conftest import start_and_wait


def sorted_window(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    return window, window.session


def test_nothing_to_undo_at_start(qtbot, make_window, photo_dir):
    window, _session = sorted_window(qtbot, make_window, photo_dir)
    assert not window.undo_action.isEnabled()
    assert not window.redo_action.isEnabled()
    assert window.undo_action.text() == "Undo"


def test_drag_is_undone_and_redone(qtbot, make_window, photo_dir):
    window, session = sorted_window(qtbot, make_window, photo_dir)
    a, b, c = [k for k in session.results.keys if k][:3]
    session.pin([a], "Red")
    window._on_photos_dropped(PhotosDropped((a, b, c), "Blue"))
    assert session.store.overrides([a, b, c]) == dict.fromkeys([a, b, c], "Blue")
    assert window.undo_action.text() == "Undo Put 3 photos in Blue"
    assert window.undo_action.isEnabled()

    window.undo_action.trigger()
    assert session.store.overrides([a, b, c]) == {a: "Red"}  # each back to what it was
    assert session.results.overrides.get(b) is None
    assert window.redo_action.text() == "Redo Put 3 photos in Blue"
    window.redo_action.trigger()
    assert session.store.overrides([a, b, c]) == dict.fromkeys([a, b, c], "Blue")


def test_removed_example_comes_back(qtbot, make_window, photo_dir):
    window, session = sorted_window(qtbot, make_window, photo_dir)
    key = next(k for k in session.results.keys if k)
    session.pin([key], "Green")
    session.unpin([key])  # "Remove Example" / "Let the Model Decide"
    assert [e.key for e in session.examples_of("Green")] == []
    assert window.undo_action.text() == "Undo Let the Model Place 1 Photo"
    window.undo_action.trigger()
    assert [e.key for e in session.examples_of("Green")] == [key]


@pytest.mark.parametrize("kind", ["add", "rename", "prompts", "delete"])
def test_category_edit_is_undone_in_the_file(qtbot, make_window, photo_dir, colours_toml, kind):
    window, session = sorted_window(qtbot, make_window, photo_dir)
    panel = window.category_panel
    key = next(k for k in session.results.keys if k)
    session.pin([key], "Red")
    before_text = colours_toml.read_text(encoding="utf-8")
    before = session.categories
    expected = {
        "add": "Add Category “Purple”",
        "rename": "Rename “Red” to “Crimson”",
        "prompts": "Edit Category “Red”",
        "delete": "Delete Category “Red”",
    }[kind]
    if kind == "add":
        panel.apply_edit(None, Category("Purple", ("purple",)))
    elif kind == "rename":
        panel.apply_edit("Red", Category("Crimson", ("red",)))
    elif kind == "prompts":
        panel.apply_edit("Red", Category("Red", ("red", "scarlet")))
    else:
        panel.remove_category("Red")
    after = session.categories
    assert after != before
    assert window.undo_action.text() == f"Undo {expected}"

    window.undo_action.trigger()
    assert session.categories.names == before.names
    assert load_categories(colours_toml).categories == before.categories  # the file too
    if kind != "delete":  # a deleted table comes back in its place, its text rewritten
        assert colours_toml.read_text(encoding="utf-8") == before_text
    assert session.store.overrides([key]) == {key: "Red"}  # the pin is back
    assert [panel.list.item(r).text() for r in range(panel.list.count())][2:-1] == before.names

    window.redo_action.trigger()
    assert load_categories(colours_toml).categories == after.categories


def test_file_operation_is_undone_and_redone(qtbot, make_window, photo_dir, tmp_path):
    window, session = sorted_window(qtbot, make_window, photo_dir)
    actions = window.file_actions
    dest = tmp_path / "sorted"
    session.update_settings(replace(session.settings, destination=dest), restart=False)
    placed = dict(session.results.placed_items())
    actions.confirm = lambda plan: True
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        window.move_action.trigger()
    assert window.undo_action.text() == "Undo Move to Folders"
    assert all(not p.exists() for p in placed)

    with qtbot.waitSignal(actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert "moved back" in undone.args[0].message
    assert all(p.is_file() for p in placed)
    assert window.redo_action.text() == "Redo Move to Folders"

    actions.confirm = lambda plan: pytest.fail("redo asks nothing: the user chose it once")
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        window.redo_action.trigger()
    for path, category in placed.items():
        assert not path.exists()
        assert (dest / category / path.name).is_file()
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        window.undo_action.trigger()  # the redone move is undone in its turn
    assert all(p.is_file() for p in placed)


def test_file_undo_never_undoes_a_later_operation(qtbot, make_window, photo_dir, tmp_path):
    window, session = sorted_window(qtbot, make_window, photo_dir)
    actions = window.file_actions
    session.update_settings(replace(session.settings, destination=tmp_path / "m"), False)
    actions.confirm = lambda plan: True
    items = session.results.placed_items()
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        assert actions.run_action("tag")
    with qtbot.waitSignal(actions.finished, timeout=60_000):  # a watched folder's copy
        assert actions.apply_automatically(items, "copy", tmp_path / "c")
    copies = sorted((tmp_path / "c").rglob("*.jpg"))
    assert copies

    with qtbot.waitSignal(actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert "later Copy to Folders" in undone.args[0].message
    assert copies == sorted((tmp_path / "c").rglob("*.jpg"))  # the copy was not undone
    qtbot.waitUntil(lambda: window.undo_action.text() == "Undo Write Tags")  # still there
    assert any(photo_dir.glob("*.xmp"))
