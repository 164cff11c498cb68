import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.files.journal import Journal
from photosorter.core.library.cache import MIGRATIONS, Store


def test_store_round_trips_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        vec = np.arange(4, dtype=np.float32)
        store.put_embeddings("m1", [("h1", vec)])
        store.remember_files([("/a.jpg", 10, 20, "h1")])
        store.set_override(["h1"], "Dogs")
        assert np.array_equal(store.get_embeddings("m1", ["h1", "h2"])["h1"], vec)
        assert store.get_embeddings("m2", ["h1"]) == {}  # model id is part of the key
        assert store.lookup_files(["/a.jpg", "/b.jpg"]) == {"/a.jpg": (10, 20, "h1")}
        assert store.overrides() == {"h1": "Dogs"}
        store.rename_file("/a.jpg", "/moved/a.jpg")
        assert store.lookup_files(["/moved/a.jpg"]) == {"/moved/a.jpg": (10, 20, "h1")}
        store.set_override(["h1"], None)
        assert store.overrides(["h1"]) == {}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        main = store.conn
        seen = []
        t = threading.Thread(target=lambda: seen.append(store.conn))
        t.start()
        t.join()
        assert seen[0] is not main


def test_many_lookups_are_chunked(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        rows = [(f"/p{i}.jpg", i, i, f"h{i}") for i in range(2500)]
        store.remember_files(rows)
        store.put_embeddings("m", [(f"h{i}", np.ones(2, np.float32)) for i in range(2500)])
        assert len(store.lookup_files([r[0] for r in rows])) == 2500
        assert len(store.get_embeddings("m", [f"h{i}" for i in range(2500)])) == 2500


def test_failed_write_rolls_back_the_whole_batch(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        rows = [("/a.jpg", 1, 1, "h1"), ("/b.jpg", None, 1, "h2")]  # size NOT NULL fails
        try:
            store.remember_files(rows)
        except sqlite3.IntegrityError:
            pass
        else:  # pragma: no cover
            raise AssertionError("expected the NOT NULL constraint to fail")
        assert store.lookup_files(["/a.jpg", "/b.jpg"]) == {}  # all or nothing


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    """Short-lived threads (a decode pool per index run) must not leak a connection each."""
    with Store(tmp_path / "s.sqlite3") as store:
        store.put_embeddings("m", [("h", np.ones(2, np.float32))])

        def touch() -> None:
            assert store.get_embeddings("m", ["h"])

        def run_threads(n: int) -> None:
            for _ in range(n):
                thread = threading.Thread(target=touch)
                thread.start()
                thread.join()

        run_threads(10)
        before = _open_descriptors()
        run_threads(1000)
        assert _open_descriptors() == before


def test_journal_writes_are_durable(tmp_path: Path) -> None:
    """The journal's connection commits with synchronous=FULL (2), in every thread."""
    with Store(tmp_path / "s.sqlite3") as store:
        journal = Journal(store)
        op = journal.begin("move")
        journal.add(op, "move", tmp_path / "a.jpg", tmp_path / "b" / "a.jpg")
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        seen: list[int] = []

        def in_other_thread() -> None:
            journal.end(op)
            seen.append(store.conn.execute("PRAGMA synchronous").fetchone()[0])

        thread = threading.Thread(target=in_other_thread)
        thread.start()
        thread.join()
        assert seen == [2]


def test_processes_creating_one_store_at_once_all_open_it(tmp_path) -> None:
    """Two PhotoSorters starting on a new store: SQLite can refuse the switch to WAL at once
    ("database is locked", no busy wait); every opener must still get the store."""
    import threading

    from photosorter.core.library.cache import connect

    failures = []
    for trial in range(40):
        path = tmp_path / f"s{trial}.sqlite3"
        start = threading.Barrier(6)

        def open_it(path=path, start=start) -> None:
            start.wait()
            try:
                connect(path).close()
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
