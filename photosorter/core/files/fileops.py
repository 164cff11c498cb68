"""Move, copy or tag photos by category, or trash them: apply a plan, undo, recover.

A `plan.Plan` (re-exported here with the planning functions) is carried out by
`apply_plan` through the journalled operations in `safeio.py` (undo and crash recovery
live in `journal.py`). Each photo is claimed against other processes first; a failure
stops that photo only.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from photosorter.core.errors import FileOpError, PhotoSorterError
from photosorter.core.files import claims, safeio, trash
from photosorter.core.files.journal import (  # noqa: F401 - undo/recovery are part of this API
    Journal,
    UndoItem,
    UndoReport,
    recover_interrupted,
    undo_last,
)
from photosorter.core.files.plan import (  # noqa: F401 - planning is part of this API
    ACTIONS,
    RAW_EXTENSIONS,
    STEM_SIDECARS,
    Action,
    Plan,
    Step,
    plan_operation,
    plan_trash,
)
from photosorter.core.files.safeio import read_sidecar
from photosorter.core.files.steps import StepRow
from photosorter.core.files.xmp import (
    Keywords,
    merge_keywords,
    remove_keywords,
    sidecar_path,
    stale_categories,
)
from photosorter.core.library.cache import Store
from photosorter.core.userfiles import NotRegularFileError, regular_size

Status = Literal["ok", "skipped-identical", "error"]  # skipped: already done (copy or keywords)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class _Cancel(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    source: Path
    category: str
    status: Status
    dest: Path | None = None
    keywords: tuple[str, ...] = ()
    message: str = ""
    # (was, now) of files that travelled along; tag: (RAW, its sidecar) of a RAW+JPEG pair
    companions: tuple[tuple[Path, Path], ...] = ()
    sidecar: Path | None = None  # tag: the sidecar written


@dataclass
class OpReport:
    op_id: int
    action: Action
    outcomes: list[Outcome] = field(default_factory=list)
    cancelled: bool = False

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]


# -- applying ----------------------------------------------------------------------------
def apply_plan(
    plan: Plan,
    store: Store,
    *,
    cancel: _Cancel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OpReport:
    """Carry out a plan; per-file failures are in the report, the rest is undoable."""
    journal = Journal(store)
    op = journal.begin(plan.action)
    report = OpReport(op, plan.action)
    made: set[Path] = set()
    try:
        for i, step in enumerate(plan.steps):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            try:
                if plan.action == "tag":
                    outcome = _apply_tag(journal, op, step)
                elif plan.action == "trash":
                    outcome = _apply_trash(journal, op, step)
                else:
                    outcome = _apply_transfer(journal, op, step, plan.action, made)
            except (PhotoSorterError, OSError) as exc:  # OSError: e.g. the lock folder
                why = _failure_message(exc, step)
                outcome = Outcome(step.source, step.category, "error", message=why)
            report.outcomes.append(outcome)
            if progress is not None:
                progress(i + 1, len(plan.steps))
        journal.end(op)
    finally:
        journal.release(op)
    return report


def _failure_message(exc: PhotoSorterError | OSError, step: Step) -> str:
    """A failure in plain words; a full disk is named (the OS names no file for ENOSPC)."""
    text = safeio.explain(exc, step.source) if isinstance(exc, OSError) else str(exc)
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__
    if isinstance(cause, OSError) and cause.errno in _DISK_FULL:
        folder = step.destination.parent if step.destination else step.source.parent
        return f"no room left in {folder}: {text}"
    return text


def _apply_transfer(journal: Journal, op: int, step: Step, kind: str, made: set[Path]) -> Outcome:
    """Move or copy one photo with its companions, claimed against other processes."""
    with claims.claim([step.source, *(c for c, _ in step.companions)]):
        return _transfer_claimed(journal, op, step, kind, made)


def _transfer_claimed(journal: Journal, op: int, step: Step, kind: str, made: set[Path]) -> Outcome:
    assert step.destination is not None
    folder = step.destination.parent
    members = _present_members(step)
    _ensure_folder(journal, op, folder, made)
    stem = step.source.stem
    for _attempt in range(20):
        new_stem, identical = _choose_stem(folder, stem, members, kind == "copy")
        if identical is not None:
            return Outcome(step.source, step.category, "skipped-identical", identical,
                           message=f"an identical file is already at {identical}")  # fmt: skip
        targets = [folder / (new_stem + m.name[len(stem) :]) for m in members]
        try:
            _transfer_group(journal, op, members, targets, kind)
        except FileExistsError:
            continue  # the name was taken meanwhile: pick the next one
        break
    else:
        raise FileOpError(f"no free name for {step.source.name} in {folder}")
    if kind == "move":
        for src, dst in zip(members, targets, strict=True):
            journal.store.rename_file(str(src), str(dst))
    pairs = tuple(zip(members[1:], targets[1:], strict=True))
    return Outcome(step.source, step.category, "ok", targets[0], companions=pairs)


def _apply_trash(journal: Journal, op: int, step: Step) -> Outcome:
    """Send one photo to the system trash, claimed against other processes."""
    with claims.claim([step.source]):
        _present_members(replace(step, companions=()))
        trash.send_to_trash(journal, op, step.source)
    return Outcome(step.source, step.category, "ok")


def _present_members(step: Step) -> list[Path]:
    """The photo and those of its companions still there, each checked to be a regular file.

    A companion that is a symbolic link, a FIFO or a device is never followed, opened or
    moved: the whole group (the photo included) stays where it is, and the error names it.
    """
    try:
        regular_size(step.source)
    except FileNotFoundError:
        raise FileOpError(
            f"the photo vanished before it could be handled (moved or deleted): {step.source}"
        ) from None
    except NotRegularFileError as exc:
        raise FileOpError(f"{safeio.explain(exc)}; left as it is") from exc
    members = [step.source]
    for companion, _ in step.companions:
        if os.path.islink(companion):
            raise FileOpError(f"{companion} is a symbolic link; left as it is, with its photo")
        try:
            regular_size(companion)
        except FileNotFoundError:
            continue
        except NotRegularFileError as exc:
            raise FileOpError(f"{safeio.explain(exc)}; left as it is, with its photo") from exc
        members.append(companion)
    return members


def _choose_stem(
    folder: Path, stem: str, members: list[Path], skip_identical: bool
) -> tuple[str, Path | None]:
    """The first free `stem (n)`; for copies, an identical existing photo ends the search."""
    n = 0
    size = os.stat(members[0]).st_size if skip_identical else -1
    digest: str | None = None
    while True:
        candidate = stem if n == 0 else f"{stem} ({n})"
        names = [folder / (candidate + m.name[len(stem) :]) for m in members]
        if not any(os.path.lexists(p) for p in names):
            return candidate, None
        main = names[0]
        if skip_identical and os.path.isfile(main) and os.stat(main).st_size == size:
            digest = digest or safeio.file_hash(members[0])
            if safeio.file_hash(main) == digest:
                return candidate, main
        n += 1


def _transfer_group(
    journal: Journal, op: int, members: list[Path], targets: list[Path], kind: str
) -> None:
    """Move/copy a photo and its companions together: all of them, or none."""
    rows = [journal.add(op, kind, members[0], targets[0])]
    rows += [
        journal.add(op, kind, s, d, main=rows[0].id)
        for s, d in zip(members[1:], targets[1:], strict=True)
    ]
    done: list[StepRow] = []
    try:
        for row in rows:
            safeio.transfer(journal, row)
            done.append(row)
    except (FileOpError, FileExistsError) as exc:
        for row in rows[len(done) + 1 :]:
            journal.update(row, "failed", message="not started")
        problems = _revert_rows(journal, op, list(reversed(done)))
        if isinstance(exc, FileExistsError) and not problems:
            raise
        message = str(exc) if not isinstance(exc, FileExistsError) else "name taken meanwhile"
        if done:
            message = f"{rows[len(done)].source.name}: {message}; the group was left in place"
        if problems:
            message += "; " + "; ".join(problems)
        raise FileOpError(message) from exc


def _revert_rows(journal: Journal, op: int, rows: Iterable[StepRow]) -> list[str]:
    """Undo finished transfers (newest first); returns what could not be undone."""
    problems = []
    for row in rows:
        try:
            if row.kind == "move":
                if os.path.lexists(row.source):
                    raise FileOpError(f"{row.source} is taken by another file")
                back = journal.add(op, "move", row.dest, row.source, undoes=row.id)
                safeio.transfer(journal, back)
            else:
                safeio.delete_copy(journal, op, row.dest, row.hash or "", undoes=row.id)
        except (FileOpError, OSError) as exc:
            problems.append(f"{row.dest} could not be reverted: {exc}")
    return problems


def _ensure_folder(journal: Journal, op: int, folder: Path, made: set[Path]) -> None:
    """Create the destination folder (and missing parents), journalled for undo."""
    if folder in made:
        return
    missing = []
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        row = journal.add(op, "mkdir", path, path)
        try:
            os.mkdir(path)
        except FileExistsError:
            journal.update(row, "failed", message="existed")
        except OSError as exc:
            journal.update(row, "failed", message=safeio.explain(exc))
            raise FileOpError(f"cannot create folder {path}: {safeio.explain(exc)}") from exc
        else:
            journal.update(row, "done")
    made.add(folder)


def _apply_tag(journal: Journal, op: int, step: Step) -> Outcome:
    """Tag one photo and its RAW companions, each in its own sidecar (`IMG_1.CR2.xmp`, as
    darktable and digiKam read it), claimed against other processes."""
    raws = [raw for raw, _ in step.companions]
    with claims.claim([step.source, *raws]):
        outcome, row = _tag_claimed(journal, op, step)
        main = row.id if row is not None else None  # the RAW's sidecar travels with it
        tagged = [_tag_claimed(journal, op, replace(step, source=raw), main)[0] for raw in raws]
    if not tagged:
        return outcome
    status: Status = "ok" if "ok" in {o.status for o in (outcome, *tagged)} else outcome.status
    pairs = tuple((o.source, o.sidecar) for o in tagged if o.sidecar is not None)
    return replace(outcome, status=status, companions=pairs)


def _tag_claimed(
    journal: Journal, op: int, step: Step, main: int | None = None
) -> tuple[Outcome, StepRow | None]:
    """Tag one file; the sidecar step written, if any (`main`: the step it travels with)."""
    sidecar = sidecar_path(step.source)
    if not os.path.lexists(step.source):
        raise FileOpError(f"the photo vanished before it could be tagged: {step.source}")
    old = read_sidecar(sidecar)
    removed = Keywords()
    try:
        current = old
        if old is not None:  # re-tagged: PhotoSorter's earlier category gives way
            stale = stale_categories(old, keep=step.category)
            ours = journal.keywords_added(sidecar)  # a flat keyword may be the user's own
            stale = replace(stale, subject=tuple(k for k in stale.subject if k in ours))
            if stale:
                current, removed = remove_keywords(old, stale)
        new, added = merge_keywords(current, Keywords.for_category(step.category))
    except PhotoSorterError as exc:
        raise FileOpError(f"{sidecar}: {exc}; left as it is") from None
    if added or removed:
        before = None if old is None else safeio.bytes_hash(old)
        info = {"added": added.to_json(), "removed": removed.to_json()}
        row = safeio.write_sidecar(
            journal, op, step.source, sidecar, new, before, info=info, main=main
        )
        message = f"replaces {', '.join(removed.subject)}" if removed.subject else ""
        status: Status = "ok"
    else:
        row, message, status = None, "keywords already present", "skipped-identical"
    outcome = Outcome(step.source, step.category, status, keywords=step.keywords,
                      message=message, sidecar=sidecar)  # fmt: skip
    return outcome, row
