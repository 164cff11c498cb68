"""Settings dialog round trip and provenance, plan confirmation, preview on Space, the None
work-around."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTextLayout, QTextOption
from PySide6.QtWidgets import QLabel, QPushButton

from photosorter.cli import build_parser
from photosorter.core.categories import load_categories
from photosorter.core.model.engine import DEFAULT_MODEL
from photosorter.core.settings import Overrides, Settings, load_settings, save_settings
from photosorter.gui.app import build_window
from photosorter.gui.dialogs import PlanDialog
from photosorter.gui.settings_dialog import SettingsDialog
from photosorter.gui.texts import NO_BREAK_HYPHEN
from tests.gui.conftest import start_and_wait


def plain(label: QLabel) -> str:
    """A label's text as read (a non-breaking hyphen is a hyphen)."""
    return label.text().replace(NO_BREAK_HYPHEN, "-")


def wrapped_lines(label: QLabel, width: int) -> list[str]:
    """The lines `label`'s text breaks into at `width` pixels, as a word-wrapped label's."""
    layout = QTextLayout(label.text(), label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    layout.setTextOption(option)
    layout.beginLayout()
    lines = []
    while (line := layout.createLine()).isValid():
        line.setLineWidth(width)
        line.setPosition(QPointF(0, 0))
        lines.append(label.text()[line.textStart() : line.textStart() + line.textLength()])
    layout.endLayout()
    return lines


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
    assert dialog.cluster.text() == ""  # index on this computer unless a cluster is named
    dialog.cluster.setText(" head.local:6379 ")
    assert dialog.fast.isChecked()  # the accelerated encoder is the default
    dialog.fast.setChecked(False)  # force plain PyTorch
    new = dialog.settings()
    assert (new.model, new.device, new.sensitivity, new.action, new.destination) == (
        "local-dir:/models/tiny", "cpu", "high", "tag", None,
    )  # fmt: skip
    assert new.backend == "pytorch"
    assert new.cluster == "head.local:6379"


def test_settings_show_the_command_line_model_and_what_a_change_replaces(qtbot):
    saved = Settings(model="ViT-B-32:laion2b_s34b_b79k", device="cpu")
    overrides = Overrides.from_options(model="local-dir:/models/tiny", device="cuda:1")
    dialog = SettingsDialog(None, saved, list_models=False, overrides=overrides)
    qtbot.addWidget(dialog)
    assert dialog.model.currentText() == "local-dir:/models/tiny"  # what runs, not the saved
    assert dialog.device.currentData() == "cuda:1"
    note = plain(dialog.origins["model"])
    assert "command line (--model)" in note and "ViT-B-32:laion2b_s34b_b79k" in note
    assert not dialog.origins["model"].isHidden()
    assert dialog.origins["backend"].isHidden()  # the saved backend is in effect
    new = dialog.settings()  # an override left alone is not saved as the user's choice
    assert (new.model, new.device) == (saved.model, saved.device) and not dialog.released()

    dialog.model.setEditText("ViT-B-32:laion2b_s34b_b79k")  # the saved one, chosen on purpose
    assert plain(dialog.origins["model"]).startswith("Replaces “local-dir:/models/tiny”")
    assert dialog.released() == {"model"}
    assert dialog.settings().model == "ViT-B-32:laion2b_s34b_b79k"


@pytest.mark.parametrize("key", ["model", "backend"])
def test_settings_notes_never_break_an_option_or_a_value(qtbot, key):
    """A narrow dialog wraps a note at spaces only: never "(--" / "model)", "ViT-" / "B-32"."""
    saved = Settings(model="ViT-B-32:laion2b_s34b_b79k", backend="pytorch")
    overrides = Overrides.from_options(model="ViT-L-14:openai", backend="openvino-int8")
    dialog = SettingsDialog(None, saved, list_models=False, overrides=overrides)
    qtbot.addWidget(dialog)
    label = dialog.origins[key]
    for width in range(60, 700, 2):
        lines = wrapped_lines(label, width)
        ends = [line.rstrip()[-1:] for line in lines[:-1]]
        assert not {"-", NO_BREAK_HYPHEN} & set(ends), (width, lines)


def test_settings_show_the_environment_model_and_backend_override(qtbot, monkeypatch):
    monkeypatch.setenv("PHOTOSORTER_MODEL", "local-dir:/env/model")
    overrides = Overrides.from_options(backend="openvino-int8")
    dialog = SettingsDialog(None, Settings(backend="pytorch"), False, overrides=overrides)
    qtbot.addWidget(dialog)
    assert dialog.model.currentText() == "local-dir:/env/model"
    assert "environment variable PHOTOSORTER_MODEL" in dialog.origins["model"].text()
    assert dialog.fast.isChecked()  # openvino-int8 runs: the fast encoder is on
    assert "“openvino-int8” comes from the command line (--backend)" in (
        plain(dialog.origins["backend"])
    )
    assert dialog.settings().backend == "pytorch"
    dialog.fast.setChecked(False)
    assert dialog.released() == {"backend"} and dialog.settings().backend == "pytorch"


def test_file_threshold_is_shown_as_the_files(qtbot, tmp_path):
    path = tmp_path / "cats.toml"
    path.write_text('threshold = 0.5\n[[category]]\nname = "Red"\n', encoding="utf-8")
    dialog = SettingsDialog(None, Settings(), False, categories=load_categories(path))
    qtbot.addWidget(dialog)
    assert dialog.file_rules.text() == (
        "Also a score of at least 50% (from the categories file cats.toml)."
    )


def _gui_args(*argv: str):
    return build_parser().parse_args(["gui", *argv])


def test_the_app_runs_what_the_command_line_and_environment_say(
    qtbot, photo_dir, colours_toml, gui_model, monkeypatch
):
    save_settings(Settings(backend="pytorch", device="cpu"))
    monkeypatch.setenv("PHOTOSORTER_MODEL", gui_model)
    window = build_window(_gui_args(str(photo_dir), "--categories", str(colours_toml)))
    qtbot.addWidget(window)
    session = window.session
    assert session.model_spec == gui_model  # $PHOTOSORTER_MODEL, as `photosorter sort` does
    assert session.backend == "pytorch"  # no --backend given: the saved setting holds
    assert set(session.overrides.items) == {"model"}
    window.shutdown()


def test_changing_another_setting_keeps_the_command_line_model(
    qtbot, photo_dir, colours_toml, gui_model, monkeypatch
):
    args = _gui_args(str(photo_dir), "--categories", str(colours_toml), "--model", gui_model)
    window = build_window(args)
    qtbot.addWidget(window)
    session = window.session
    started: list[int] = []
    monkeypatch.setattr(session, "start_run", lambda: started.append(1))
    session.update_settings(replace(session.settings, device="cpu"))  # re-sorts on the CPU
    assert (session.model_spec, session.device) == (gui_model, "cpu") and started == [1]
    assert session.settings.model == DEFAULT_MODEL  # --model is not saved as a setting
    session.update_settings(session.settings, released={"model"})  # chosen in the dialog
    assert session.model_spec == DEFAULT_MODEL and started == [1, 1]
    window.shutdown()


def test_new_threshold_rescores_and_persists(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session = window.session
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


def test_plan_dialog_button_counts_photos_in_words(qtbot):
    for summary, action, text in [
        ([("/out/Red", 1)], "move", "Move 1 Photo"),
        ([("/out/Red", 3), ("/out/Blue", 2)], "copy", "Copy 5 Photos"),
    ]:
        dialog = PlanDialog(None, action, summary, left=0)
        qtbot.addWidget(dialog)
        assert text in [b.text() for b in dialog.findChildren(QPushButton)]


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


def test_preview_and_duplicates_fit_a_small_screen(qtbot, make_window, photo_dir, monkeypatch):
    """Their buttons at the bottom stay on screen (here 800 px wide; a laptop's 768 high)."""
    from photosorter.gui import grid_actions

    sizes = []
    monkeypatch.setattr(grid_actions.PreviewDialog, "exec", lambda self: sizes.append(self.size()))
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    window.grid_actions.preview(window.session.model.index(0))
    window.show_duplicates()
    sizes.append(window.duplicates.size())
    room = window.screen().availableGeometry()
    for size in sizes:
        assert size.width() <= room.width() and size.height() < room.height() - 40


def test_many_void_qt_calls_do_not_crash(qtbot):
    """PySide6 6.12 on CPython < 3.12 drops a None reference per void call (compat.py)."""
    label = QLabel()
    qtbot.addWidget(label)
    for _ in range(20_000):
        label.setText("x")
    assert label.text() == "x"
