"""The Folders panel as a filter: a click shows that folder's photos (with the category
chosen), a second click or "All folders" shows them all again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from photosorter.gui.main_window import MainWindow
from photosorter.gui.photo_model import PathRole
from tests.gui.conftest import start_and_wait, write_photos


def click_row(qtbot, window: MainWindow, text_or_path: str | Path) -> None:
    panel = window.sources_panel
    if isinstance(text_or_path, Path):
        item = panel.row_of(text_or_path)
    else:
        item = panel.list.findItems(text_or_path, Qt.MatchFlag.MatchExactly)[0]
    assert item is not None
    rect = panel.list.visualItemRect(item)
    pos = rect.center()
    pos.setX(rect.left() + 20)  # on the name, away from the watch eye
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def shown(window: MainWindow) -> set[Path]:
    model = window.session.model
    return {model.index(r).data(PathRole) for r in range(model.rowCount())}


def two_folders(qtbot, make_window, tmp_path: Path) -> tuple[MainWindow, Path, Path]:
    trip, home = tmp_path / "trip", tmp_path / "home"
    write_photos(trip, 8, seed=1)
    write_photos(home, 12, seed=2)
    window = make_window(trip, home)
    window.show()
    start_and_wait(qtbot, window)
    return window, trip, home


def test_a_click_on_a_folder_filters_the_grid_and_a_second_click_clears_it(
    qtbot, make_window, tmp_path: Path
) -> None:
    window, trip, home = two_folders(qtbot, make_window, tmp_path)
    assert len(shown(window)) == 20
    click_row(qtbot, window, trip)
    assert shown(window) == set(trip.iterdir())
    assert "trip" in window.subheading.text()
    click_row(qtbot, window, home)
    assert shown(window) == set(home.iterdir())
    click_row(qtbot, window, home)  # again: every folder
    assert len(shown(window)) == 20
    click_row(qtbot, window, trip)
    click_row(qtbot, window, "All folders")
    assert len(shown(window)) == 20


def test_the_folder_filter_combines_with_the_category(qtbot, make_window, tmp_path: Path) -> None:
    window, trip, _home = two_folders(qtbot, make_window, tmp_path)
    click_row(qtbot, window, trip)
    panel = window.category_panel.list
    red = panel.findItems("Red", Qt.MatchFlag.MatchStartsWith)[0]
    panel.setCurrentItem(red)
    found = shown(window)
    assert found and all(p.parent == trip for p in found)
    model = window.session.model
    in_red = {window.session.results.paths[r] for r in window.session.results.rows_in("Red")}
    assert found == {p for p in in_red if p.parent == trip}
    assert model.rowCount() < len(in_red)


def test_removing_the_folder_shown_shows_every_folder(qtbot, make_window, tmp_path) -> None:
    window, trip, home = two_folders(qtbot, make_window, tmp_path)
    click_row(qtbot, window, trip)
    window.sources_panel.remove_action.trigger()
    qtbot.waitUntil(lambda: not window.session.running, timeout=60_000)
    assert window.session.model.folder is None
    assert shown(window) == set(home.iterdir())
