"""Sorting from the window: counts match the CLI, drops add folders, cancel, offline model."""

from __future__ import annotations

import io
import json
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from photosorter import cli
from photosorter.core.categories import UNCATEGORIZED
from photosorter.gui.grid_heading import EMPTY_TEXT
from tests.gui.conftest import start_and_wait, write_photos


def cli_counts(folder: Path, categories: Path, model: str) -> Counter:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["sort", str(folder), "--categories", str(categories), "--model", model,
                         "--json"])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    return Counter(r["category"] or UNCATEGORIZED for r in rows)


def panel_counts(window) -> dict[str, int]:
    panel = window.category_panel.list
    from photosorter.gui.category_list import CountRole, NameRole

    return {
        panel.item(i).data(NameRole): panel.item(i).data(CountRole)
        for i in range(panel.count())
        if panel.item(i).data(NameRole) is not None
    }


def test_groups_and_counts_match_cli(qtbot, make_window, photo_dir, colours_toml, gui_model):
    window = make_window(photo_dir)
    window.show()
    finished = start_and_wait(qtbot, window)
    assert not finished.cancelled
    assert finished.total == 16

    expected = cli_counts(photo_dir, colours_toml, gui_model)
    counts = panel_counts(window)
    assert {k: v for k, v in counts.items() if v} == dict(expected)
    assert sum(counts.values()) == 16
    # One click on a category shows exactly its photos.
    session = window.session
    for name, n in expected.items():
        window.category_panel.select(name)
        assert session.model.rowCount() == n
        assert window.heading.text() == name
    window.category_panel.select(None)
    assert session.model.rowCount() == 16


def test_window_title_size_and_empty_state(make_window):
    window = make_window()
    window.show()
    assert "PhotoSorter" in window.windowTitle()
    assert window.session.model.rowCount() == 0
    assert window.grid.empty_text == EMPTY_TEXT
    room = window.screen().availableGeometry()
    # Large, but within the screen (here 800 px wide): a laptop's 1366x768 shows it whole.
    assert window.width() >= 0.8 * min(1280, room.width())
    assert window.width() <= room.width() and window.height() < room.height() - 40


def test_dropping_a_folder_adds_and_sorts_it(qtbot, make_window, tmp_path):
    folder = tmp_path / "dropped"
    write_photos(folder, 8)
    window = make_window()
    window.show()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, buttons, keys)
    window.dragEnterEvent(enter)  # what Qt calls while the user drags over the window
    assert enter.isAccepted()
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, buttons, keys)
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000):
        window.dropEvent(event)
    assert event.isAccepted()
    assert window.session.model.rowCount() == 8
    # The folder is remembered for the next start.
    assert [s.path for s in window.session.settings.sources] == [folder]
    from photosorter.core.settings import load_settings

    assert [s.path for s in load_settings()[0].sources] == [folder]


def test_cancel_mid_run(qtbot, make_window, tmp_path):
    folder = tmp_path / "many"
    write_photos(folder, 24)
    window = make_window(folder)
    session = window.session
    session.batch_size = 4
    # Cancel from the worker thread as soon as the first batch exists, so the run is
    # reliably stopped part-way however fast the machine is.
    session.worker.batch_ready.connect(
        lambda _event: session._cancel and session._cancel.cancel(),
        Qt.ConnectionType.DirectConnection,
    )
    finished = start_and_wait(qtbot, window)
    assert finished.cancelled
    assert 0 < len(session.results) < 24
    assert not session.running
    assert not window.busy.isVisible()


def test_offline_model_shows_a_plain_message(qtbot, make_window, photo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-empty" / "hub"))
    window = make_window(photo_dir, model="ViT-B-32:laion2b_s34b_b79k")
    window.show()
    finished = start_and_wait(qtbot, window, timeout=120_000)
    assert finished.cancelled
    bar = window.message_bar
    assert bar.isVisible()
    assert "could not be downloaded" in bar.text.text()
    assert "local model folder" in bar.text.text()
    assert bar.settings_button.isVisible()
    assert not window.busy.isVisible()


def test_grid_says_looking_for_photos_from_the_start_of_a_run(qtbot, make_window, photo_dir):
    """Until the first photos come (the model loads for seconds), the empty grid says the
    photos are being looked for, not "No photos found."."""
    window = make_window(photo_dir)
    window.show()
    assert window.grid.empty_text == "No photos found."
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000):
        window.session.start_run()
        assert window.grid.empty_text == "Looking for photos…"
    assert window.session.model.rowCount() == 16
