"""`photosorter gui` as a user runs it, plus a probe for drive.py: every 100 ms the app
writes, as JSON, where things are on the screen and what the window shows.

The probe only reports; the driver moves the real pointer (xdotool) to these places.
    python -m tests.gui.realx.probe STATE.json gui PATH... --categories F --model M
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QRect, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QToolBar, QToolButton, QWidget

from photosorter import cli
from photosorter.gui import app as gui_app
from photosorter.gui.main_window import MainWindow
from photosorter.gui.photo_model import CategoryRole, ManualRole, PathRole

INTERVAL_MS = 100


def centre(widget: QWidget, rect: QRect | None = None) -> list[int]:
    """The screen position of the centre of `rect` (default: all of `widget`)."""
    point = widget.mapToGlobal((rect or widget.rect()).center())
    return [point.x(), point.y()]


def tiles(window: MainWindow) -> list[dict]:
    """Every photo in the grid: its path, the category shown, where it is (None: scrolled
    out of sight) and whether it is selected."""
    grid, model = window.grid, window.session.model
    viewport = grid.viewport()
    selected = {i.row() for i in grid.selectionModel().selectedIndexes()}
    out = []
    for row in range(model.rowCount()):
        index = model.index(row)
        rect = grid.visualRect(index)
        out.append({
            "path": str(index.data(PathRole)), "category": index.data(CategoryRole),
            "manual": bool(index.data(ManualRole)), "selected": row in selected,
            "at": centre(viewport, rect) if viewport.rect().contains(rect) else None,
        })  # fmt: skip
    return out


def state(window: MainWindow) -> dict:
    """What the driver needs to point at and to check."""
    panel = window.category_panel.list
    rows = [panel.item(r) for r in range(panel.count())]
    toolbar = window.findChild(QToolBar, "MainToolbar")
    buttons = {}  # by the text on the button
    for action in toolbar.actions():
        button = toolbar.widgetForAction(action)
        if isinstance(button, QToolButton) and button.isVisible() and action.isEnabled():
            buttons[button.text()] = centre(button)
    dialogs = [
        {"title": w.windowTitle(), "buttons": {
            b.text(): centre(b) for b in w.findChildren(QPushButton) if b.isVisible()
        }}
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QDialog) and w.isVisible()
    ]  # fmt: skip
    return {
        "running": window.session.running,
        "busy": window.file_actions.busy,
        "tiles": tiles(window),
        "categories": {
            item.text(): centre(panel.viewport(), panel.visualItemRect(item)) for item in rows
        },
        "drop_target": rows[panel.drop_row].text() if panel.drop_row >= 0 else None,
        "toolbar": buttons,
        "dialogs": dialogs,
        "message": window.message_bar.text.text() if window.message_bar.isVisible() else "",
        "undo": window.undo_action.text() if window.undo_action.isEnabled() else None,
        "grid_focused": window.grid.hasFocus(),
        "folders": [str(path) for path in window.session.roots()],
    }


def write_state(window: MainWindow, path: Path) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(state(window)), encoding="utf-8")
    os.replace(temp, path)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    build_window = gui_app.build_window

    def build_with_probe(args):  # the window run_app shows, with the probe beside it
        window = build_window(args)
        timer = QTimer(window)
        timer.timeout.connect(lambda: write_state(window, path))
        timer.start(INTERVAL_MS)
        return window

    gui_app.build_window = build_with_probe
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
