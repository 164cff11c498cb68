"""Thumbnails load off the GUI thread, land in memory and on disk; the grid paints them."""

from __future__ import annotations

from PySide6.QtGui import QPixmap

from photosorter.gui.photo_model import KeyRole, ThumbnailRole
from photosorter.gui.thumbnails import ThumbnailLoader, thumbnail_dir
from tests.gui.conftest import start_and_wait


def test_loader_caches_in_memory_and_on_disk(qtbot, photo_dir):
    loader = ThumbnailLoader(side=64)
    path = sorted(photo_dir.iterdir())[0]
    assert loader.pixmap("abcd1234", path) is None  # queued
    with qtbot.waitSignal(loader.thumbnail_ready, timeout=10_000) as ready:
        pass
    assert ready.args == ["abcd1234"]
    pixmap = loader.pixmap("abcd1234", path)
    assert isinstance(pixmap, QPixmap) and max(pixmap.width(), pixmap.height()) == 64
    assert (thumbnail_dir() / "ab" / "abcd1234.jpg").is_file()
    loader.shutdown()


def test_broken_file_is_marked_failed(qtbot, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    loader = ThumbnailLoader(side=64)
    loader.pixmap("ffff", bad)
    qtbot.waitUntil(lambda: loader.failed("ffff"), timeout=10_000)
    assert loader.pixmap("ffff", bad) is None
    loader.shutdown()


def test_a_moved_photo_is_loaded_from_its_new_place(qtbot, photo_dir, tmp_path):
    loader = ThumbnailLoader(side=64)
    path = sorted(photo_dir.iterdir())[0]
    gone = tmp_path / "was-here.jpg"  # read just before the file moved away
    loader.pixmap("beef", gone)
    qtbot.waitUntil(lambda: loader.failed("beef"), timeout=10_000)
    loader.moved({"beef": path})
    assert not loader.failed("beef")
    assert loader.pixmap("beef", path) is None  # queued again, at the new place
    qtbot.waitUntil(lambda: isinstance(loader.pixmap("beef", path), QPixmap), timeout=10_000)
    loader.shutdown()


def test_grid_requests_only_what_it_paints(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    window.resize(640, 420)  # room for a few of the 16 tiles
    start_and_wait(qtbot, window)  # hidden: nothing painted, nothing requested yet
    grid, model, loader = window.grid, window.session.model, window.session.thumbnails
    requested: list[str] = []
    load = loader.pixmap

    def spy(key: str, path):
        requested.append(key)
        return load(key, path)

    loader.pixmap = spy
    window.show()
    qtbot.waitUntil(lambda: bool(requested), timeout=10_000)
    window.grab()

    def shown() -> set[str]:
        view = grid.viewport().rect()
        rows = [
            r for r in range(model.rowCount()) if grid.visualRect(model.index(r)).intersects(view)
        ]
        return {model.index(r).data(KeyRole) for r in rows}

    visible = shown()
    assert 0 < len(visible) < model.rowCount() == 16
    assert set(requested) == visible  # each painted tile, and nothing off screen
    last = model.index(model.rowCount() - 1)
    assert last.data(KeyRole) not in requested
    grid.scrollToBottom()
    window.grab()
    assert last.data(KeyRole) in requested  # scrolled into view: now it is asked for
    assert set(requested) == visible | shown()
    qtbot.waitUntil(lambda: isinstance(last.data(ThumbnailRole), QPixmap), timeout=10_000)
    window.session.thumbnails.shutdown()


def test_preview_dialog_shows_the_photo(qtbot, make_window, photo_dir):
    from photosorter.gui.preview import PreviewDialog, PreviewItem

    window = make_window(photo_dir)
    paths = sorted(photo_dir.iterdir())[:2]
    items = [PreviewItem(p, "Red · 90% confidence") for p in paths]
    dialog = PreviewDialog(window, window.session.thumbnails, items, 0)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.image._pixmap.isNull(), timeout=10_000)
    dialog.step(1)
    assert dialog.current == 1 and paths[1].name in dialog.windowTitle()
    dialog.accept()
