import sqlite3
import threading
from pathlib import Path

import numpy as np

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
