"""The mapped embedding matrix stays in step with the store."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.matrix import matrix_folder, open_matrix


def _unit(n: int, seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _put(store: Store, start: int, n: int, seed: int) -> None:
    keys = [f"{i:032x}" for i in range(start, start + n)]
    store.put_embeddings("m", zip(keys, _unit(n, seed), strict=True))


def _assert_in_step(store: Store) -> None:
    matrix = open_matrix(store, "m")
    hashes, vectors = store.all_embeddings("m")
    assert matrix.hashes(range(len(matrix))) == hashes
    np.testing.assert_array_equal(np.asarray(matrix.vectors, dtype=np.float32), vectors)


def _files(store: Store) -> Path:
    folder = matrix_folder(store.path, "m")
    return next(p for p in folder.iterdir() if p.is_dir())


def test_added_photos_are_appended_and_a_rerun_reuses_the_file(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert len(open_matrix(store, "m")) == 0
        _put(store, 0, 3, 1)
        first = open_matrix(store, "m")
        _put(store, 3, 2, 2)
        second = open_matrix(store, "m")
        assert (len(first), len(second)) == (3, 5)
        assert second.generation == first.generation  # appended, not rebuilt
        assert open_matrix(store, "m").generation == first.generation
        _assert_in_step(store)
        np.testing.assert_array_equal(first.vectors, second.vectors[:3])  # still readable


def test_a_rewritten_embedding_rebuilds_the_matrix(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _put(store, 0, 4, 1)
        before = open_matrix(store, "m")
        _put(store, 1, 1, 9)  # row 1 gets a new vector
        after = open_matrix(store, "m")
        assert after.generation != before.generation
        _assert_in_step(store)


def test_a_torn_matrix_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _put(store, 0, 4, 1)
        before = open_matrix(store, "m")
        vectors = _files(store) / "vectors.f16"
        with open(vectors, "r+b") as f:
            f.truncate(vectors.stat().st_size - 5)
        assert open_matrix(store, "m").generation != before.generation
        _assert_in_step(store)


def test_bytes_a_crash_left_past_the_counted_rows_are_ignored(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _put(store, 0, 4, 1)
        before = open_matrix(store, "m")
        for name in ("vectors.f16", "keys.bin", "ids.i64"):
            with open(_files(store) / name, "ab") as f:
                f.write(b"\x7f" * 7)  # half a row, as a crash mid-append leaves
        _put(store, 4, 2, 2)
        assert open_matrix(store, "m").generation == before.generation
        _assert_in_step(store)


def test_a_matrix_of_other_vectors_is_rebuilt(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _put(store, 0, 4, 1)
        before = open_matrix(store, "m")
        with open(_files(store) / "vectors.f16", "r+b") as f:  # e.g. copied from another store
            f.seek(3 * 16 * 2)
            f.write(np.zeros(16, np.float16).tobytes())
        assert open_matrix(store, "m").generation != before.generation
        _assert_in_step(store)


_WRITER = """
import sys
import numpy as np
from photosorter.core.library.cache import Store
from photosorter.core.library.matrix import open_matrix
path, offset = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(offset)
with Store(path) as store:
    for step in range(20):
        keys = [f"{offset + step * 10 + i:032x}" for i in range(10)]
        store.put_embeddings("m", zip(keys, rng.standard_normal((10, 16)), strict=True))
        open_matrix(store, "m")
"""


def test_two_processes_indexing_one_store_keep_one_matrix(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(offset)])
        for offset in (0, 100_000)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with Store(path) as store:
        matrix = open_matrix(store, "m")
        assert len(matrix) == 400
        assert len(set(matrix.hashes(range(400)))) == 400
        _assert_in_step(store)


def test_rows_of_keys_by_sorted_lookup_or_by_row_id(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        _put(store, 0, 300, 1)
        store.put_embeddings("other", [(f"{5:032x}", _unit(1, 2)[0])])  # another model's row
        _put(store, 300, 100, 3)
        matrix = open_matrix(store, "m")
        keys = [f"{i:032x}" for i in (399, 5, 1000, 0, 5)]
        expected = [399, 5, -1, 0, 5]
        assert matrix.rows_of(keys).tolist() == expected  # sorted lookup
        assert matrix.rows_of(keys[:2] + keys[2:], store).tolist() == expected  # few: by id
        assert matrix.rows_of(["nope"], store).tolist() == [-1]
