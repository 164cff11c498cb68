"""What the user reads: messages that go when stale, plain words, singular and plural,
and a quit that leaves no Qt warning behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from photosorter.gui.notices import Notice
from tests.gui.conftest import start_and_wait, write_photos


def test_information_goes_by_itself_warnings_stay(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    window.show()
    bar = window.message_bar
    bar.info_timeout_ms = 50
    bar.show_notice(Notice("60 photos tagged.", "info"))
    assert bar.isVisible()
    qtbot.waitUntil(lambda: not bar.isVisible(), timeout=5_000)
    bar.show_notice(Notice("The folder is gone.", "warning"))
    assert bar.isVisible() and not bar._expiry.isActive()


def test_encoder_details_are_not_shown_to_the_user(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    window.show()
    jargon = "openvino-int8 failed its check (cosine 0.9866 < 0.99). Using openvino-bf16."
    window.session._on_encoder_notice(jargon)
    assert not window.message_bar.isVisible()
    assert window.session.encoder_notes == [jargon]  # for the About box and the log


def test_one_photo_is_singular(qtbot, make_window, tmp_path):
    write_photos(tmp_path / "one", 1)
    window = make_window(tmp_path / "one")
    start_and_wait(qtbot, window)
    assert window.summary.text() == "1 photo"
    assert window.subheading.text() == "1 photo"


def test_undoing_a_copy_says_the_copies_were_removed(qtbot, make_window, photo_dir, tmp_path):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session, actions = window.session, window.file_actions
    session.update_settings(replace(session.settings, destination=tmp_path / "c"), False)
    actions.confirm = lambda plan: True
    n = len(session.results.placed_items())
    with qtbot.waitSignal(actions.finished, timeout=60_000) as done:
        actions.run_action("copy")
    assert done.args[0].message == f"{n} photos copied."
    with qtbot.waitSignal(actions.finished, timeout=60_000) as undone:
        window.undo_action.trigger()
    assert undone.args[0].message == f"Undid Copy to Folders: {n} copied photos removed."


QUIT_AFTER_SORTING = textwrap.dedent(
    """
    import sys
    from argparse import Namespace
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from photosorter.gui import app
    from photosorter.gui.main_window import MainWindow

    shown = MainWindow.show
    def show(window):
        shown(window)
        window.session.run_finished.connect(lambda _e: QTimer.singleShot(0, window.close))
    MainWindow.show = show
    args = Namespace(paths=[Path(sys.argv[1])], categories=None, model=sys.argv[2],
                     device="cpu", cache=None, backend=None)
    sys.exit(app.run_app(args))
    """
)
BAD = ("QObject", "malformed", "Cannot", "QThread: Destroyed")


def test_quit_leaves_no_qt_warning(tmp_path, photo_dir, gui_model):
    """The real app, offscreen: open a folder, let it sort, quit. Qt says nothing."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[name] = str(tmp_path / name.lower())
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-c", QUIT_AFTER_SORTING, str(photo_dir), gui_model],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    bad = [line for line in run.stderr.splitlines() if any(b in line for b in BAD)]
    assert bad == [], run.stderr
