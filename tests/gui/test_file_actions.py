"""Move to category folders from the window, then Edit > Undo puts everything back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from photosorter.core.categories import UNCATEGORIZED
from tests.gui.conftest import start_and_wait


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
