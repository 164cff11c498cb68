"""The journal's memory of what copy and tag have handled (watch catch-up relies on it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from photosorter.core.files import journal
from photosorter.core.files.fileops import apply_plan, plan_operation, undo_last
from photosorter.core.files.safeio import file_hash
from photosorter.core.library import cache
from photosorter.core.library.cache import Store
from photosorter.core.watch.autosort import new_since_last_run
from tests.core.files.test_fileops import photo


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def inbox(tmp_path: Path, n: int, store: Store) -> list[Path]:
    """n photos the store has indexed (as watch and the app do before acting)."""
    paths = [tmp_path / "inbox" / f"p{i}.jpg" for i in range(n)]
    for path in paths:
        photo(path)
    remember(store, paths)
    return paths


def remember(store: Store, paths: list[Path]) -> None:
    rows = [(str(p), p.stat().st_size, p.stat().st_mtime_ns, file_hash(p)) for p in paths]
    store.remember_files(rows)


@pytest.mark.parametrize("action", ["copy", "tag"])
def test_what_was_handled_survives_pruning_and_a_deleted_copy(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setattr(journal, "KEEP_OPERATIONS", 3)
    paths = inbox(tmp_path, 5, store)
    dest = tmp_path / "out" if action == "copy" else None
    for path in paths:  # one operation per photo, as watch does for photos arriving one by one
        apply_plan(plan_operation([(path, "X")], action, dest), store)
    assert store.conn.execute("SELECT COUNT(*) FROM file_ops").fetchone()[0] == 3
    made = tmp_path / "out" / "X" / "p0.jpg" if action == "copy" else tmp_path / "inbox/p0.jpg.xmp"
    made.unlink()  # the user deleted the copy (or the sidecar): it must not come back
    assert new_since_last_run(store, paths, action) == []


def test_an_undone_copy_is_not_copied_again(tmp_path: Path, store: Store) -> None:
    """Undo is the user's choice: catch-up at the next start does not redo it."""
    paths = inbox(tmp_path, 2, store)
    apply_plan(plan_operation([(p, "X") for p in paths], "copy", tmp_path / "out"), store)
    undo_last(store)
    assert new_since_last_run(store, paths, "copy") == []


def test_an_edited_photo_is_new_again(tmp_path: Path, store: Store) -> None:
    paths = inbox(tmp_path, 2, store)
    apply_plan(plan_operation([(p, "X") for p in paths], "copy", tmp_path / "out"), store)
    photo(paths[1], "edited")
    remember(store, [paths[1]])  # the app indexed the edit (so size and mtime match the store)
    assert new_since_last_run(store, paths, "copy") == [paths[1]]


def test_migration_remembers_what_the_journal_had(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in cache.MIGRATIONS[:2]:  # a store made before migration 3
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO files VALUES ('/in/t.jpg', 1, 1, 'tag-hash')")
    ops = [(1, "copy", "applied"), (2, "tag", "undone"), (3, "copy", "empty")]
    conn.executemany("INSERT INTO file_ops VALUES (?, ?, ?, 1, 0, NULL, NULL)", ops)
    steps = [
        (1, "copy", "/in/c.jpg", "/out/X/c.jpg", "copy-hash", "done", None),
        (1, "copy", "/in/c.jpg.xmp", "/out/X/c.jpg.xmp", "side", "done", 1),  # a companion
        (2, "sidecar", "/in/t.jpg", "/in/t.jpg.xmp", "xmp", "undone", None),
        (3, "copy", "/in/f.jpg", "/out/X/f.jpg", None, "failed", None),
    ]
    conn.executemany(
        "INSERT INTO file_op_steps(op, kind, source, dest, hash, state, main) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        steps,
    )
    conn.close()
    with Store(path) as store:
        found = {a: journal.Journal(store).handled(a) for a in ("copy", "tag")}
    assert found == {"copy": {"/in/c.jpg": "copy-hash"}, "tag": {"/in/t.jpg": "tag-hash"}}
