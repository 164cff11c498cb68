"""Find in the app: search by words as the user types, Find Similar, and the Duplicates
view with "Keep Best, Move the Rest to the Trash" and its undo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QToolButton

from photosorter.gui.photo_model import PathRole, ScoreRole
from photosorter.gui.sources_panel import FolderChosen
from tests.gui.conftest import start_and_wait, write_photos


def shown(window) -> list[Path]:
    model = window.session.model
    return [model.index(r).data(PathRole) for r in range(model.rowCount())]


def colour(path: Path) -> str:
    return path.name.split("-")[0]


def test_typing_words_ranks_every_folder_and_escape_clears(qtbot, make_window, tmp_path):
    write_photos(tmp_path / "a", 8, seed=1)
    write_photos(tmp_path / "b", 8, seed=2)
    window = make_window(tmp_path / "a", tmp_path / "b")
    window.show()
    qtbot.waitExposed(window)
    start_and_wait(qtbot, window)
    window._on_folder_chosen(FolderChosen(tmp_path / "a"))  # searching spans every folder
    everything = len(window.session.results)

    window.search.focus_action.trigger()
    assert window.search.field.hasFocus()
    qtbot.keyClicks(window.search.field, "red")
    qtbot.waitUntil(lambda: window.session.model.searching, timeout=30_000)
    found = shown(window)
    assert [colour(p) for p in found[:4]] == ["red"] * 4
    assert {p.parent.name for p in found[:4]} == {"a", "b"}
    assert len(found) < everything  # filtered: only the better matches
    model = window.session.model
    scores = [model.index(r).data(ScoreRole) for r in range(model.rowCount())]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0  # each shows its score
    assert window.heading.text() == "Photos matching “red”"

    qtbot.keyClick(window.search.field, Qt.Key.Key_Escape)
    assert window.search.field.text() == ""
    assert not window.session.model.searching
    assert window.heading.text() == "All photos"
    assert len(shown(window)) == 8  # back to the folder chosen before
    assert all(p.parent.name == "a" for p in shown(window))


def test_the_clear_button_goes_with_the_words(qtbot, make_window, photo_dir):
    """Escape empties the field: its clear button (x) goes too, as when the words are deleted."""
    window = make_window(photo_dir)
    window.show()
    qtbot.waitExposed(window)
    start_and_wait(qtbot, window)
    field = window.search.field
    button = field.findChild(QToolButton)
    qtbot.keyClicks(field, "red")
    qtbot.waitUntil(lambda: window.session.model.searching, timeout=30_000)
    assert button.isVisible()
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert field.text() == "" and not window.session.model.searching
    qtbot.waitUntil(lambda: not button.isVisible(), timeout=5_000)
    assert not window.search._timer.isActive()  # emptying the field searches nothing


def test_find_similar_ranks_the_photo_and_its_look_alikes_first(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    model = window.session.model
    index = model.index(3)
    photo = index.data(PathRole)
    window.grid.setCurrentIndex(index)

    window.grid_actions.similar_action.trigger()
    found = shown(window)
    assert found[0] == photo
    scores = [model.index(r).data(ScoreRole) for r in range(model.rowCount())]
    assert scores[0] > 0.99  # itself
    assert scores == sorted(scores, reverse=True) and len(found) < 16
    assert window.heading.text() == f"Photos like {photo.name}"
    window.search.clear_action.trigger()
    assert len(shown(window)) == 16


def duplicate_photos(folder: Path) -> dict[str, Path]:
    """Four distinct pictures, plus a byte copy and a smaller re-encoding of the first."""
    write_photos(folder, 4)
    original = sorted(folder.glob("red-*.jpg"))[0]
    copy = folder / "copy of red.jpg"
    shutil.copyfile(original, copy)
    small = folder / "red small.jpg"
    with Image.open(original) as img:
        img.resize((96, 96)).save(small, quality=70)
    for age, path in enumerate((original, copy, small)):
        os.utime(path, (1_600_000_000 + age, 1_600_000_000 + age))  # the original is oldest
    return {"original": original, "copy": copy, "small": small}


def open_duplicates(qtbot, window):
    dialog = window.show_duplicates()  # the window owns it
    qtbot.waitUntil(lambda: bool(dialog.groups), timeout=30_000)
    return dialog


def test_duplicates_view_groups_the_same_picture(qtbot, make_window, tmp_path):
    files = duplicate_photos(tmp_path / "photos")
    window = make_window(tmp_path / "photos")
    start_and_wait(qtbot, window)
    dialog = open_duplicates(qtbot, window)
    assert dialog.paths() == [[files["original"], files["copy"], files["small"]]]
    assert [c.photo.path for c in dialog.cards] == dialog.paths()[0]
    facts = [label.text() for label in dialog.cards[0].findChildren(QLabel)]
    assert any(t.startswith("128 × 128\nJPEG · ") for t in facts)  # resolution, format, size
    assert dialog.summary.text() == "1 group of duplicates; 2 photos beside the best"


def test_keep_best_trashes_the_rest_and_undo_brings_them_back(
    qtbot, make_window, tmp_path, trash_home
):
    files = duplicate_photos(tmp_path / "photos")
    content = {p: p.read_bytes() for p in files.values()}
    window = make_window(tmp_path / "photos")
    start_and_wait(qtbot, window)
    dialog = open_duplicates(qtbot, window)
    actions = window.file_actions

    with qtbot.waitSignal(actions.finished, timeout=60_000) as done:
        dialog.trash_all_button.click()
    assert done.args[0].message == "2 photos moved to the trash."
    assert files["original"].exists()
    assert not files["copy"].exists() and not files["small"].exists()
    assert len(list((trash_home / "files").iterdir())) == 2  # the system trash: not deleted
    assert files["copy"] not in shown(window)  # gone from the grid
    qtbot.waitUntil(lambda: dialog.summary.text().startswith("No duplicates"), timeout=30_000)
    assert window.undo_action.text() == "Undo Move to the Trash"

    back = qtbot.waitSignal(window.session.run_finished, timeout=60_000)  # back in the grid
    with back, qtbot.waitSignal(actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert "2 photos put back from the trash" in undone.args[0].message
    assert {p: p.read_bytes() for p in files.values()} == content  # byte-identical
    assert list((trash_home / "files").iterdir()) == []
    assert set(files.values()) <= set(shown(window))
    qtbot.waitUntil(lambda: len(dialog.groups) == 1, timeout=30_000)  # found again
