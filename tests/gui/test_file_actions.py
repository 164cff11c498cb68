"""Move to category folders from the window, then Edit > Undo puts everything back."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from photosorter.core.categories import UNCATEGORIZED
from photosorter.gui.operations import OperationDone
from tests.fixtures.dng import write_dng
from tests.fixtures.shapes import draw_scene
from tests.gui.conftest import start_and_wait, write_photos


def test_move_then_undo(qtbot, make_window, photo_dir, tmp_path):
    dest = tmp_path / "sorted"
    window = make_window(photo_dir)
    window.show()
    start_and_wait(qtbot, window)
    session, actions = window.session, window.file_actions
    session.update_settings(replace(session.settings, destination=dest), restart=False)
    placed = dict(session.results.placed_items())
    assert placed, "the model put no photo in a category"
    shown = []
    actions.confirm = lambda plan: shown.append(plan.summary()) or True

    with qtbot.waitSignal(actions.finished, timeout=60_000) as done:
        window.move_action.trigger()
    assert shown and sum(n for _, n in shown[0]) == len(placed)
    assert "moved" in done.args[0].message
    for path, category in placed.items():
        assert not path.exists()
        assert (dest / category / path.name).is_file()
    # The grid shows the photos at their new place.
    now = set(session.results.paths)
    assert {dest / c / p.name for p, c in placed.items()} <= now
    assert window.message_bar.isVisible()

    with qtbot.waitSignal(actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert "Undid" in undone.args[0].message
    for path, category in placed.items():
        assert path.is_file()
        assert not (dest / category / path.name).exists()
    assert set(placed) <= set(session.results.paths)


def test_cancelled_confirmation_touches_nothing(qtbot, make_window, photo_dir, tmp_path):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    before = sorted(p.name for p in photo_dir.iterdir())
    shown = []
    window.file_actions.confirm = lambda plan: shown.append(plan) or False
    window.file_actions.choose_destination = lambda action: tmp_path / "out"
    assert window.file_actions.run_action("copy") is False
    assert len(shown) == 1 and shown[0].steps  # the user was asked, about real photos
    assert sorted(p.name for p in photo_dir.iterdir()) == before
    assert not (tmp_path / "out").exists()


def test_write_tags_writes_sidecars(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    actions = window.file_actions
    actions.confirm = lambda plan: True
    placed = [(p, c) for p, c in window.session.results.placed_items() if c != UNCATEGORIZED]
    assert placed, "the model put no photo in a category"
    with qtbot.waitSignal(actions.finished, timeout=60_000):
        window.tag_action.trigger()
    for path, category in placed:
        sidecar = Path(f"{path}.xmp")
        assert f"<rdf:li>{category}</rdf:li>" in sidecar.read_text(encoding="utf-8")
    untouched = set(window.session.results.paths) - {p for p, _ in placed}
    assert not [p for p in untouched if Path(f"{p}.xmp").exists()]


def test_undo_counts_photos_as_the_operation_did(qtbot, make_window, tmp_path):
    """A RAW+JPEG pair is one photo and a sidecar travels with its photo: "Undid Copy to
    Folders" counts the photos the copy counted, not every file (it said 64 for 31)."""
    folder = tmp_path / "photos"
    write_photos(folder, 8)
    picture = draw_scene("circle", "red", random.Random(1), (320, 240), busy=False)
    write_dng(folder / "IMG_1.CR2", picture)
    picture.save(folder / "IMG_1.JPG", quality=90)
    window = make_window(folder)
    start_and_wait(qtbot, window)
    session, actions = window.session, window.file_actions
    dest = tmp_path / "sorted"
    session.update_settings(replace(session.settings, destination=dest), restart=False)
    actions.confirm = lambda plan: True

    def run(action) -> OperationDone:
        with qtbot.waitSignal(actions.finished, timeout=60_000) as blocker:
            action.trigger()
        return blocker.args[0]

    tagged = run(window.tag_action)  # sidecars now travel with their photos
    n = tagged.done
    assert tagged.message == f"{n} photos tagged." and (folder / "IMG_1.CR2.xmp").is_file()
    assert run(window.copy_action).message == f"{n} photos copied."
    assert run(window.undo_action).message.endswith(f": {n} copied photos removed.")
    assert run(window.move_action).message == f"{n} photos moved."
    assert run(window.undo_action).message.endswith(f": {n} photos moved back.")
    assert run(window.undo_action).message.endswith(f"Keywords removed from {n} photos.")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(p.name for p in folder.glob("*-*.jpg")), "IMG_1.CR2", "IMG_1.JPG"]
    )
