"""RAW files in the app: a RAW+JPEG pair is one tile with a RAW badge; a lone RAW is a photo."""

from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from photosorter.gui.photo_model import RawRole
from photosorter.gui.photo_view import PAD
from tests.fixtures.dng import write_dng
from tests.fixtures.shapes import draw_scene
from tests.gui.conftest import start_and_wait


def paint_tile(window, row: int) -> QImage:
    grid, model = window.grid, window.session.model
    delegate = grid.photo_delegate
    option = QStyleOptionViewItem()
    option.initFrom(grid)
    size = delegate.tile_size(option.font)
    option.rect = QRect(0, 0, size.width(), size.height())
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    delegate.paint(painter, option, model.index(row))
    painter.end()
    return image


def test_a_pair_is_one_tile_with_a_raw_badge(qtbot, make_window, tmp_path: Path) -> None:
    folder = tmp_path / "card"
    picture = draw_scene("circle", "red", random.Random(1), (320, 240), busy=False)
    write_dng(folder / "IMG_1.CR2", picture)  # a DNG under a camera's name: TIFF-based alike
    picture.save(folder / "IMG_1.JPG", quality=90)
    write_dng(folder / "lone.dng", picture)
    window = make_window(folder)
    start_and_wait(qtbot, window)
    model = window.session.model
    rows = {model.index(r).data(): r for r in range(model.rowCount())}
    assert sorted(rows) == ["IMG_1.JPG", "lone.dng"]
    assert [model.index(rows[n]).data(RawRole) for n in ("IMG_1.JPG", "lone.dng")] == [True, False]
    assert window.session.results.errors == [None, None]

    # Opened again: the tile listed from the store, before the disk is checked, has it too.
    listed: list[bool] = []

    def first_listing() -> None:
        if not listed and model.rowCount():
            by_name = {model.index(r).data(): r for r in range(model.rowCount())}
            listed.append(model.index(by_name["IMG_1.JPG"]).data(RawRole))

    model.modelReset.connect(first_listing)
    start_and_wait(qtbot, window)
    assert listed == [True]
    rows = {model.index(r).data(): r for r in range(model.rowCount())}

    row = rows["IMG_1.JPG"]
    with_badge = paint_tile(window, row)
    window.session.results.has_raw[model._order[row]] = False
    without = paint_tile(window, row)
    side = window.grid.photo_delegate.side
    changed = [
        (x, y)
        for x in range(with_badge.width())
        for y in range(with_badge.height())
        if with_badge.pixel(x, y) != without.pixel(x, y)
    ]
    assert changed  # the badge is drawn, in the thumbnail's bottom-left corner
    assert all(x < PAD + side / 2 and PAD + side / 2 < y <= PAD + side for x, y in changed)
