"""Opening a library: the store's catalogue shows at once, the disk is checked after, and
the grid holds columns, not an object per photo."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np

from photosorter.core.library.catalogue import Listing
from photosorter.core.userfiles import hash_bytes
from photosorter.gui.photo_model import CategoryRole, KeyRole, PathRole, PhotoModel
from photosorter.gui.results import ResultSet
from tests.gui.conftest import start_and_wait


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
