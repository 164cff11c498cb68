"""Image embeddings stored as float16 (migration 5), read back as float32."""

import sqlite3
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import MIGRATIONS, Store


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_embeddings_are_stored_as_float16_and_read_as_float32(tmp_path: Path) -> None:
    vecs = _unit(3, 512, 1)
    with Store(tmp_path / "s.db") as store:
        store.put_embeddings("m", zip(["a", "b", "c"], vecs, strict=True))
        blob = store.conn.execute("SELECT vec FROM embeddings WHERE hash = 'a'").fetchone()[0]
        got = store.get_embeddings("m", ["a", "b", "c"])
        hashes, matrix = store.all_embeddings("m")
        store.put_text_embeddings("m", [("a dog", vecs[0])])
        text = store.get_text_embeddings("m", ["a dog"])["a dog"]
    np.testing.assert_array_equal(text, vecs[0])  # text embeddings stay float32, exact
    assert len(blob) == 512 * 2
    assert got["a"].dtype == np.float32 and matrix.dtype == np.float32
    assert hashes == ["a", "b", "c"]
    np.testing.assert_allclose(matrix, vecs, atol=1e-3)  # float16: 11 significant bits
    np.testing.assert_array_equal(got["b"], matrix[1])


def test_a_float32_store_from_migration_4_upgrades_to_float16(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 4")
    vecs = _unit(5, 64, 2)
    rows = [(f"h{i}", "m", v.tobytes()) for i, v in enumerate(vecs)]
    conn.executemany("INSERT INTO embeddings(hash, model, vec) VALUES (?, ?, ?)", rows)
    conn.execute("INSERT INTO overrides(hash, category) VALUES ('h3', 'Dogs')")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 5
        got = store.get_embeddings("m", [f"h{i}" for i in range(5)])
        sizes = {n for (n,) in store.conn.execute("SELECT length(vec) FROM embeddings")}
        (override,) = store.override_embeddings("m")
    assert sizes == {64 * 2}
    for i, v in enumerate(vecs):
        np.testing.assert_allclose(got[f"h{i}"], v, atol=1e-3)
        assert float(got[f"h{i}"] @ v) > 0.9999
    assert override[:2] == ("h3", "Dogs")
    np.testing.assert_allclose(override[2], vecs[3], atol=1e-3)


def test_new_embeddings_come_in_row_order_and_a_rewrite_counts_as_a_change(tmp_path: Path) -> None:
    vecs = _unit(3, 8, 3)
    with Store(tmp_path / "s.db") as store:
        store.put_embeddings("m", [("a", vecs[0]), ("b", vecs[1])])
        store.put_embeddings("other", [("a", vecs[2])])
        first = list(store.embedding_rows("m"))
        assert [h for _i, h, _v in first] == ["a", "b"]
        assert list(store.embedding_rows("m", after=first[-1][0])) == []
        assert store.embedding_changes("m") == 0
        store.put_embeddings("m", [("a", vecs[2]), ("c", vecs[0])])  # a rewritten, c new
        assert store.embedding_changes("m") == 1
        assert store.embedding_changes("other") == 0
        (new,) = store.embedding_rows("m", after=first[-1][0])
        assert new[1] == "c"
        assert store.embedding_row(first[0][0])[:2] == ("m", "a")  # kept its row
        np.testing.assert_allclose(store.get_embeddings("m", ["a"])["a"], vecs[2], atol=1e-3)
