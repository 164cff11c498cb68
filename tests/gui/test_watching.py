"""Watched folders in the app: real files, the real observer, the tiny model, real moves."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from photosorter.core.settings import Settings, Source, save_settings
from photosorter.gui import watching
from photosorter.gui.main_window import MainWindow
from photosorter.gui.photo_model import PathRole
from photosorter.gui.settings_dialog import SettingsDialog
from photosorter.gui.sources_panel import WatchRole
from photosorter.gui.workers import running_threads
from tests.fixtures.shapes import draw_shape
from tests.gui.conftest import COLOURS

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setattr(watching, "SETTLE_S", 0.3)
    monkeypatch.setattr(watching, "RETRY_S", 0.3)
    asked: list[Path] = []
    monkeypatch.setattr(
        watching.Watching,
        "_confirm_move_with_dialog",
        lambda self, folder, dest: asked.append(folder) or True,
    )
    return asked


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def write_arrivals(folder: Path, n: int, seed: int = 1) -> dict[str, tuple[bytes, str]]:
    """n colour pictures, every third one in a sub-folder; name -> (bytes, colour)."""
    rng = random.Random(seed)
    written = {}
    for i in range(n):
        colour = COLOURS[i % len(COLOURS)]
        where = folder / "card" if i % 3 == 2 else folder
        where.mkdir(parents=True, exist_ok=True)
        path = where / f"new-{seed}-{i:02d}-{colour}.jpg"
        draw_shape("circle", colour, rng, 128).save(path, quality=90)
        written[path.name] = (path.read_bytes(), colour)
    return written


def configure(window: MainWindow, **changes) -> None:
    session = window.session
    session.update_settings(replace(session.settings, **changes), restart=False)


def click_eye(qtbot, window: MainWindow, folder: Path) -> None:
    panel = window.sources_panel
    pos = panel.eye_position(folder)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def wait_watching(qtbot, window: MainWindow, folder: Path) -> None:
    """Until the observer is really on `folder` (files written earlier count as catch-up)."""
    qtbot.waitUntil(
        lambda: (
            window.watching.worker is not None
            and window.watching.worker.watched_now() == [real(folder)]
        ),
        timeout=WAIT_MS,
    )


def check_sorted(dest: Path, written: dict[str, tuple[bytes, str]]) -> None:
    """Each photo once under dest/<category>/, byte-identical; the tiny model is >= 95% right."""
    found = list(dest.rglob("*.jpg"))
    assert sorted(p.name for p in found) == sorted(written)
    wrong = 0
    for path in found:
        data, colour = written[path.name]
        assert path.read_bytes() == data
        assert path.parent.parent == dest
        wrong += path.parent.name != colour.title()
    assert wrong <= len(written) // 20


def test_watching_with_move_asks_first_and_a_no_leaves_it_off(make_window, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    window = make_window(inbox)
    configure(window, action="move", destination=tmp_path / "sorted")
    window.watching.confirm_move = lambda folder, dest: False
    assert not window.watching.set_watch(inbox, True)
    assert window.session.settings.watched == []


def test_new_photos_are_moved_once_and_counted(qtbot, make_window, tmp_path, quick_watch):
    inbox, dest = tmp_path / "inbox", tmp_path / "sorted"
    inbox.mkdir()
    window = make_window(inbox)
    configure(window, action="move", destination=dest)
    window.show()
    status = window.watch_status
    assert not status.isVisible()

    click_eye(qtbot, window, inbox)
    assert quick_watch == [inbox]  # asked before anything moves
    assert window.session.settings.watched == [inbox]  # saved, not just for this run
    assert window.sources_panel.row_of(inbox).data(WatchRole) is True
    assert status.isVisible() and status.label.text() == "Watching 1 folder"
    wait_watching(qtbot, window, inbox)

    written = write_arrivals(inbox, 6)
    qtbot.waitUntil(lambda: window.watching.new_photos >= 6, timeout=WAIT_MS)
    check_sorted(dest, written)
    assert window.watching.new_photos == 6
    assert status.badge.isVisible() and status.badge.text() == "6 new photos sorted"
    assert not list(inbox.rglob("*.jpg"))
    # The grid shows the photos at their new place.
    qtbot.waitUntil(lambda: set(dest.rglob("*.jpg")) <= set(window.session.results.paths))
    assert window.session.model.rowCount() == 6

    qtbot.mouseClick(status.badge, Qt.MouseButton.LeftButton)
    assert window.watching.new_photos == 0 and not status.badge.isVisible()

    click_eye(qtbot, window, inbox)  # off again: the watch thread ends
    assert window.session.settings.watched == []
    qtbot.waitUntil(lambda: "photosorter-watch" not in running_threads(), timeout=WAIT_MS)
    assert not status.isVisible()


def test_own_moves_never_come_back(qtbot, make_window, tmp_path):
    inbox = tmp_path / "inbox"
    dest = inbox / "Sorted"  # inside the watched folder
    inbox.mkdir()
    window = make_window(inbox)
    configure(window, action="move", destination=dest)
    assert window.watching.set_watch(inbox, True)
    wait_watching(qtbot, window, inbox)

    first = write_arrivals(inbox, 4, seed=2)
    qtbot.waitUntil(lambda: window.watching.new_photos >= 4, timeout=WAIT_MS)
    last = write_arrivals(inbox, 1, seed=3)
    qtbot.waitUntil(lambda: window.watching.new_photos >= 5, timeout=WAIT_MS)
    check_sorted(dest, first | last)
    classified = window.watching.classified
    assert len(classified) == len(set(classified)) == 5  # each once, nothing from dest
    assert not [p for p in classified if p.is_relative_to(real(dest))]
    assert window.watching.new_photos == 5

    # Undo puts the last photo back in the inbox, where it stays: no loop there either.
    with qtbot.waitSignal(window.file_actions.finished, timeout=WAIT_MS) as undone:
        assert window.file_actions.undo()
    assert "Undid" in undone.args[0].message
    back = [p for p in inbox.rglob("*.jpg") if not p.is_relative_to(dest)]
    assert [p.name for p in back] == list(last)
    write_arrivals(inbox, 1, seed=6)
    qtbot.waitUntil(lambda: window.watching.new_photos >= 6, timeout=WAIT_MS)
    assert back[0].exists()
    assert len(window.watching.classified) == 6


def test_tag_action_keeps_photos_and_deleted_ones_leave_the_grid(qtbot, make_window, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    window = make_window(inbox)
    configure(window, action="tag")
    assert window.watching.set_watch(inbox, True)  # tagging needs no destination
    wait_watching(qtbot, window, inbox)

    written = write_arrivals(inbox, 3, seed=4)
    qtbot.waitUntil(lambda: window.watching.new_photos >= 3, timeout=WAIT_MS)
    assert window.watch_status.badge.text() == "3 new photos tagged"
    photos = sorted(inbox.rglob("*.jpg"))
    assert sorted(p.name for p in photos) == sorted(written)  # they stay where they are
    for photo in photos:
        sidecar = next(p for p in (Path(f"{photo}.xmp"), photo.with_suffix(".xmp")) if p.exists())
        assert written[photo.name][1].title() in sidecar.read_text(encoding="utf-8")
    model = window.session.model
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=WAIT_MS)

    gone = real(photos[0])
    gone.unlink()
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=WAIT_MS)
    shown = {model.data(model.index(i), PathRole) for i in range(2)}
    assert gone not in shown
    assert window.watching.classified and len(window.watching.classified) == 3


def test_catch_up_on_start_with_polling(qtbot, make_window, tmp_path):
    inbox, dest = tmp_path / "inbox", tmp_path / "sorted"
    written = write_arrivals(inbox, 3, seed=5)  # arrived while PhotoSorter was not running
    save_settings(
        Settings(action="move", destination=dest, sources=(Source(inbox, watch=True),),
                 watch_polling=True)
    )  # fmt: skip
    window = make_window()
    assert window.watch_status.label.text() == "Watching 1 folder"
    qtbot.waitUntil(lambda: window.watching.new_photos >= 3, timeout=WAIT_MS)
    check_sorted(dest, written)
    assert window.watching.new_photos == 3


def test_watch_needs_a_destination_and_reports_a_missing_folder(qtbot, make_window, tmp_path):
    inbox = tmp_path / "inbox"
    window = make_window()
    window.session.add_sources([inbox.parent])  # any folder; then watch one that is missing
    panel, actions = window.sources_panel, window.file_actions
    configure(window, action="copy", destination=None)
    asked = []
    actions.choose_destination = lambda action: asked.append(action)  # cancelled
    panel.list.setCurrentItem(panel.row_of(inbox.parent))
    panel.watch_action.trigger()
    assert asked == ["copy"]
    assert window.session.settings.watched == [] and not panel.watch_action.isChecked()

    actions.choose_destination = lambda action: tmp_path / "copies"
    assert window.watching.set_watch(inbox, True)
    assert window.session.settings.destination == tmp_path / "copies"
    bar = window.message_bar
    qtbot.waitUntil(
        lambda: not bar.isHidden() and "Cannot watch" in bar.text.text(), timeout=WAIT_MS
    )
    assert str(inbox) in bar.text.text()
    assert real(inbox) in window.problems.paths()  # listed under Problems too

    inbox.mkdir()  # it comes (back): watching starts by itself, with a message
    qtbot.waitUntil(lambda: "Watching" in bar.text.text(), timeout=WAIT_MS)
    wait_watching(qtbot, window, inbox)

    inbox.rmdir()  # deleted and re-created while watched: said both times, never silent
    qtbot.waitUntil(lambda: "was removed" in bar.text.text(), timeout=WAIT_MS)
    inbox.mkdir()
    qtbot.waitUntil(lambda: "watching it again" in bar.text.text(), timeout=WAIT_MS)
    assert "photosorter-watch" in running_threads()
    window.session.cancel()


def test_settings_dialog_has_the_polling_option(qtbot):
    dialog = SettingsDialog(None, Settings(watch_polling=True), list_models=False)
    qtbot.addWidget(dialog)
    assert dialog.polling.isChecked()
    dialog.polling.setChecked(False)
    assert dialog.settings().watch_polling is False
