"""SQLite store: embeddings keyed by content hash + model id, file identities, overrides.

A file's identity is (path, size, mtime_ns) -> content hash; embeddings are keyed by
(hash, model id), so a re-run on an unchanged folder needs only a stat per file, a renamed
or moved file is recognised by its hash, and changing the model never serves stale vectors.
WAL mode with synchronous=FULL (the operation journal lives here and must survive a power
cut); one connection per thread, closed once its thread has ended; schema versions through
`PRAGMA user_version`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photosorter.core.errors import StorageError
from photosorter.core.library.schema import IMAGE_DTYPE, MIGRATIONS, migrate  # noqa: F401 - MIGRATIONS re-exported
from photosorter.core.paths import default_store_path, make_dir


@dataclass(frozen=True)
class ImageInfo:
    """What indexing learnt of a photo's content: size as stored, format, perceptual hash."""

    width: int
    height: int
    format: str
    phash: int  # unsigned 64-bit (photosorter.core.library.perceptual)

    @property
    def pixels(self) -> int:
        return self.width * self.height


_CHUNK = 500  # SQLite's default limit on host parameters is 999 (older builds)


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the store at `path`."""
    path = Path(path)
    make_dir(path.parent)
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        # A new store only (an existing one keeps its page size): 7 float16 embedding rows
        # of 512 dimensions fill an 8 KiB page, where 3 fill a 4 KiB one (1.37 KB a row).
        conn.execute("PRAGMA page_size = 8192")
        _use_wal(conn)
    except sqlite3.OperationalError as exc:  # a read-only folder or file, say
        raise StorageError(f"Cannot open the store {path}: {exc}") from None
    # FULL: every commit is on disk before it returns. With NORMAL a power cut may lose the
    # last journal writes, and the journal is what makes a half-done move recoverable.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn)
    return conn


def _use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch to WAL. Another process creating the same store at this moment can make
    SQLite answer "locked" at once, without its busy timeout: wait for it, bounded."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_U64 = (1 << 64) - 1


def _signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed integer SQLite stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


def as_stored(vec: np.ndarray) -> np.ndarray:
    """An image embedding at the precision the store keeps it, as float32."""
    return np.asarray(vec).astype(IMAGE_DTYPE).astype(np.float32)


def _blob(vec: np.ndarray, dtype: type = np.float32) -> bytes:
    return np.ascontiguousarray(vec, dtype=dtype).tobytes()


def _float32_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _image_vector(blob: bytes) -> np.ndarray:
    """A stored image embedding as the float32 vector callers compute with."""
    return np.frombuffer(blob, dtype=IMAGE_DTYPE).astype(np.float32)


class Store:
    """Thread-safe facade: each thread gets its own connection to the same file.

    Short-lived threads (a decode pool per index run) come and go for hours in the app and
    in `watch`: the connection of a thread that has ended is closed when the next thread
    opens one, so open descriptors stay bounded by the threads alive.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_store_path()
        self._local = threading.local()
        self._owners: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self.conn  # noqa: B018 - create and migrate now, so errors surface early

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._close_orphans()
                self._owners[threading.current_thread()] = conn
        return conn

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (the caller holds the lock)."""
        for thread in [t for t in self._owners if not t.is_alive()]:
            self._owners.pop(thread).close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): atomic, and one fsync not N.

        The connections run in autocommit mode (isolation_level=None), where
        `with conn:` would not open a transaction at all.
        """
        conn = self.conn
        if conn.in_transaction:  # nested: the outer transaction decides
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._owners.values():
                conn.close()
            self._owners.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- file identities -------------------------------------------------------------
    def lookup_files(self, paths: Sequence[str]) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, hash) for the paths the store knows."""
        return {p: (s, m, v) for p, s, m, v in self.file_rows(paths)}

    def file_rows(self, paths: Sequence[str]) -> Iterator[tuple[str, int, int, str]]:
        """(path, size, mtime_ns, hash) of each of `paths` the store knows, as they are read:
        no dict of a million rows between the store and a caller that makes its own."""
        return self._path_rows("files", "hash", paths)

    def _path_rows(
        self,
        table: str,
        column: str,
        paths: Sequence[str],
        where: str = "",
        args: Sequence[object] = (),
    ) -> Iterator[tuple]:
        """(path, size, mtime_ns, `column`) from `table` (rows matching `where` too), in
        chunks of bound parameters."""
        return self._where_in(
            f"SELECT path, size, mtime_ns, {column} FROM {table} WHERE path IN ({{}}) {where}",
            paths, after=args,
        )  # fmt: skip

    def _where_in(
        self,
        sql: str,
        keys: Sequence[str],
        before: Sequence[object] = (),
        after: Sequence[object] = (),
    ) -> Iterator[tuple]:
        """The rows of `sql`, whose `{}` is an IN list of `keys`, run a chunk of bound
        parameters at a time; `before`/`after` bind the parameters around the list."""
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            yield from self.conn.execute(
                sql.format(",".join("?" * len(chunk))), [*before, *chunk, *after]
            )

    def remember_files(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """Record (path, size, mtime_ns, hash) identities (a file read well has not failed)."""
        rows = list(rows)
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO files(path, size, mtime_ns, hash) VALUES (?, ?, ?, ?)",
                rows,
            )
            self.conn.executemany("DELETE FROM failures WHERE path = ?", [r[:1] for r in rows])

    def lookup_failures(
        self, paths: Sequence[str], decoders: str
    ) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, error) of the paths that the same `decoders`
        (decoders.installed()) could not read as images."""
        rows = self._path_rows("failures", "error", paths, "AND decoders = ?", (decoders,))
        return {p: (s, m, e) for p, s, m, e in rows}

    def remember_failures(self, rows: Iterable[tuple[str, int, int, str]], decoders: str) -> None:
        """Record (path, size, mtime_ns, error): that content is no image `decoders` can read."""
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO failures(path, size, mtime_ns, error, decoders) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*row, decoders) for row in rows],
            )

    def forget_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def rename_file(self, old: str, new: str) -> None:
        """Carry a file's identity along when PhotoSorter moves it."""
        with self.transaction():
            self.conn.execute("DELETE FROM files WHERE path = ?", (new,))
            self.conn.execute("UPDATE files SET path = ? WHERE path = ?", (new, old))

    # -- image embeddings --------------------------------------------------------------
    def get_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """hash -> float32 embedding of `model`, for the hashes embedded."""
        return self._vectors("embeddings", "hash", model, hashes, _image_vector)

    def _vectors(
        self, table: str, key: str, model: str, keys: Sequence[str], read=_float32_vector
    ) -> dict:
        """key -> vector of `model` in `table`, looked up in chunks of bound parameters;
        `read` makes a stored blob an array (float32 blobs by default)."""
        rows = self._where_in(
            f"SELECT {key}, vec FROM {table} WHERE model = ? AND {key} IN ({{}})", keys, (model,)
        )
        return {k: read(v) for k, v in rows}

    def put_embeddings(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store float16 embeddings; a new one keeps its row (an upsert, counted as a change)."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO embeddings(hash, model, vec) VALUES (?, ?, ?) "
                "ON CONFLICT(hash, model) DO UPDATE SET vec = excluded.vec",
                [(h, model, _blob(v, IMAGE_DTYPE)) for h, v in items],
            )

    def all_embeddings(self, model: str) -> tuple[list[str], np.ndarray]:
        """Every (hash, embedding) of `model`: the hashes and an (N, D) float32 matrix.
        For a large library, EmbeddingMatrix (matrix.py) maps them instead."""
        hashes, blobs = [], []
        for _id, h, v in self.embedding_rows(model):
            hashes.append(h)
            blobs.append(v)
        if not blobs:
            return [], np.zeros((0, 0), dtype=np.float32)
        flat = np.frombuffer(b"".join(blobs), dtype=IMAGE_DTYPE)
        return hashes, flat.reshape(len(blobs), -1).astype(np.float32)

    def embedding_rows(self, model: str, after: int = 0) -> Iterator[tuple[int, str, bytes]]:
        """(row id, hash, float16 blob) of `model`'s embeddings past row `after`, in row order:
        rows only ever arrive at the end, so `after` = the last id seen yields the new ones."""
        yield from self.conn.execute(
            "SELECT id, hash, vec FROM embeddings WHERE id > ? AND model = ? ORDER BY id",
            (after, model),
        )

    def embedding_ids(self, model: str, hashes: Sequence[str]) -> dict[str, int]:
        """hash -> row id of `model`'s embedding, for the hashes embedded (no vector read)."""
        sql = "SELECT hash, id FROM embeddings WHERE model = ? AND hash IN ({})"
        return dict(self._where_in(sql, hashes, (model,)))

    def embedding_row(self, row_id: int) -> tuple[str, str, bytes] | None:
        """(model, hash, float16 blob) of the embedding row `row_id`, if it exists."""
        found = self.conn.execute(
            "SELECT model, hash, vec FROM embeddings WHERE id = ?", (row_id,)
        ).fetchone()
        return tuple(found) if found else None

    def embedding_changes(self, model: str) -> int:
        """How often an embedding of `model` was rewritten or deleted (rows moved, not added)."""
        row = self.conn.execute(
            "SELECT changes FROM embedding_changes WHERE model = ?", (model,)
        ).fetchone()
        return int(row[0]) if row else 0

    def count_embeddings(self, model: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,))
        return int(row.fetchone()[0])

    # -- image facts (size, format, perceptual hash), per content hash ----------------------
    def get_image_info(self, hashes: Sequence[str]) -> dict[str, ImageInfo]:
        sql = "SELECT hash, width, height, format, phash FROM image_info WHERE hash IN ({})"
        rows = self._where_in(sql, hashes)
        return {h: ImageInfo(w, ht, f, p & _U64) for h, w, ht, f, p in rows}

    def put_image_info(self, items: Iterable[tuple[str, ImageInfo]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO image_info(hash, width, height, format, phash) "
                "VALUES (?, ?, ?, ?, ?)",
                [(h, i.width, i.height, i.format, _signed64(i.phash)) for h, i in items],
            )

    # -- text embeddings ---------------------------------------------------------------
    def get_text_embeddings(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self._vectors("text_embeddings", "text", model, texts)

    def put_text_embeddings(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO text_embeddings(model, text, vec) VALUES (?, ?, ?)",
                [(model, t, _blob(v)) for t, v in items],
            )

    # -- per-model facts (scoring parameters), so re-scoring needs no model load ---------
    def model_info(self, model: str) -> dict | None:
        row = self.conn.execute("SELECT info FROM models WHERE model = ?", (model,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_model_info(self, model: str, info: dict) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO models(model, info) VALUES (?, ?)", (model, json.dumps(info))
        )

    # -- manual assignments --------------------------------------------------------------
    def overrides(self, hashes: Sequence[str] | None = None) -> dict[str, str]:
        """hash -> category name the user chose by hand."""
        if hashes is None:
            return dict(self.conn.execute("SELECT hash, category FROM overrides"))
        return dict(
            self._where_in("SELECT hash, category FROM overrides WHERE hash IN ({})", hashes)
        )

    def override_embeddings(self, model: str) -> list[tuple[str, str, np.ndarray]]:
        """(hash, category, embedding) of every manually placed photo embedded by `model`:
        the user's corrections, which serve as example photos."""
        rows = self.conn.execute(
            "SELECT o.hash, o.category, e.vec FROM overrides o "
            "JOIN embeddings e ON e.hash = o.hash AND e.model = ? ORDER BY o.hash",
            (model,),
        )
        return [(h, c, _image_vector(v)) for h, c, v in rows]

    def set_override(self, hashes: Iterable[str], category: str | None) -> None:
        """Pin photos to `category` by hand; None removes the pin."""
        with self.transaction():
            if category is None:
                self.conn.executemany(
                    "DELETE FROM overrides WHERE hash = ?", [(h,) for h in hashes]
                )
            else:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO overrides(hash, category) VALUES (?, ?)",
                    [(h, category) for h in hashes],
                )

    # -- the catalogue: what the store knows under some folders, without touching the disk --
    def files_under(self, root: str) -> Iterator[tuple[str, int, int, str]]:
        """(path, size, mtime_ns, hash) of every file known at `root` or under it (a range
        of the primary key: no scan of the table), in path order, as they are read."""
        columns = "SELECT path, size, mtime_ns, hash FROM files WHERE"
        yield from self.conn.execute(f"{columns} path = ?", (root,))  # a photo given itself
        # One range of the index, in its order: the first row comes at once (no sort).
        inside = f"{columns} path >= ? AND path < ? ORDER BY path"
        yield from self.conn.execute(inside, _under(root))

    def count_under(self, root: str) -> int:
        """How many files the store knows under the folder `root` (counted in the index)."""
        sql = "SELECT count(*) FROM files WHERE path >= ? AND path < ?"
        return self.conn.execute(sql, _under(root)).fetchone()[0]


def _under(root: str) -> tuple[str, str]:
    """The range of paths under the folder `root`: (first, past the last)."""
    prefix = root.rstrip(os.sep) + os.sep
    return prefix, prefix[:-1] + chr(ord(os.sep) + 1)  # the first string after every prefix+...
