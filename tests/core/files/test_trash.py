"""Duplicates go to the system trash (a freedesktop trash under tmp_path here), journalled,
and undo puts them back byte-identical."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photosorter.core.files import claims, trash
from photosorter.core.files.fileops import apply_plan, plan_trash, recover_interrupted, undo_last
from photosorter.core.files.journal import Journal
from photosorter.core.library.cache import Store
from tests.core.files.test_fileops import photo


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def photos(tmp_path: Path, n: int) -> dict[Path, bytes]:
    found = {}
    for i in range(n):
        path = tmp_path / "photos" / f"p{i}.jpg"
        photo(path)
        found[path] = path.read_bytes()
    return found


def one_photo(tmp_path: Path) -> tuple[Path, bytes]:
    return next(iter(photos(tmp_path, 1).items()))


def test_trash_is_journalled_and_undone_byte_identical(tmp_path, store, trash_home):
    before = photos(tmp_path, 3)
    report = apply_plan(plan_trash(list(before)), store)
    assert [o.status for o in report.outcomes] == ["ok"] * 3
    assert not any(p.exists() for p in before)
    assert len(list((trash_home / "files").iterdir())) == 3  # in the trash, not deleted
    steps = Journal(store).steps(report.op_id)
    assert [(s.kind, s.state) for s in steps] == [("trash", "done")] * 3

    undone = undo_last(store)
    assert undone.action == "trash"
    assert sorted(i.restored for i in undone.reverted) == sorted(before)
    assert {p: p.read_bytes() for p in before} == before
    assert list((trash_home / "files").iterdir()) == []
    assert list((trash_home / "info").iterdir()) == []  # no stale entry left behind


def test_undo_takes_the_entry_of_that_step_not_an_older_one(tmp_path, store, trash_home):
    """The same name trashed before (another picture): undo brings back ours, the other stays."""
    path, ours = one_photo(tmp_path)
    path.write_bytes(b"an older picture with this name")
    apply_plan(plan_trash([path]), store)
    old_entry = next((trash_home / "files").iterdir())
    photo(path, tag="another")
    ours = path.read_bytes()
    apply_plan(plan_trash([path]), store)
    undo_last(store)
    assert path.read_bytes() == ours
    assert old_entry.read_bytes() == b"an older picture with this name"  # still in the trash


def test_undo_never_replaces_a_file_now_in_its_place(tmp_path, store, trash_home):
    path, content = one_photo(tmp_path)
    apply_plan(plan_trash([path]), store)
    path.write_bytes(b"new")
    undone = undo_last(store)
    assert undone.to_retry and path.read_bytes() == b"new"
    path.unlink()
    undone = undo_last(store)  # the user moved it away: the retry finishes
    assert undone.reverted and path.read_bytes() == content


def test_emptied_trash_is_reported_once(tmp_path, store, trash_home):
    path, _ = one_photo(tmp_path)
    apply_plan(plan_trash([path]), store)
    for entry in (trash_home / "files").iterdir():
        entry.unlink()
    undone = undo_last(store)
    assert "no longer in the trash" in undone.not_reverted[0].message
    assert not undone.to_retry
    assert undo_last(store).op_id is None  # nothing left to undo


def test_a_claimed_photo_is_left_to_the_other_process(tmp_path, store, trash_home, monkeypatch):
    path, _ = one_photo(tmp_path)
    monkeypatch.setattr(claims, "_acquire", lambda _path: None)
    report = apply_plan(plan_trash([path]), store)
    assert report.outcomes[0].status == "error" and path.exists()


def test_a_fifo_is_never_trashed(tmp_path, store, trash_home):
    fifo = tmp_path / "photos" / "pipe.jpg"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    report = apply_plan(plan_trash([fifo]), store)
    assert report.outcomes[0].status == "error"
    assert fifo.exists() and not (trash_home / "files").exists()


class Crash(BaseException):
    """The process dies here (not an error PhotoSorter handles)."""


def test_a_crash_before_the_trash_is_rolled_back(tmp_path, store, trash_home, monkeypatch):
    path, _ = one_photo(tmp_path)

    def crash(_path):
        raise Crash

    monkeypatch.setattr(trash, "_send2trash", crash)
    with pytest.raises(Crash):
        apply_plan(plan_trash([path]), store)
    assert recover_interrupted(store) == [
        "interrupted trash (operation 1):",
        f"  did not move {path} to the trash",
    ]
    assert path.exists()
