"""Settings dialog round trip, plan confirmation, preview on Space, the None work-around."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from photosorter.core.settings import Settings, load_settings
from photosorter.gui.dialogs import PlanDialog, SettingsDialog
from tests.gui.conftest import start_and_wait


def test_settings_dialog_round_trip(qtbot, tmp_path):
    settings = Settings(destination=tmp_path)
    dialog = SettingsDialog(None, settings, list_models=False)
    qtbot.addWidget(dialog)
    assert dialog.destination.text() == str(tmp_path)
    dialog.model.setEditText("local-dir:/models/tiny")
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.sensitivity.setCurrentIndex(dialog.sensitivity.findData("high"))
    dialog.action.setCurrentIndex(dialog.action.findData("tag"))
    dialog.destination.setText("")
    assert dialog.fast.isChecked()  # the accelerated encoder is the default
    dialog.fast.setChecked(False)  # force plain PyTorch
    new = dialog.settings()
    assert (new.model, new.device, new.sensitivity, new.action, new.destination) == (
        "local-dir:/models/tiny", "cpu", "high", "tag", None,
    )  # fmt: skip
    assert new.backend == "pytorch"


def test_new_threshold_rescores_and_persists(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session = window.session
    from dataclasses import replace

    weak = int((session.results.scores < 0.99).sum())
    session.update_settings(replace(session.settings, threshold=0.99))
    assert session.results.counts()["Uncategorized"] == weak
    assert load_settings()[0].threshold == 0.99


def test_plan_dialog_lists_destinations(qtbot):
    dialog = PlanDialog(None, "move", [("/out/Red", 3), ("/out/Blue", 2)], left=1)
    qtbot.addWidget(dialog)
    texts = [w.text() for w in dialog.findChildren(QLabel)]
    assert any("5 photos will be moved" in t for t in texts)
    assert any("1 photo will stay" in t for t in texts)


def test_space_opens_one_preview(qtbot, make_window, photo_dir, monkeypatch):
    from photosorter.gui import grid_actions

    opened: list[int] = []
    monkeypatch.setattr(grid_actions.PreviewDialog, "exec", lambda self: opened.append(1) or 0)
    window = make_window(photo_dir)
    window.show()
    start_and_wait(qtbot, window)
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.session.model.index(0))
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    assert opened == [1]
    window.grid_actions.preview(window.session.model.index(1))
    assert opened == [1, 1]


def test_many_void_qt_calls_do_not_crash(qtbot):
    """PySide6 6.12 on CPython < 3.12 drops a None reference per void call (compat.py)."""
    label = QLabel()
    qtbot.addWidget(label)
    for _ in range(20_000):
        label.setText("x")
    assert label.text() == "x"
