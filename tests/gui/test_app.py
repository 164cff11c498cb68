"""Start-up: the window shows before torch is imported; icons, names, crash handling."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from argparse import Namespace

import pytest
from PySide6.QtWidgets import QApplication

from photosorter.core.errors import PhotoSorterError
from photosorter.gui.app import DESKTOP_FILE_NAME, build_window, make_application


def test_window_shows_before_torch_is_imported(photo_dir, colours_toml, gui_model):
    code = textwrap.dedent(
        f"""
        import sys
        from argparse import Namespace
        from pathlib import Path
        from photosorter.gui.app import build_window, make_application
        app = make_application()
        args = Namespace(paths=[Path({str(photo_dir)!r})], categories=Path({str(colours_toml)!r}),
                         model={gui_model!r}, device="cpu", cache=None)
        window = build_window(args)
        window.show()
        app.processEvents()
        shown = window.isVisible()
        print("torch" in sys.modules, "open_clip" in sys.modules, shown)
        window.shutdown()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False", "False", "True"], out.stderr


def test_application_identity(qapp):
    app = make_application()
    assert app is QApplication.instance()
    assert app.applicationName() == "PhotoSorter"
    assert app.desktopFileName() == DESKTOP_FILE_NAME
    assert not app.windowIcon().isNull()


def test_missing_path_is_a_plain_error(tmp_path, colours_toml, gui_model):
    args = Namespace(paths=[tmp_path / "nope"], categories=colours_toml, model=gui_model,
                     device=None, cache=None)  # fmt: skip
    with pytest.raises(PhotoSorterError, match="no such folder"):
        build_window(args)


def test_starter_categories_when_none_given(make_window):
    window = make_window(categories=None)
    names = window.session.categories.names
    assert "Pets" in names and len(names) >= 5
    assert window.session.categories_path is None


def test_last_used_categories_file_is_remembered(make_window, colours_toml):
    make_window(categories=colours_toml).shutdown()
    again = make_window(categories=None)
    assert again.session.categories_path == colours_toml
    assert again.session.categories.names == ["Red", "Green", "Blue", "Yellow"]


def test_image_files_can_be_opened_directly(qtbot, make_window, photo_dir):
    from tests.gui.conftest import start_and_wait

    images = sorted(photo_dir.iterdir())[:3]
    window = make_window(*images)
    start_and_wait(qtbot, window)
    assert window.session.model.rowCount() == 3
    # Given on the command line: sorted for this run, not remembered.
    assert window.session.settings.sources == ()


def test_about_dialog_names_versions_model_and_qt(make_window, monkeypatch) -> None:
    """Help > About shows the versions of PhotoSorter, torch and Qt, and the model."""
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QMessageBox

    from photosorter import __version__

    shown: dict[str, str] = {}
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.update(text=text))
    window = make_window()
    window.about()
    text = shown["text"]
    assert f"PhotoSorter {__version__}" in text
    assert "torch" in text and qVersion() in text
    assert str(window.session.model_spec) in text


def test_offline_first_run_says_downloading_shows_photos_and_recovers(
    qtbot, make_window, photo_dir, gui_model, tmp_path, monkeypatch
) -> None:
    """No connection on a first run: "Downloading model…" (not "Loading PyTorch…" for a
    minute), the photos found are listed, unsorted, Move/Copy/Tag stay off; a working model
    chosen in Settings then clears the banner and sorts them."""
    from dataclasses import replace

    import huggingface_hub

    from tests.gui.conftest import start_and_wait

    def refused(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-empty"))  # nothing cached
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", refused)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refused)
    window = make_window(photo_dir, model="ViT-B-32:laion2b_s34b_b79k")
    window.show()
    texts: list[str] = []
    window.session.busy_changed.connect(lambda state: texts.append(state.text))
    finished = start_and_wait(qtbot, window, timeout=120_000)

    assert finished.cancelled
    assert "Downloading model ViT-B-32:laion2b_s34b_b79k…" in texts
    assert "no connection" in window.message_bar.text.text()
    assert window.message_bar.isVisible()
    assert window.session.model.rowCount() == 16  # the photos found, not "No photos found."
    assert window.session.results.error_count == 0
    assert window.summary.text() == "16 photos"
    actions = (window.move_action, window.copy_action, window.tag_action)
    assert not any(a.isEnabled() for a in actions)  # nothing is sorted

    with qtbot.waitSignal(window.session.run_finished, timeout=120_000):
        window.session.update_settings(replace(window.session.settings, model=gui_model))
    assert not window.message_bar.isVisible()
    assert window.session.results.sorted_count > 0
    assert all(a.isEnabled() for a in actions)
