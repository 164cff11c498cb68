"""A model's image embeddings as one memory-mapped float16 matrix beside the store.

Re-scoring and search over a large library read all N embeddings of a model at once. From
SQLite that is N blobs joined into a new array (10M photos: 10 GB copied, minutes); mapped,
it is the page cache. The matrix follows the store's row order, with each row's content hash
and row id beside it, and is kept in step whenever it is opened:

- rows only ever arrive at the end of the store's order (row ids grow), so keeping in step
  is appending the rows past the last id seen;
- a rewritten or deleted embedding (the store counts them), or files that do not match
  their state (torn by a crash, copied from another store), make it rebuild from the store;
- it changes only under an OS lock on its folder: another PhotoSorter process may index
  the same store. Appends are flushed before state.json, which is replaced atomically, names
  how many rows count: a crash mid-append leaves bytes past them, which are ignored;
- a rebuild writes a new generation folder and then switches state.json to it, so a reader
  that mapped the old one keeps valid pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import IMAGE_DTYPE, Store
from photosorter.core.paths import make_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

_STATE = "state.json"
_VECTORS, _KEYS, _IDS = "vectors.f16", "keys.bin", "ids.i64"
_BATCH = 50_000  # rows fetched from the store per write
_FEW = 64  # keys looked up by row id when fewer than 1/_FEW of the rows


@dataclass(frozen=True)
class EmbeddingMatrix:
    """Rows of one model's embeddings: `vectors` (N, D) float16, mapped (a write never
    reaches the file); `keys`
    (N,) their content hashes (bytes); `ids` (N,) their store row ids. `folder` is where
    derived files (the search index) may be kept; `generation` names this build."""

    vectors: np.ndarray
    keys: np.ndarray
    ids: np.ndarray
    folder: Path
    generation: str
    model: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def hashes(self, rows: np.ndarray | list[int]) -> list[str]:
        """The content hashes of `rows`."""
        return [k.decode("ascii") for k in self.keys[np.asarray(rows, dtype=np.int64)]]

    def rows_of(self, keys: Sequence[str], store: Store | None = None) -> np.ndarray:
        """The row of each content key (keys[i] -> rows[i]); -1 where the model has none.

        Many keys: one sorted lookup (a million in seconds, where SQLite takes minutes). A
        few, with the `store` this matrix maps: their row ids from its index instead of
        sorting every key of a large matrix."""
        if store is not None and len(keys) * _FEW < len(self):
            return self._rows_by_id(store.embedding_ids(self.model, keys), keys)
        rows = np.full(len(keys), -1, dtype=np.int64)
        if not len(self) or not len(keys):
            return rows
        order = np.argsort(self.keys)
        known = self.keys[order]
        wanted = np.array(keys, dtype=self.keys.dtype)  # hex hashes: ASCII
        at = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
        hit = known[at] == wanted
        rows[hit] = order[at[hit]]
        return rows

    def _rows_by_id(self, ids: dict[str, int], keys: Sequence[str]) -> np.ndarray:
        """Rows of `keys` from their store row ids (`ids` ascend with the rows)."""
        wanted = np.array([ids.get(k, -1) for k in keys], dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, wanted), max(len(self) - 1, 0))
        hit = (wanted >= 0) & (self.ids[at] == wanted) if len(self) else wanted < -1
        return np.where(hit, at, -1)


def matrix_folder(store_path: Path, model: str) -> Path:
    """Where `model`'s matrix of the store at `store_path` lives (model ids hold slashes)."""
    name = hashlib.blake2b(model.encode(), digest_size=8).hexdigest()
    return store_path.with_name(store_path.name + ".matrix") / name


def open_matrix(store: Store, model: str) -> EmbeddingMatrix:
    """`model`'s embeddings in `store`, mapped: brought in step with the store first."""
    folder = matrix_folder(store.path, model)
    make_dir(folder)
    with _locked(folder / "lock"):
        saved = _read_state(folder)
        try:
            if not _usable(saved, folder, store, model):
                raise _Rebuild
            state = _append(folder, saved, store, model)  # type: ignore[arg-type]
        except _Rebuild:
            state = _rebuild(folder, store, model)
        if state != saved:
            _save_state(folder, state)
    return _map(folder, state)


class _Rebuild(Exception):
    """The matrix cannot be brought in step by appending."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive OS lock on `path`, waited for; released when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:  # pragma: no cover - Windows: LK_LOCK retries for 10 s, then raises
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _usable(state: dict | None, folder: Path, store: Store, model: str) -> bool:
    """Whether `state` describes files that hold the store's rows up to its last id."""
    if not state or state.get("model") != model:
        return False
    if state["changes"] != store.embedding_changes(model):
        return False  # a row was rewritten or deleted: rows moved
    gen = folder / state["generation"]
    rows, dim, width = state["rows"], state["dim"], state["key_width"]
    sizes = {_VECTORS: rows * dim * 2, _KEYS: rows * width, _IDS: rows * 8}
    try:
        if any((gen / name).stat().st_size < size for name, size in sizes.items()):
            return False  # torn: the files lost bytes the state counts
    except OSError:
        return False
    if not rows:
        return True
    return _last_row_matches(gen, state, store, model)


def _last_row_matches(gen: Path, state: dict, store: Store, model: str) -> bool:
    """The last counted row's id, hash and vector are the store's (not another store's)."""
    rows, dim, width = state["rows"], state["dim"], state["key_width"]
    with open(gen / _IDS, "rb") as f:
        f.seek((rows - 1) * 8)
        last_id = int(np.frombuffer(f.read(8), dtype=np.int64)[0])
    with open(gen / _KEYS, "rb") as f:
        f.seek((rows - 1) * width)
        key = f.read(width).rstrip(b"\0").decode("ascii", "replace")
    with open(gen / _VECTORS, "rb") as f:
        f.seek((rows - 1) * dim * 2)
        vec = f.read(dim * 2)
    return last_id == state["last_id"] and store.embedding_row(last_id) == (model, key, vec)


def _rebuild(folder: Path, store: Store, model: str) -> dict:
    """Write every row of the store into a new generation and switch to it."""
    state = {
        "model": model,
        "generation": f"g{uuid.uuid4().hex[:12]}",
        "changes": store.embedding_changes(model),
        "rows": 0,
        "dim": 0,
        "last_id": 0,
        "key_width": 32,  # hex of a 128-bit content hash; widened when a key needs it
    }
    widest = store.conn.execute(
        "SELECT MAX(length(hash)) FROM embeddings WHERE model = ?", (model,)
    ).fetchone()[0]
    state["key_width"] = max(state["key_width"], widest or 0)
    make_dir(folder / state["generation"])
    state = _append(folder, state, store, model)
    for old in folder.iterdir():  # earlier generations; a mapping of one stays valid (POSIX)
        if old.is_dir() and old.name != state["generation"]:
            shutil.rmtree(old, ignore_errors=True)
    return state


def _append(folder: Path, state: dict, store: Store, model: str) -> dict:
    """Append the store's rows past `state`'s last id, flushed; return the new state."""
    gen = folder / state["generation"]
    new = dict(state)
    files = {name: open(gen / name, "ab+") for name in (_VECTORS, _KEYS, _IDS)}  # noqa: SIM115
    try:
        for name, f in files.items():  # drop what a crash left past the counted rows
            f.truncate(_row_bytes(name, new) * new["rows"])
        batch: list[tuple[int, str, bytes]] = []
        for row in store.embedding_rows(model, after=state["last_id"]):
            batch.append(row)
            if len(batch) == _BATCH:
                _write(files, new, batch)
                batch = []
        if batch:
            _write(files, new, batch)
        if new != state:
            for f in files.values():
                f.flush()
                os.fsync(f.fileno())
    finally:
        for f in files.values():
            f.close()
    return new


def _row_bytes(name: str, state: dict) -> int:
    return {_VECTORS: state["dim"] * 2, _KEYS: state["key_width"], _IDS: 8}[name]


def _write(files: dict, state: dict, batch: list[tuple[int, str, bytes]]) -> None:
    """Append `batch` (id, hash, blob) to the files and count it in `state`."""
    dim = len(batch[0][2]) // np.dtype(IMAGE_DTYPE).itemsize
    if state["rows"] and dim != state["dim"]:
        raise ValueError(f"embeddings of {state['model']} changed dimension")
    width = state["key_width"]
    if max(len(h) for _i, h, _v in batch) > width:
        raise _Rebuild  # a longer content hash: a rebuild widens the keys
    state["dim"] = dim
    files[_VECTORS].write(b"".join(v for _i, _h, v in batch))
    files[_KEYS].write(np.array([h for _i, h, _v in batch], dtype=f"S{width}").tobytes())
    files[_IDS].write(np.array([i for i, _h, _v in batch], dtype=np.int64).tobytes())
    state["rows"] += len(batch)
    state["last_id"] = batch[-1][0]


def _save_state(folder: Path, state: dict) -> None:
    """Replace state.json atomically, and durably (the data it counts is flushed)."""
    tmp = folder / f"{_STATE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / _STATE)


def _map(folder: Path, state: dict) -> EmbeddingMatrix:
    """Map the counted rows of `state`'s generation."""
    gen = folder / state["generation"]
    rows, dim, width = state["rows"], state["dim"], state["key_width"]

    def load(name: str, dtype: object, shape: tuple[int, ...]) -> np.ndarray:
        if not rows:
            return np.zeros(shape, dtype=dtype)
        # copy-on-write: the file is never written through it, and torch, which converts
        # float16 fastest (products), takes only writable arrays without a warning
        return np.memmap(gen / name, dtype=dtype, mode="c", shape=shape)

    return EmbeddingMatrix(
        vectors=load(_VECTORS, IMAGE_DTYPE, (rows, dim)),
        keys=load(_KEYS, f"S{width}", (rows,)),
        ids=load(_IDS, np.int64, (rows,)),
        folder=folder,
        generation=state["generation"],
        model=state["model"],
    )
