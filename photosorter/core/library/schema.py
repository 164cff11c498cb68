"""The store's schema: its migrations (`PRAGMA user_version`) and how embeddings are stored.

Append-only: each entry of MIGRATIONS migrates user_version i -> i+1, in one transaction,
and a step is never edited once released. Two processes opening one store at once migrate
it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np

# Image embeddings are stored as float16: 1 KiB for 512 dimensions, and cosine rankings agree
# with float32 (README, "Ten million photos on one desktop"). Text embeddings stay float32: a few
# thousand rows, and they are the category and query side, where no byte is worth saving.
IMAGE_DTYPE = np.float16


# Append-only: each entry migrates user_version i -> i+1. Never edit a released step.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE embeddings (
        hash TEXT NOT NULL,
        model TEXT NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY (hash, model)
    ) WITHOUT ROWID;
    CREATE TABLE text_embeddings (
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY (model, text)
    ) WITHOUT ROWID;
    CREATE TABLE overrides (
        hash TEXT PRIMARY KEY,
        category TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE models (
        model TEXT PRIMARY KEY,
        info TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: the file-operation journal (queries live in photosorter/core/files/journal.py).
    """
    CREATE TABLE file_ops (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        state TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started REAL NOT NULL,
        finished REAL,
        undoes INTEGER REFERENCES file_ops(id)
    );
    CREATE TABLE file_op_steps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        op INTEGER NOT NULL REFERENCES file_ops(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        dest TEXT NOT NULL,
        temp TEXT,
        hash TEXT,
        data TEXT,
        state TEXT NOT NULL,
        message TEXT,
        main INTEGER,
        undoes INTEGER
    );
    CREATE INDEX file_op_steps_op ON file_op_steps(op);
    CREATE INDEX file_ops_state ON file_ops(state);
    """,
    # 3: the photos copy/tag has handled (path + content hash), which journal pruning keeps;
    # filled from the journal history there is.
    """
    CREATE TABLE handled (
        action TEXT NOT NULL,
        source TEXT NOT NULL,
        hash TEXT,
        PRIMARY KEY (action, source)
    ) WITHOUT ROWID;
    INSERT OR REPLACE INTO handled(action, source, hash)
        SELECT o.action, s.source, CASE WHEN s.kind = 'copy' THEN s.hash ELSE f.hash END
        FROM file_op_steps s JOIN file_ops o ON o.id = s.op LEFT JOIN files f ON f.path = s.source
        WHERE s.state IN ('done', 'undone') AND s.main IS NULL AND s.undoes IS NULL
        AND ((o.action = 'copy' AND s.kind = 'copy') OR (o.action = 'tag' AND s.kind = 'sidecar'))
        ORDER BY s.id;
    """,
    # 4: per content hash, what duplicate finding compares and ranks without a decode: the
    # stored pixel size, the format and a 64-bit perceptual hash (stored as signed int64).
    """
    CREATE TABLE image_info (
        hash TEXT PRIMARY KEY,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        format TEXT NOT NULL,
        phash INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 5: image embeddings as float16 (half the bytes; rankings measured unchanged) in a rowid
    # table: a 1 KiB row no longer spills to an overflow page of its own, and rows arrive in
    # rowid order, which the mapped matrix (matrix.py) follows. Rewrites and deletions count
    # in embedding_changes, so a mapped matrix knows when it must be rebuilt.
    """
    CREATE TABLE embeddings_f16 (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        model TEXT NOT NULL,
        vec BLOB NOT NULL,
        UNIQUE (hash, model)
    );
    INSERT INTO embeddings_f16(hash, model, vec)
        SELECT hash, model, f32_to_f16(vec) FROM embeddings;
    DROP TABLE embeddings;
    ALTER TABLE embeddings_f16 RENAME TO embeddings;
    CREATE TABLE embedding_changes (
        model TEXT PRIMARY KEY,
        changes INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER embeddings_rewritten AFTER UPDATE ON embeddings BEGIN
        INSERT INTO embedding_changes(model, changes) VALUES (old.model, 1)
            ON CONFLICT(model) DO UPDATE SET changes = changes + 1;
    END;
    CREATE TRIGGER embeddings_deleted AFTER DELETE ON embeddings BEGIN
        INSERT INTO embedding_changes(model, changes) VALUES (old.model, 1)
            ON CONFLICT(model) DO UPDATE SET changes = changes + 1;
    END;
    """,
    # 6: files that are not images we can read (corrupt, truncated, not an image) as they
    # were then (size, mtime_ns): reported again without a read until the file changes.
    """
    CREATE TABLE failures (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        error TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 7: which decoders were installed when a file failed (decoders.installed()): a failure
    # counts only while they are the same, so installing pillow-heif retries the HEIC files.
    """
    ALTER TABLE failures ADD COLUMN decoders TEXT NOT NULL DEFAULT '';
    """,
]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the store on `conn` to the newest schema."""
    conn.create_function("f32_to_f16", 1, _f32_to_f16, deterministic=True)  # migration 5
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"store schema v{version} is newer than this PhotoSorter understands")
    for step in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == step:  # another process?
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> Iterator[str]:
    """The statements of `script`, whole (a trigger's body holds semicolons of its own)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def _f32_to_f16(blob: bytes) -> bytes:
    return np.frombuffer(blob, dtype=np.float32).astype(IMAGE_DTYPE).tobytes()
