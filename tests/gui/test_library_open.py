"""Opening a library: the store's catalogue shows at once, the disk is checked after, and
the grid holds columns, not an object per photo."""

from __future__ import annotations

import gc
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from photosorter.core.library.catalogue import Listing
from photosorter.core.model.classifier import Examples, vocabulary_bounds
from photosorter.core.userfiles import hash_bytes
from photosorter.gui.photo_model import CategoryRole, KeyRole, PathRole, PhotoModel, SortMode
from photosorter.gui.results import ResultSet
from photosorter.gui.scoring import placement
from tests.gui.conftest import start_and_wait
from tests.gui.test_results import scoring


def placed(window) -> dict[Path, str]:
    model = window.session.model
    return {
        model.index(i).data(PathRole): model.index(i).data(CategoryRole)
        for i in range(model.rowCount())
    }


def shown(window) -> dict[Path, str]:
    model = window.session.model
    return {
        model.index(i).data(PathRole): model.index(i).data(KeyRole) for i in range(model.rowCount())
    }


def test_the_stored_library_shows_before_the_disk_check_which_drops_deleted_photos(
    qtbot, make_window, photo_dir: Path
):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    before, categories = shown(window), placed(window)
    deleted, changed, donor = sorted(before)[:3]
    deleted.unlink()
    shutil.copyfile(donor, changed)  # new content at a known path: indexed again
    (photo_dir / "sub").mkdir()
    added = shutil.copy(donor, photo_dir / "sub" / "new.jpg")

    listed: list[dict[Path, str]] = []  # what the grid shows each time it is laid out anew
    window.session.model.modelReset.connect(lambda: listed.append(shown(window)))
    start_and_wait(qtbot, window)

    first = next(rows for rows in listed if rows)
    assert first == before  # what the store knew, the deleted photo too: no disk walk yet
    after = shown(window)
    assert deleted not in after
    assert after[changed] == after[Path(added)] == hash_bytes(donor.read_bytes())
    assert set(after) == set(before) - {deleted} | {Path(added)}
    assert window.session.model.rowCount() == len(after)  # each photo once
    unchanged = set(after) - {changed, Path(added)}
    assert {p: placed(window)[p] for p in unchanged} == {p: categories[p] for p in unchanged}


def test_reopened_the_stored_photos_are_placed_off_the_gui_thread(
    qtbot, make_window, photo_dir: Path, monkeypatch
):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    before = placed(window)
    here: list[int] = []  # photos placed on the GUI thread
    classify = ResultSet._classify
    monkeypatch.setattr(
        ResultSet,
        "_classify",
        lambda self, rows, *a: here.append(len(rows)) or classify(self, rows, *a),
    )
    start_and_wait(qtbot, window)
    assert placed(window) == before
    assert sum(here) == 0  # every photo stored: the worker placed them all


def _paths_alive() -> int:
    path_type = type(Path())  # type(), not isinstance: no lazy attribute of any module runs
    return sum(type(o) is path_type for o in gc.get_objects())


def test_a_listed_library_makes_no_path_object_per_photo(qtbot):
    n = 20_000
    names = [f"/lib/d{i // 1000:03d}/IMG_{i:06d}.jpg" for i in range(n)]
    listing = Listing(names, [f"{i:032x}" for i in range(n)], np.full(n, 9, np.int64),
                      np.arange(n, dtype=np.int64))  # fmt: skip
    results = ResultSet()
    model = PhotoModel(results)
    alive = _paths_alive()

    model.rows_added(results.add_listing(listing))

    assert model.rowCount() == n
    assert [model.index(i).data(PathRole) for i in (0, n - 1)] == [Path(names[0]), Path(names[-1])]
    assert _paths_alive() - alive < 100  # not one per photo: paths stay strings until asked
    vectors = np.zeros((n + 10, 4), dtype=np.float32)
    vectors[:, 0] = 1
    results.attach_vectors(range(n), vectors, np.ones(n, dtype=np.bool_))
    assert np.shares_memory(results.vector(n - 1), vectors)  # the matrix is taken, not copied


def _listing(n: int) -> Listing:
    names = [f"/lib/d{i % 3}/IMG_{i:06d}.jpg" for i in range(n)]
    return Listing(names, [f"{i:032x}" for i in range(n)], np.full(n, 9, np.int64),
                   np.arange(n, dtype=np.int64))  # fmt: skip


def test_the_workers_placement_is_taken_while_it_still_fits():
    n, s = 9, scoring()
    vectors = np.zeros((n + 3, 4), dtype=np.float32)  # spare rows after the listed photos
    vectors[np.arange(n), np.arange(n) % 3] = 1.0
    bounds = vocabulary_bounds(vectors[:n], s.matrix)
    placed = placement(s, Examples.none(), vectors, bounds)

    def opened(scored, corrections=None, given=None) -> ResultSet:
        results = ResultSet()
        results.add_listing(_listing(n))
        results.attach_vectors(range(n), vectors, np.ones(n, np.bool_), bounds, s.matrix.vocabulary)
        results.set_scoring(scored, corrections or Examples.none(), given)
        return results

    here, taken = opened(s), opened(s, given=placed)
    assert here.counts() == {"A": 3, "B": 6, "Uncategorized": 0}
    for column in ("category_index", "scores", "margins", "manual"):
        assert np.array_equal(getattr(taken, column), getattr(here, column))
    all_a = replace(placed, found=replace(placed.found, index=np.zeros(n, np.int64)))
    assert opened(s, given=all_a).counts()["A"] == n  # taken as it is: not placed again
    pinned = Examples(vectors[:1], np.array([1]))  # a photo placed by hand since
    for scored, corrections in [  # or another threshold or sensitivity since
        (replace(s, threshold=0.2), None), (replace(s, min_fit=0.5), None), (s, pinned),
    ]:  # fmt: skip
        ignored = opened(scored, corrections, given=all_a)
        assert ignored.counts() == opened(scored, corrections).counts()
        assert ignored.counts()["A"] < n


def test_listed_names_sort_as_their_text_does_and_follow_a_rename():
    paths = ["/x/b.jpg", "/y/Été.jpg", "/x/a.JPG", "/z/\udcff.jpg", "/x/B.jpg"]  # \udcff: a byte
    listing = Listing(paths, ["k0", "k1", "k2", "k3", "k4"], np.zeros(5, np.int64),
                      np.zeros(5, np.int64))  # fmt: skip  # ... not UTF-8, as os.fsdecode gives
    results = ResultSet()
    model = PhotoModel(results)
    model.set_sort(SortMode.NAME)
    model.rows_added(results.add_listing(listing))

    def names() -> list[str]:
        return [model.index(i).data(PathRole).name for i in range(model.rowCount())]

    assert names() == ["a.JPG", "b.jpg", "B.jpg", "Été.jpg", "\udcff.jpg"]
    longer = "c-a-name-longer-than-any-before.jpg"
    model.rename_paths({Path("/x/a.JPG"): Path("/x") / longer})
    model.refresh()
    assert names() == ["b.jpg", "B.jpg", longer, "Été.jpg", "\udcff.jpg"]
    assert results.sort_names[2] == longer.encode()  # the column widened, nothing cut off
