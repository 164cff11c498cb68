"""The system trash: send a photo there (journalled), and take it back out for undo.

Photos go to the trash through `send2trash`, never a plain delete. send2trash has no way
back, so undo restores by the freedesktop trash specification (Linux and other free
desktops): a trashed file lies in `<trash>/files/<name>` beside `<trash>/info/<name>.trashinfo`,
which holds its original path and deletion date. `<trash>` is `$XDG_DATA_HOME/Trash` for
files on the home's filesystem, else `<mount point>/.Trash/<uid>` or `.Trash-<uid>`. The
step recorded before the photo is trashed keeps the time and the file's hash; restore takes
the entry whose path matches, whose deletion date follows that time and whose bytes are the
same, and moves it back with the journal's no-replace move. Elsewhere (macOS, Windows)
the user puts a photo back from the system trash.
"""

from __future__ import annotations

import configparser
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from photosorter.core.errors import FileOpError
from photosorter.core.files import safeio
from photosorter.core.files.steps import StepLog, StepRow

TRASH_KIND = "trash"
FREEDESKTOP = sys.platform not in ("darwin", "win32")


class NotRestorable(FileOpError):
    """A trashed photo PhotoSorter cannot put back (trash emptied, or not a freedesktop
    trash): trying again will not help."""


@dataclass(frozen=True)
class Trashed:
    """A file in a freedesktop trash: where it lies, its info file, and where it came from."""

    file: Path
    info: Path
    original: Path
    deleted: float  # seconds since the epoch (the spec keeps whole seconds, local time)


def _send2trash(path: Path) -> None:
    """The seam tests patch; imported late (send2trash reads its paths when imported)."""
    from send2trash import send2trash

    send2trash(os.fspath(path))


def send_to_trash(log: StepLog, op: int, path: Path) -> StepRow:
    """Move the photo at `path` to the system trash, recorded (time, hash) before it goes."""
    try:
        digest = safeio.file_hash(path, follow_symlinks=False)
    except OSError as exc:
        raise FileOpError(safeio.explain(exc, path)) from exc
    row = log.add(op, TRASH_KIND, path, path, hash=digest, data={"at": time.time()})
    try:
        _send2trash(path)
    except OSError as exc:
        message = safeio.explain(exc, path)
        log.update(row, "failed", message=message)
        raise FileOpError(f"could not move to the trash: {message}") from exc
    log.update(row, "done")
    return row


def restore(log: StepLog, op: int, row: StepRow) -> Path:
    """Put the photo `row` sent to the trash back where it was; returns that path.

    Its place taken is a FileOpError a later undo may retry; a photo no longer in the trash
    (or no freedesktop trash) is NotRestorable.
    """
    if not FREEDESKTOP:
        raise NotRestorable(f"put {row.source.name} back from the system trash")
    found = find_trashed(row.source, after=float(row.data.get("at", 0.0)), digest=row.hash)
    if found is None:
        raise NotRestorable(f"{row.source.name} is no longer in the trash")
    if os.path.lexists(row.source):
        raise FileOpError(f"{row.source} is taken by another file")
    row.source.parent.mkdir(parents=True, exist_ok=True)
    back = log.add(op, "move", found.file, row.source, undoes=row.id)
    try:
        safeio.transfer(log, back)
    except FileExistsError as exc:
        raise FileOpError(f"{row.source} is taken by another file") from exc
    with contextlib.suppress(FileNotFoundError):
        os.unlink(found.info)
    return row.source


def find_trashed(original: Path, after: float, digest: str | None = None) -> Trashed | None:
    """The trash entry of `original` deleted at or after `after` (the first such), whose
    bytes hash to `digest` when given; None if there is none."""
    original = Path(os.path.abspath(original))
    first = math.floor(after)  # deletion dates are whole seconds
    found = [
        t
        for t in _entries(original)
        if t.original == original and t.deleted >= first and os.path.lexists(t.file)
    ]
    for entry in sorted(found, key=lambda t: t.deleted):
        if digest is None or _hash(entry.file) == digest:
            return entry
    return None


def trash_dirs(path: Path) -> list[tuple[Path, Path]]:
    """(trash folder, folder its relative paths start from) that may hold `path`: the home
    trash, then those at the top of `path`'s filesystem."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    found = [(Path(data) / "Trash", Path(data))]
    top = _mount_point(path)
    uid = str(os.getuid()) if hasattr(os, "getuid") else ""
    found += [(top / ".Trash" / uid, top), (top / f".Trash-{uid}", top)]
    return found


def _entries(original: Path) -> list[Trashed]:
    entries = []
    for trash, base in trash_dirs(original):
        try:
            names = [n for n in os.listdir(trash / "info") if n.endswith(".trashinfo")]
        except OSError:
            continue
        for name in names:
            entry = _read_info(trash, base, name)
            if entry is not None:
                entries.append(entry)
    return entries


def _read_info(trash: Path, base: Path, name: str) -> Trashed | None:
    """One `.trashinfo` (None when unreadable or malformed: not ours to judge)."""
    info = trash / "info" / name
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(info, encoding="utf-8") as fh:
            parser.read_file(fh)
        section = parser["Trash Info"]
        where = Path(unquote(section["Path"]))
        deleted = datetime.fromisoformat(section["DeletionDate"]).timestamp()
    except (OSError, ValueError, KeyError, configparser.Error):
        return None
    original = where if where.is_absolute() else base / where
    file = trash / "files" / name[: -len(".trashinfo")]
    return Trashed(file, info, Path(os.path.abspath(original)), deleted)


def _mount_point(path: Path) -> Path:
    probe = Path(os.path.abspath(path))
    while not os.path.ismount(probe) and probe.parent != probe:
        probe = probe.parent
    return probe


def _hash(path: Path) -> str | None:
    try:
        return safeio.file_hash(path, follow_symlinks=False)
    except OSError:
        return None
