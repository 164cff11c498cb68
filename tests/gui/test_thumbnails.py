"""Thumbnails load off the GUI thread, land in memory and on disk; the grid paints them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtGui import QPixmap

from photosorter.core.errors import ImageError
from photosorter.core.library import desktop_thumbnails
from photosorter.gui import thumbnails
from photosorter.gui.photo_model import KeyRole, ThumbnailRole
from photosorter.gui.thumbnails import ThumbnailLoader, load_thumbnail, thumbnail_dir
from tests.gui.conftest import start_and_wait


def desktop(folder: str, path: Path) -> Path:
    """Where the file manager looks for `path`'s thumbnail."""
    name = desktop_thumbnails.original(path).name
    return Path(os.environ["XDG_CACHE_HOME"]) / "thumbnails" / folder / name


def png_text(path: Path) -> dict[str, str]:
    with Image.open(path) as img:
        img.load()
        return dict(img.text)


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        pytest.fail("the photo was decoded")

    monkeypatch.setattr(thumbnails, "thumbnail", refuse)


def another_tools_thumbnail(path: Path, colour: tuple[int, int, int], mtime: int) -> Path:
    """A 'normal' thumbnail of `path` as a file manager writes it (no Thumb::Size)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Thumb::URI", desktop_thumbnails.file_uri(path))
    info.add_text("Thumb::MTime", str(mtime))
    where = desktop("normal", path)
    where.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (128, 96), colour).save(where, "PNG", pnginfo=info)
    return where


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
    shared = png_text(desktop("normal", path))  # 64 px tiles: the 128 px folder
    assert shared["Thumb::URI"] == desktop_thumbnails.file_uri(path)
    loader.shutdown()


def test_another_tools_thumbnail_is_used_without_decoding(tmp_path, monkeypatch):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(4000))  # a JPEG header, then noise
    another_tools_thumbnail(photo, (0, 200, 0), int(photo.stat().st_mtime))
    no_decoding(monkeypatch)
    img = load_thumbnail("c0ffee", photo, 64)
    assert img.size == (64, 48) and img.getpixel((10, 10)) == (0, 200, 0)
    assert not (thumbnail_dir() / "c0" / "c0ffee.jpg").exists()  # nothing decoded to keep


def test_a_stale_thumbnail_is_replaced_by_the_photo_itself(tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (400, 300), (220, 0, 0)).save(photo, "JPEG")
    mtime = int(photo.stat().st_mtime)
    where = another_tools_thumbnail(photo, (0, 200, 0), mtime - 60)  # the photo changed since
    img = load_thumbnail("c0ffee", photo, 100)
    r, g, _ = img.getpixel((10, 10))
    assert r > 200 and g < 30  # the photo's red, not the stale green
    assert png_text(where)["Thumb::MTime"] == str(mtime)
    with Image.open(where) as fresh:
        assert fresh.size == (128, 96) and fresh.getpixel((10, 10))[0] > 200


def test_a_broken_photo_is_recorded_and_not_decoded_again(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match="not an image file"):
        load_thumbnail("bad0", bad, 64)
    record = desktop("fail/photosorter-0.1.0", bad)
    assert png_text(record)["Thumb::URI"] == desktop_thumbnails.file_uri(bad)
    no_decoding(monkeypatch)
    with pytest.raises(ImageError, match="not an image file"):  # the reason, remembered
        load_thumbnail("bad0", bad, 64)
    monkeypatch.undo()
    Image.new("RGB", (50, 40), (0, 0, 240)).save(bad, "JPEG")  # fixed: a new mtime and size
    assert load_thumbnail("bad0", bad, 64).size == (50, 40)


def test_a_moved_photo_keeps_its_thumbnail_by_content(tmp_path, monkeypatch):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (400, 300), (220, 0, 0)).save(photo, "JPEG")
    load_thumbnail("c0ffee", photo, 200)
    moved = photo.rename(tmp_path / "sorted.jpg")  # a new URI: the desktop's thumbnail is lost
    no_decoding(monkeypatch)
    assert load_thumbnail("c0ffee", moved, 200).size == (200, 150)


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
