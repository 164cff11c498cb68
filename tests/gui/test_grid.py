"""The grid: sort orders (date taken, file date, name, size) with direction, remembered;
the zoom; a fixed cell geometry with no horizontal scrolling; a small drag image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionViewItem

from photosorter.core.library.pipeline import IndexBatch, PhotoResult, Progress
from photosorter.core.settings import load_settings
from photosorter.gui.photo_dates import date_taken, parse_exif_date
from photosorter.gui.photo_model import PhotoModel, SortMode
from photosorter.gui.photo_view import DRAG_SIDE, PhotoGridView, drag_pixmap
from photosorter.gui.results import ResultSet
from tests.gui.conftest import start_and_wait
from tests.gui.test_results import scoring


def facts_batch(rows: list[tuple[str, int, float]], folder: Path = Path("/p")) -> IndexBatch:
    """(name, size, mtime) per photo, every photo with the same vector."""
    ok = [
        PhotoResult(folder / name, f"k-{name}", size=size, mtime_ns=int(mtime * 1e9))
        for name, size, mtime in rows
    ]
    vectors = np.tile(np.asarray([[1.0, 0, 0, 0]], dtype=np.float32), (len(ok), 1))
    return IndexBatch(ok, vectors, Progress(len(ok), len(ok), 0, 0, 0.1), ok=ok)


def names(model: PhotoModel) -> list[str]:
    return [model.index(r).data() for r in range(model.rowCount())]


ROWS = [("b.jpg", 300, 20.0), ("c.jpg", 100, 30.0), ("a.jpg", 200, 10.0)]


@pytest.mark.parametrize(
    ("mode", "ascending"),
    [
        (SortMode.SIZE, ["c.jpg", "a.jpg", "b.jpg"]),
        (SortMode.FILE_DATE, ["a.jpg", "b.jpg", "c.jpg"]),
        (SortMode.NAME, ["a.jpg", "b.jpg", "c.jpg"]),
    ],
)
def test_sort_orders_and_direction(qtmodeltester, mode: SortMode, ascending: list[str]) -> None:
    results = ResultSet()
    results.set_scoring(scoring())
    model = PhotoModel(results)
    results.add_batch(facts_batch(ROWS[:2]))
    model.set_sort(mode, descending=False)
    model.rows_added(results.add_batch(facts_batch(ROWS[2:])))  # inserted in its place
    assert names(model) == ascending
    model.set_sort(mode, descending=True)
    assert names(model) == ascending[::-1]
    model.rows_added(results.add_batch(facts_batch([("d.jpg", 400, 40.0)])))
    assert names(model)[0] == "d.jpg"  # the largest, newest, last name: first
    qtmodeltester.check(model, force_py=True)


def photo_taken(path: Path, when: str | None, colour: str = "red") -> Path:
    img = Image.new("RGB", (32, 32), colour)
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
    img.save(path, exif=exif)
    return path


def test_date_taken_is_read_from_exif(tmp_path: Path) -> None:
    photo = photo_taken(tmp_path / "a.jpg", "2021:06:01 12:30:00")
    assert date_taken(photo) == parse_exif_date("2021:06:01 12:30:00")
    assert np.isnan(date_taken(photo_taken(tmp_path / "b.jpg", None)))
    assert np.isnan(date_taken(tmp_path / "missing.jpg"))
    assert np.isnan(parse_exif_date("0000:00:00 00:00:00"))


def test_sorting_by_date_taken_reads_dates_off_the_gui_thread(qtbot, tmp_path: Path) -> None:
    """Names and file dates run one way, dates taken the other: the EXIF date decides, and
    a photo without one sorts by its file date."""
    taken = {"a.jpg": "2020:01:03 00:00:00", "b.jpg": "2020:01:02 00:00:00",
             "c.jpg": "2020:01:01 00:00:00", "d.jpg": None}  # fmt: skip
    rows = []
    for i, (name, when) in enumerate(taken.items()):
        photo_taken(tmp_path / name, when)
        rows.append((name, 1000, 1.7e9 + i))  # d.jpg: a file date after every date taken
    results = ResultSet()
    results.set_scoring(scoring())
    model = PhotoModel(results)
    model.rows_added(results.add_batch(facts_batch(rows, tmp_path)))
    model.set_sort(SortMode.DATE_TAKEN)
    assert names(model) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]  # file dates until read
    qtbot.waitUntil(lambda: names(model) == ["c.jpg", "b.jpg", "a.jpg", "d.jpg"], timeout=10_000)
    model.set_sort(SortMode.DATE_TAKEN, descending=True)
    assert names(model) == ["d.jpg", "a.jpg", "b.jpg", "c.jpg"]


def test_sort_and_zoom_are_remembered(qtbot, make_window, photo_dir: Path) -> None:
    window = make_window(photo_dir)
    controls = window.grid_controls
    controls.set_sort(SortMode.SIZE)
    controls.descending_action.trigger()  # flip: largest first
    shortcuts = {s.toString() for s in controls.zoom_in_action.shortcuts()}
    assert "Ctrl++" in shortcuts
    assert controls.zoom_out_action.shortcut().toString() == "Ctrl+-"
    assert controls.zoom_in_action in window.actions()  # the shortcut works in the window
    controls.zoom_in_action.trigger()  # (the offscreen test platform has no active window)
    zoomed = window.grid.photo_delegate.side
    assert zoomed > 160
    saved = load_settings()[0]
    assert (saved.sort, saved.sort_descending, saved.thumbnail_size) == ("size", True, zoomed)
    window.close()

    again = make_window(photo_dir)
    model = again.session.model
    assert (model.sort_mode, model.descending) == (SortMode.SIZE, True)
    assert again.grid_controls.sort_combo.currentData() is SortMode.SIZE
    assert again.grid.photo_delegate.side == zoomed
    start_and_wait(qtbot, again)
    sizes = [again.session.results.sizes[r] for r in model._order]
    assert sizes == sorted(sizes, reverse=True)
    again.resize(1200, 700)
    cell = again.grid.gridSize()
    again.grid_controls.zoom_out_action.trigger()
    assert again.grid.photo_delegate.side < zoomed
    assert again.grid.gridSize().height() < cell.height()


def big_grid(qtbot, n: int) -> tuple[PhotoGridView, PhotoModel]:
    results = ResultSet()
    results.set_scoring(scoring())
    model = PhotoModel(results)
    model.rows_added(results.add_batch(facts_batch([(f"{i:05d}.jpg", i, i) for i in range(n)])))
    grid = PhotoGridView()
    grid.setModel(model)
    qtbot.addWidget(grid)
    return grid, model


def test_a_resort_keeps_the_selection_and_a_new_search_clears_it(qtbot) -> None:
    grid, model = big_grid(qtbot, 600)
    selection = grid.selectionModel()
    flags = selection.SelectionFlag
    picked = {"00003.jpg", "00004.jpg", "00005.jpg", "00400.jpg"}
    for row in range(model.rowCount()):
        if model.index(row).data() in picked:
            selection.select(model.index(row), flags.Select)
    selection.setCurrentIndex(model.index(names(model).index("00400.jpg")), flags.NoUpdate)
    model.set_sort(SortMode.NAME, descending=True)  # a reset: every position changes
    assert {i.data() for i in selection.selectedIndexes()} == picked
    assert grid.currentIndex().data() == "00400.jpg"
    model.set_search(np.asarray([4, 7]), np.asarray([0.9, 0.8]))
    assert not selection.hasSelection()


@pytest.mark.parametrize("width", [700, 913, 1024, 1301])
def test_no_horizontal_scrolling_and_fixed_cells(qtbot, width: int) -> None:
    grid, model = big_grid(qtbot, 1200)
    grid.resize(width, 600)
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.waitUntil(lambda: grid.visualRect(model.index(model.rowCount() - 1)).isValid())
    assert grid.horizontalScrollBar().maximum() == 0
    first = grid.visualRect(model.index(0))
    last = grid.visualRect(model.index(model.rowCount() - 1))
    columns = grid.viewport().width() // grid.gridSize().width()
    assert first.size() == last.size()
    assert columns * grid.gridSize().width() <= grid.viewport().width()
    assert grid.visualRect(model.index(columns - 1)).right() < grid.viewport().width()


def test_drag_image_is_small_and_counts_the_photos(qtbot) -> None:
    palette = QApplication.palette()
    thumb = QPixmap(160, 120)
    thumb.fill(Qt.GlobalColor.darkGreen)
    one, many = drag_pixmap(thumb, 1, palette), drag_pixmap(thumb, 12, palette)
    tile = PhotoGridView().photo_delegate.tile_size(QApplication.font())
    for pixmap in (one, many):
        size = pixmap.deviceIndependentSize()
        assert size.width() <= DRAG_SIDE + 12 < tile.width() / 2 + 20
        assert size.height() < tile.height() / 2
    assert one.toImage() != many.toImage()  # the count is drawn


def test_a_drag_uses_the_small_image(qtbot, monkeypatch) -> None:
    from photosorter.gui import photo_view

    grid, _model = big_grid(qtbot, 5)
    grid.selectAll()
    started = []

    class FakeDrag(photo_view.QDrag):
        def exec(self, *_args):  # no real drag loop in a test
            started.append((self.pixmap().deviceIndependentSize(), self.mimeData()))
            return Qt.DropAction.CopyAction

    monkeypatch.setattr(photo_view, "QDrag", FakeDrag)
    grid.startDrag(Qt.DropAction.CopyAction)
    ((size, mime),) = started
    assert size.width() <= DRAG_SIDE + 12
    assert len(mime.text().splitlines()) == 5


def render_row(delegate, widget, focused: bool) -> QImage:
    option = QStyleOptionViewItem()
    option.initFrom(widget)
    option.rect = QRect(0, 0, 200, 30)
    option.state = QStyle.StateFlag.State_Enabled
    if focused:
        option.state |= QStyle.StateFlag.State_HasFocus
    image = QImage(200, 30, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    delegate.paint(painter, option, widget.model().index(0, 0, QModelIndex()))
    painter.end()
    return image


def test_keyboard_focus_is_visible_in_the_folder_and_category_lists(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    for view in (window.sources_panel.list, window.category_panel.list):
        delegate = view.itemDelegate()
        assert render_row(delegate, view, True) != render_row(delegate, view, False)
