"""The stat pass: what a stat each tells of files the store knows, with no file read."""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.library import known as known_module
from photosorter.core.library.cache import Store
from photosorter.core.library.decoders import installed
from photosorter.core.library.known import PhotoResult, paused_gc, stat_pass

MODEL = "test-model"


@pytest.fixture
def gc_on() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.enable()
    yield
    if not was_on:
        gc.disable()


def _indexed(store: Store, folder: Path, count: int) -> list[Path]:
    """`count` files the store knows, each embedded under its own key."""
    files = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        path.write_bytes(b"x" * (i + 1))
        st = path.stat()
        key = f"{len(folder.parts)}{i:031x}"
        store.remember_files([(str(path), st.st_size, st.st_mtime_ns, key)])
        store.put_embeddings(MODEL, [(key, np.eye(4, dtype=np.float32)[i % 4])])
        files.append(path)
    return files


@pytest.mark.parametrize("range_min", [1, 10**9], ids=["store-range", "lookups"])
def test_the_pass_sorts_known_changed_failed_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_min: int
) -> None:
    monkeypatch.setattr(known_module, "RANGE_MIN", range_min)
    with Store(tmp_path / "s.db") as store:
        a, b, changed, failed = _indexed(store, tmp_path, 4)
        changed.write_bytes(b"new content")
        st = failed.stat()
        store.remember_failures(
            [(str(failed), st.st_size, st.st_mtime_ns, "no image")], installed()
        )
        store.conn.execute("DELETE FROM files WHERE path = ?", (str(failed),))
        gone, new = tmp_path / "gone.jpg", tmp_path / "new.jpg"
        new.write_bytes(b"y")
        known = stat_pass([str(b), gone, str(a), changed, failed, new], store, MODEL)
        keys = [store.lookup_files([str(p)])[str(p)][2] for p in (b, a)]
    assert [(r.where, r.key) for r in known.fast] == [(str(b), keys[0]), (str(a), keys[1])]
    assert [(r.size, r.mtime_ns) for r in known.fast] == [
        (p.stat().st_size, p.stat().st_mtime_ns) for p in (b, a)
    ]
    assert known.matrix is not None
    assert known.matrix.keys[known.rows].tolist() == [key.encode() for key in keys]
    assert [(r.path, r.error) for r in known.errors] == [
        (gone, "file vanished before it could be read"),
        (failed, "no image"),
    ]
    assert known.todo == [changed, new]
    # What a failure to read them will be remembered under: the files as they were stated.
    assert known.identities == {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in (changed, new)
    }


def test_many_names_in_one_folder_read_its_range_of_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_module, "RANGE_MIN", 2)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    with Store(tmp_path / "s.db") as store:
        files = [*_indexed(store, folder / "sub", 2), *_indexed(store, folder, 4)[2:]]
        ranges: list[str] = []
        files_under = store.files_under

        def spy(root: str) -> Iterator[tuple[str, int, int, str]]:
            ranges.append(root)
            return files_under(root)

        store.files_under = spy  # type: ignore[method-assign]
        given = [files[0], files[2], files[3]]  # the folder holds one more
        known = stat_pass(given, store, MODEL)
        assert ranges == [str(folder)]
        assert [r.path for r in known.fast] == given
        assert known.matrix is not None
        assert [known.matrix.keys[row] for row in known.rows] == [
            store.lookup_files([str(p)])[str(p)][2].encode() for p in given
        ]
        few = stat_pass(files[2:3] + files[:1], store, MODEL)  # 2 of the 4 under the folder
        assert ranges == [str(folder)]  # looked up by name
        assert [r.path for r in few.fast] == [files[2], files[0]]


def test_a_name_given_twice_is_answered_twice(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        (a,) = _indexed(store, tmp_path, 1)
        known = stat_pass([str(a), str(a)], store, MODEL)
    assert [r.where for r in known.fast] == [str(a), str(a)]
    assert known.rows.tolist() == [0, 0]


def test_the_pass_leaves_the_garbage_collector_on(tmp_path: Path, gc_on: None) -> None:
    with Store(tmp_path / "s.db") as store:
        (a,) = _indexed(store, tmp_path, 1)
        seen_inside = []
        file_rows = store.file_rows

        def spy(paths: list[str]) -> Iterator[tuple[str, int, int, str]]:
            seen_inside.append(gc.isenabled())
            return file_rows(paths)

        store.file_rows = spy  # type: ignore[method-assign]
        assert len(stat_pass([a], store, MODEL).fast) == 1
    assert seen_inside == [False]  # paused while the results are made
    assert gc.isenabled()


def test_the_pass_leaves_the_garbage_collector_on_when_it_fails(
    tmp_path: Path, gc_on: None
) -> None:
    with Store(tmp_path / "s.db") as store:
        (a,) = _indexed(store, tmp_path, 1)
        store.file_rows = None  # type: ignore[assignment, method-assign]
        with pytest.raises(TypeError):
            stat_pass([a], store, MODEL)
    assert gc.isenabled()


def test_a_paused_collector_stays_off_after_a_pause(gc_on: None) -> None:
    gc.disable()
    with paused_gc():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(KeyError), paused_gc():
        raise KeyError("x")
    assert gc.isenabled()


def test_a_result_makes_its_path_once_and_compares_by_its_fields() -> None:
    name = os.path.join("some", "photo.jpg")
    result = PhotoResult(name, "k", size=3, mtime_ns=4)
    assert type(result.where) is str
    assert result.path == Path(name) and result.path is result.path
    assert result == PhotoResult(name, "k", size=3, mtime_ns=4)  # the made path is no field
    assert hash(result) == hash(PhotoResult(name, "k", size=3, mtime_ns=4))
    assert "_path" not in repr(result)
    given = Path(name)
    assert PhotoResult(given).path is given
    copy = pickle.loads(pickle.dumps(result))  # sent to cluster workers
    assert copy == result and copy.path == Path(name)
    with pytest.raises(AttributeError):
        result.key = "other"  # type: ignore[misc]
    assert not hasattr(result, "__dict__")  # a million of them: no dict each
