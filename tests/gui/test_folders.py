"""The Folders panel as a filter: a click shows that folder's photos (with the category
chosen), a second click or "All folders" shows them all again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from photosorter.core.settings import load_settings
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


def test_a_click_on_the_watch_eye_does_not_filter(qtbot, make_window, tmp_path: Path) -> None:
    window, trip, _home = two_folders(qtbot, make_window, tmp_path)
    window.watching.set_watch = lambda path, watch: True  # what the eye asks, not watching
    toggled = []
    window.sources_panel.watch_toggled.connect(toggled.append)
    panel = window.sources_panel
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.eye_position(trip))
    assert [(t.path, t.watch) for t in toggled] == [(trip, True)]
    assert window.session.model.folder is None and len(shown(window)) == 20


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


def move_all(qtbot, window: MainWindow, dest: Path) -> None:
    actions = window.file_actions
    actions.choose_destination = lambda _action: dest
    actions.confirm = lambda _plan: True
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        assert actions.run_action("move")
    assert any(dest.rglob("*.jpg")), "nothing was moved"


def sorted_window(qtbot, make_window, photos: Path) -> MainWindow:
    """A window over 8 new photos in `photos`, sorted."""
    write_photos(photos, 8)
    window = make_window(photos)
    start_and_wait(qtbot, window)
    return window


def undo(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.file_actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert "moved back" in undone.args[0].message


def test_moved_photos_stay_in_the_library_after_a_restart(qtbot, make_window, tmp_path) -> None:
    """A moved photo is still in the library at its new place: the destination becomes a
    folder of the library, so sorting again (as a restart does) finds every photo."""
    photos, dest = tmp_path / "photos", tmp_path / "sorted"
    write_photos(photos, 12)
    window = make_window(photos)
    start_and_wait(qtbot, window)
    session = window.session
    before = window.session.model.rowCount()
    move_all(qtbot, window, dest)
    assert shown(window) == {p for p in (*photos.rglob("*.jpg"), *dest.rglob("*.jpg"))}
    assert dest in session.saved_sources
    assert load_settings()[0].sources[-1].path == dest
    assert window.sources_panel.row_of(dest) is not None
    start_and_wait(qtbot, window)  # what a restart does: sort every folder again
    assert window.session.model.rowCount() == before
    assert shown(window) == {p for p in (*photos.rglob("*.jpg"), *dest.rglob("*.jpg"))}


def test_undoing_a_move_takes_the_folder_it_added_out_again(qtbot, make_window, tmp_path):
    photos, dest = tmp_path / "photos", tmp_path / "sorted"
    window = sorted_window(qtbot, make_window, photos)
    move_all(qtbot, window, dest)
    assert window.sources_panel.row_of(dest) is not None
    undo(qtbot, window)
    assert dest not in window.session.saved_sources
    assert dest not in [s.path for s in load_settings()[0].sources]
    assert window.sources_panel.row_of(dest) is None
    assert shown(window) == set(photos.iterdir())


def test_undoing_a_move_keeps_a_folder_the_user_had_added(qtbot, make_window, tmp_path):
    photos, dest = tmp_path / "photos", tmp_path / "sorted"
    dest.mkdir()
    window = sorted_window(qtbot, make_window, photos)
    window.session.add_sources([dest])
    qtbot.waitUntil(lambda: not window.session.running, timeout=60_000)
    move_all(qtbot, window, dest)
    undo(qtbot, window)
    assert dest in window.session.saved_sources
    assert window.sources_panel.row_of(dest) is not None


def test_undoing_a_move_keeps_the_folder_while_it_holds_photos(qtbot, make_window, tmp_path):
    photos, dest = tmp_path / "photos", tmp_path / "sorted"
    window = sorted_window(qtbot, make_window, photos)
    move_all(qtbot, window, dest)
    write_photos(dest / "mine", 1, seed=5)  # the user put a photo of theirs there since
    undo(qtbot, window)
    assert dest in window.session.saved_sources


def test_the_plan_dialog_changes_the_destination(qtbot, make_window, tmp_path) -> None:
    photos, first, second = tmp_path / "photos", tmp_path / "first", tmp_path / "second"
    window = sorted_window(qtbot, make_window, photos)
    actions = window.file_actions
    actions.choose_destination = lambda _action: first
    asked: list[Path | None] = []
    answers = iter([second, True])
    actions.confirm = lambda plan: asked.append(plan.dest_root) or next(answers)
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        assert actions.run_action("copy")
    assert asked == [first, second]
    assert not first.exists() and any(second.rglob("*.jpg"))
    assert window.session.settings.destination == second  # the last one is remembered


def test_the_plan_dialog_offers_another_destination(qtbot, monkeypatch, tmp_path) -> None:
    from photosorter.gui import dialogs

    monkeypatch.setattr(
        dialogs.QFileDialog, "getExistingDirectory", lambda *_a: str(tmp_path / "other")
    )
    dialog = dialogs.PlanDialog(None, "move", [("/x/Red", 3)], 0, tmp_path / "sorted")
    qtbot.addWidget(dialog)
    dialog.change_button.click()
    assert dialog.result() == dialogs.PlanDialog.CHANGE_DESTINATION
    assert dialog.new_destination == tmp_path / "other"


def test_the_destination_picker_opens_beside_the_photos(qtbot, make_window, monkeypatch, tmp_path):
    from photosorter.gui import dialogs

    photos = tmp_path / "albums" / "photos"
    write_photos(photos, 2)
    window = make_window(photos)
    opened: list[str] = []
    monkeypatch.setattr(
        dialogs.QFileDialog, "getExistingDirectory", lambda _p, _t, start: opened.append(start)
    )
    assert window.file_actions.choose_destination("move") is None
    assert opened == [str(tmp_path / "albums")]


def test_ctrl_enter_in_the_description_presses_ok(qtbot) -> None:
    from photosorter.gui.dialogs import CategoryDialog

    dialog = CategoryDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setText("Pets")
    dialog.prompts.setFocus()
    qtbot.keyClicks(dialog.prompts, "dog")
    qtbot.keyClick(dialog.prompts, Qt.Key.Key_Return)  # a new line, not OK
    assert dialog.isVisible()
    qtbot.keyClick(dialog.prompts, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.category().prompts == ("dog",)


def test_problems_panel_is_one_line_in_a_small_window(qtbot, make_window, tmp_path) -> None:
    from photosorter.gui.notices import Problem

    window = make_window()
    window.resize(800, 600)
    window.show()
    qtbot.waitExposed(window)
    problems = [Problem(tmp_path / f"bad{i}.jpg", "not an image file") for i in range(2)]
    window.session.problems_added.emit(problems)
    dock = window.problems
    assert dock.isVisible() and dock.compact
    assert dock.summary.text().startswith("2 file")  # (plural forms come with translations)
    qtbot.waitUntil(lambda: dock.height() < 70, timeout=2_000)
    dock.summary.click()
    assert not dock.compact and dock.tree.isVisible()
    qtbot.waitUntil(lambda: dock.height() > 100, timeout=2_000)


def test_problems_panel_shows_the_list_in_a_large_window(qtbot, make_window, tmp_path) -> None:
    from photosorter.gui.notices import Problem

    window = make_window()
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.session.problems_added.emit([Problem(tmp_path / "bad.jpg", "not an image file")])
    assert not window.problems.compact and window.problems.tree.isVisible()
