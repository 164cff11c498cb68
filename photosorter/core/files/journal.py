"""The file-operation journal: tables in the SQLite store, undo, and crash recovery.

Tables `file_ops` / `file_op_steps` (migration 2 in cache.py). An operation is `running`
while applied, then `applied` (or `empty` when nothing changed), `undone` after undo.
Each file step is `pending` -> (`copied`) -> `done` | `failed`, later `undone`; the
disk-side of each state is in `safeio`. An operation left `running` by a dead process is
finished or rolled back step by step by `recover_interrupted`. Only the last
`KEEP_OPERATIONS` operations are kept; what copy and tag have handled (for watch catch-up)
is remembered apart, in table `handled` (migration 3), which pruning leaves alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from photosorter.core.errors import PhotoSorterError
from photosorter.core.files import safeio, trash
from photosorter.core.files.safeio import read_sidecar
from photosorter.core.files.steps import OpRow, StepRow
from photosorter.core.files.xmp import Keywords, XmpError, merge_keywords, remove_keywords
from photosorter.core.library.cache import Store

_ACTIVE: set[tuple[str, int]] = set()  # (store path, op id) being applied in this process
KEEP_OPERATIONS = 200  # older finished operations are forgotten (no longer undoable)


# -- journal tables -------------------------------------------------------------------
_STEP_COLS = "id, op, kind, source, dest, temp, hash, data, state, message, main, undoes"
# The photos an ended copy/tag operation handled: path -> content hash (of the copy made;
# for a tag, the identity the store has for the photo).
_REMEMBER_HANDLED = """
    INSERT OR REPLACE INTO handled(action, source, hash)
    SELECT o.action, s.source, CASE WHEN s.kind = 'copy' THEN s.hash ELSE f.hash END
    FROM file_op_steps s JOIN file_ops o ON o.id = s.op LEFT JOIN files f ON f.path = s.source
    WHERE s.op = ? AND s.state = 'done' AND s.main IS NULL AND s.undoes IS NULL
    AND ((o.action = 'copy' AND s.kind = 'copy') OR (o.action = 'tag' AND s.kind = 'sidecar'))
    ORDER BY s.id
"""


class Journal:
    """Queries on the journal tables of one Store (this thread's connection)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(self, action: str, undoes: int | None = None) -> int:
        self.store.conn.execute(
            "DELETE FROM file_ops WHERE state != 'running' AND id NOT IN "
            "(SELECT id FROM file_ops ORDER BY id DESC LIMIT ?) AND id NOT IN "
            "(SELECT undoes FROM file_ops WHERE undoes IS NOT NULL)",
            (KEEP_OPERATIONS - 1,),
        )
        cur = self.store.conn.execute(
            "INSERT INTO file_ops(action, state, pid, started, undoes) VALUES (?, ?, ?, ?, ?)",
            (action, "running", os.getpid(), time.time(), undoes),
        )
        op = int(cur.lastrowid)  # type: ignore[arg-type]
        _ACTIVE.add((str(self.store.path), op))
        return op

    def end(self, op: int, state: str | None = None) -> str:
        """Close an operation: `applied` when any step is done, else `empty`."""
        if state is None:
            done = self.store.conn.execute(
                "SELECT 1 FROM file_op_steps WHERE op = ? AND state IN ('done', 'undone') "
                "AND kind != 'mkdir' LIMIT 1",
                (op,),
            ).fetchone()
            state = "applied" if done else "empty"
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE file_ops SET state = ?, finished = ? WHERE id = ?", (state, time.time(), op)
            )
            conn.execute(_REMEMBER_HANDLED, (op,))
        return state

    def release(self, op: int) -> None:
        _ACTIVE.discard((str(self.store.path), op))

    def set_op_state(self, op: int, state: str) -> None:
        self.store.conn.execute("UPDATE file_ops SET state = ? WHERE id = ?", (state, op))

    def add(self, op: int, kind: str, source: Path, dest: Path, **extra: object) -> StepRow:
        """Record a step as `pending`, before it touches the disk."""
        row = StepRow(0, op, kind, Path(source), Path(dest), None, None, {}, "pending", None,
                      None, None)  # fmt: skip
        for key, value in extra.items():
            setattr(row, key, value)
        cur = self.store.conn.execute(
            "INSERT INTO file_op_steps(op, kind, source, dest, temp, hash, data, state, main, "
            "undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op, kind, str(row.source), str(row.dest), _opt(row.temp), row.hash,
             json.dumps(row.data), row.state, row.main, row.undoes),
        )  # fmt: skip
        row.id = int(cur.lastrowid)  # type: ignore[arg-type]
        return row

    def moved(self, source: Path, dest: Path) -> None:
        self.store.rename_file(str(source), str(dest))

    def update(self, row: StepRow, state: str, **changes: object) -> None:
        for key, value in changes.items():
            setattr(row, key, value)
        row.state = state
        conn = self.store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "UPDATE file_op_steps SET state = ?, temp = ?, hash = ?, data = ?, message = ?, "
                "dest = ? WHERE id = ?",
                (state, _opt(row.temp), row.hash, json.dumps(row.data), row.message,
                 str(row.dest), row.id),
            )  # fmt: skip
            if state == "done" and row.undoes is not None:
                conn.execute(
                    "UPDATE file_op_steps SET state = 'undone' WHERE id = ?", (row.undoes,)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def steps(self, op: int) -> list[StepRow]:
        rows = self.store.conn.execute(
            f"SELECT {_STEP_COLS} FROM file_op_steps WHERE op = ? ORDER BY id", (op,)
        )
        return [_step(r) for r in rows]

    def handled(self, action: str) -> dict[str, str | None]:
        """Photo path -> content hash, for each photo a `copy` or `tag` has handled.

        Kept when the journal is pruned, when the user deletes the copy and when the
        operation is undone: either is the user's choice, which watch catch-up respects.
        """
        rows = self.store.conn.execute(
            "SELECT source, hash FROM handled WHERE action = ?", (action,)
        )
        return dict(rows)

    def keywords_added(self, sidecar: Path) -> set[str]:
        """Flat keywords PhotoSorter itself added to `sidecar` (and has not taken back)."""
        rows = self.store.conn.execute(
            "SELECT data FROM file_op_steps WHERE kind = 'sidecar' AND dest = ? AND state = 'done'",
            (str(sidecar),),
        )
        return {kw for (data,) in rows for kw in json.loads(data or "{}").get("added", {}).get(
            "subject", ()
        )}  # fmt: skip

    def interrupted(self) -> list[OpRow]:
        """Operations left `running` by a process that is gone (oldest first)."""
        rows = self.store.conn.execute(
            "SELECT id, action, state, pid, started, undoes FROM file_ops "
            "WHERE state = 'running' ORDER BY id"
        )
        found = []
        for r in rows:
            op = OpRow(*r)
            if (str(self.store.path), op.id) in _ACTIVE:
                continue
            if op.pid != os.getpid() and _pid_alive(op.pid):
                continue  # another PhotoSorter is applying it right now
            found.append(op)
        return found

    def last_undoable(self) -> OpRow | None:
        row = self.store.conn.execute(
            "SELECT id, action, state, pid, started, undoes FROM file_ops "
            "WHERE state = 'applied' AND action != 'undo' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        op = OpRow(*row)
        op.steps = self.steps(op.id)
        return op


def _opt(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _step(r: tuple) -> StepRow:
    return StepRow(r[0], r[1], r[2], Path(r[3]), Path(r[4]), Path(r[5]) if r[5] else None, r[6],
                   json.loads(r[7] or "{}"), r[8], r[9], r[10], r[11])  # fmt: skip


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class UndoItem:
    path: Path  # where the file was before the undo
    restored: Path | None  # where it is now (None: removed, or not reverted)
    ok: bool
    message: str = ""
    retry: bool = False  # not reverted yet, and a later undo tries again
    companion: bool = False  # a file that travels with a photo: its RAW, a sidecar


@dataclass
class UndoReport:
    op_id: int | None  # the operation undone; None: nothing to undo
    action: str | None
    items: list[UndoItem] = field(default_factory=list)
    later: str | None = None  # the action of a later operation that stands in the way

    @property
    def reverted(self) -> list[UndoItem]:
        return [i for i in self.items if i.ok]

    @property
    def reverted_photos(self) -> list[UndoItem]:
        """The photos reverted, each once (a RAW+JPEG pair, a photo and its sidecar: one)."""
        return [i for i in self.reverted if not i.companion]

    @property
    def not_reverted(self) -> list[UndoItem]:
        return [i for i in self.items if not i.ok]

    @property
    def to_retry(self) -> list[UndoItem]:
        """What a later undo tries again, once the user has fixed what stood in the way."""
        return [i for i in self.items if i.retry]


# -- undo and recovery ----------------------------------------------------------------------
def undo_last(store: Store, op_id: int | None = None) -> UndoReport:
    """Revert the last applied move/copy/tag/trash; what could not be reverted is reported.

    The operation stays undoable while a file is left that a retry may revert (its original
    place taken, a permission); what can never be reverted (a moved photo that is gone, a
    copy the user changed) is reported once and then counts as done. With `op_id`, only that
    operation, and only while it is the last one undoable: a later one is never undone in
    its place (`later` names it), and one already undone is not undone again.
    """
    journal = Journal(store)
    target = journal.last_undoable()
    if target is None or (op_id is not None and target.id < op_id):
        return UndoReport(None, None)
    if op_id is not None and target.id != op_id:
        return UndoReport(None, None, later=target.action)
    report = UndoReport(target.id, target.action)
    op = journal.begin("undo", undoes=target.id)
    try:
        rows = [r for r in target.steps if r.state == "done" and r.undoes is None]
        for row in reversed(rows):
            if row.kind in ("move", "copy", "sidecar", trash.TRASH_KIND):
                item = replace(_undo_row(journal, op, row), companion=row.main is not None)
                if not item.ok and not item.retry:
                    journal.update(row, "undone", message=f"not reverted: {item.message}")
                report.items.append(item)
        for row in reversed([r for r in rows if r.kind == "mkdir"]):
            with contextlib.suppress(OSError):  # only folders left empty go
                os.rmdir(row.dest)
                journal.update(row, "undone")
        journal.end(op, "applied")
        if not report.to_retry:
            journal.set_op_state(target.id, "undone")
    finally:
        journal.release(op)
    return report


def undo_targets(store: Store) -> list[Path]:
    """Where undoing the last operation would put moved or trashed files back (a watcher
    ignores them)."""
    target = Journal(store).last_undoable()
    if target is None or target.action not in ("move", trash.TRASH_KIND):
        return []
    return [r.source for r in target.steps if r.kind == target.action and r.state == "done"]


def _undo_row(journal: Journal, op: int, row: StepRow) -> UndoItem:
    try:
        if row.kind == "move":
            if not os.path.lexists(row.dest):
                return UndoItem(row.dest, None, False, f"no longer at {row.dest}")
            if os.path.lexists(row.source):
                taken = f"{row.source} is taken by another file"
                return UndoItem(row.dest, None, False, taken, retry=True)
            row.source.parent.mkdir(parents=True, exist_ok=True)
            back = journal.add(op, "move", row.dest, row.source, undoes=row.id)
            safeio.transfer(journal, back)
            journal.store.rename_file(str(row.dest), str(row.source))
            return UndoItem(row.dest, row.source, True)
        if row.kind == trash.TRASH_KIND:
            return UndoItem(row.source, trash.restore(journal, op, row), True)
        if row.kind == "copy":
            done = safeio.delete_copy(journal, op, row.dest, row.hash or "", undoes=row.id)
            return UndoItem(row.dest, None, True, done.message or "copy removed")
        return _undo_tag(journal, op, row)
    except trash.NotRestorable as exc:
        return UndoItem(row.dest, None, False, str(exc))
    except (PhotoSorterError, OSError) as exc:
        return UndoItem(row.dest, None, False, str(exc), retry=not _changed_copy(row))


def _changed_copy(row: StepRow) -> bool:
    """A copy the user has changed since PhotoSorter made it: undo keeps it, for good."""
    if row.kind != "copy" or not os.path.isfile(row.dest):
        return False
    try:
        return safeio.file_hash(row.dest) != row.hash
    except OSError:
        return False


def _undo_tag(journal: Journal, op: int, row: StepRow) -> UndoItem:
    """Remove only the keywords PhotoSorter added; a sidecar it created and nobody changed goes."""
    sidecar = row.dest
    current = read_sidecar(sidecar)
    if current is None:
        journal.update(row, "undone")
        return UndoItem(sidecar, None, True, "sidecar already gone")
    digest = safeio.bytes_hash(current)
    if row.data.get("before") is None and digest == row.hash:
        safeio.delete_copy(journal, op, sidecar, digest, undoes=row.id)
        return UndoItem(sidecar, None, True, "sidecar removed")
    replaced = Keywords.from_json(row.data.get("removed", {}))
    try:
        new, removed = remove_keywords(current, Keywords.from_json(row.data.get("added", {})))
        if replaced:  # the earlier category this tag replaced comes back
            new, restored = merge_keywords(new, replaced)
            removed = removed if removed else restored
    except XmpError as exc:
        return UndoItem(sidecar, None, False, f"{sidecar}: {exc}; left as it is", retry=True)
    if not removed:
        journal.update(row, "undone")
        return UndoItem(sidecar, sidecar, True, "keywords were already removed")
    safeio.write_sidecar(journal, op, row.source, sidecar, new, digest, undoes=row.id)
    return UndoItem(sidecar, sidecar, True, f"removed keywords {', '.join(removed.subject)}")


def recover_interrupted(store: Store) -> list[str]:
    """Finish or roll back operations a crash interrupted; lines saying what was done."""
    journal = Journal(store)
    lines: list[str] = []
    for op in journal.interrupted():
        steps = journal.steps(op.id)
        by_id = {r.id: r for r in steps}
        found: list[str] = []
        for row in steps:
            main = by_id.get(row.main) if row.main is not None else None
            try:
                line = safeio.recover_step(
                    journal, row, finish=main is not None and main.state == "done"
                )
            except OSError as exc:
                line = f"could not recover {row.source}: {safeio.explain(exc)} (will retry)"
            if line:
                found.append(line)
        if all(r.state not in ("pending", "copied") for r in steps):
            journal.end(op.id, "applied" if op.action == "undo" else None)
        if found:
            lines.append(f"interrupted {op.action} (operation {op.id}):")
            lines.extend(f"  {line}" for line in found)
    return lines
