"""Move, copy or tag photos by category, or trash them: plan first, then apply, undo, recover.

A `Plan` is computed from (photo, category) pairs by reading the disk only (listdir); it
can be printed or shown for confirmation, then `apply_plan` carries it out through the
journalled operations in `safeio.py` (undo and crash recovery live in `journal.py`).
Nothing is ever overwritten: a name clash becomes `name (1).jpg`; sidecars
(`photo.jpg.xmp`, `photo.xmp`, `photo.aae`) travel with their photo, and a selected RAW
travels with its same-stem JPEG.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from photosorter.core.categories import UNCATEGORIZED, sanitize_folder_name
from photosorter.core.errors import ConfigError, FileOpError, PhotoSorterError
from photosorter.core.files import claims, safeio, trash
from photosorter.core.files.journal import (  # noqa: F401 - undo/recovery are part of this API
    Journal,
    UndoItem,
    UndoReport,
    recover_interrupted,
    undo_last,
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

Action = Literal["move", "copy", "tag", "trash"]
ACTIONS: tuple[str, ...] = ("move", "copy", "tag")  # by category (trash: `plan_trash`)
Status = Literal["ok", "skipped-identical", "error"]  # skipped: already done (copy or keywords)

RAW_EXTENSIONS = frozenset(
    {".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
     ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf",
     ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f"}
)  # fmt: skip
STEM_SIDECARS = (".xmp", ".aae")  # photo.xmp (Lightroom, RAW), photo.aae (Apple edits)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class _Cancel(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Step:
    """One photo: where it goes (move/copy) or which keywords it gets (tag)."""

    source: Path
    category: str
    destination: Path | None = None
    keywords: tuple[str, ...] = ()
    companions: tuple[tuple[Path, Path | None], ...] = ()  # (source, destination)
    note: str = ""


@dataclass
class Plan:
    action: Action
    dest_root: Path | None
    steps: list[Step] = field(default_factory=list)
    left: list[tuple[Path, str]] = field(default_factory=list)  # not acted on, and why

    def summary(self) -> list[tuple[str, int]]:
        """(destination folder, or category for tags, number of photos), for a dialog."""
        counts = Counter(
            str(s.destination.parent) if s.destination else s.category for s in self.steps
        )
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def describe(self) -> list[str]:
        """Printable lines, one per photo (what --dry-run shows)."""
        lines = []
        for s in self.steps:
            if self.action == "tag":
                lines.append(f"tag  {s.source} +keywords {', '.join(s.keywords)}")
                continue
            if self.action == "trash":
                lines.append(f"trash  {s.source}")
                continue
            extra = [c.name for c, _ in s.companions]
            more = f"  (with {', '.join(extra)})" if extra else ""
            lines.append(f"{self.action}  {s.source} -> {s.destination}{more}")
            if s.note:
                lines.append(f"      {s.note}")
        lines.extend(f"stay  {path}  ({why})" for path, why in self.left)
        return lines


@dataclass(frozen=True)
class Outcome:
    source: Path
    category: str
    status: Status
    dest: Path | None = None
    keywords: tuple[str, ...] = ()
    message: str = ""
    companions: tuple[tuple[Path, Path], ...] = ()  # (was, now) of files that travelled along
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


# -- planning ------------------------------------------------------------------------------
def plan_operation(
    items: Sequence[tuple[Path, str | None]],
    action: Action,
    dest_root: Path | None,
    folders: Mapping[str, str] | None = None,
) -> Plan:
    """What `action` would do to these (photo, category name) pairs; reads the disk only.

    `folders` maps a category name to its folder name (`CategorySet.folders`); either is
    sanitised into one folder directly inside `dest_root`.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action != "tag" and dest_root is None:
        raise ConfigError("choose a destination folder for move or copy")
    root = Path(os.path.abspath(dest_root)) if dest_root is not None else None
    plan = Plan(action, root)
    chosen: dict[Path, str] = {}
    seen: set[Path] = set()
    for path, category in items:
        source = Path(os.path.abspath(path))
        if source in seen:
            continue
        seen.add(source)
        if not category or category == UNCATEGORIZED:
            plan.left.append((source, "uncategorized: stays where it is"))
        else:
            chosen[source] = category
    if action == "tag":
        plan.steps = [Step(p, c, keywords=(c,)) for p, c in chosen.items()]
        return plan
    assert root is not None
    listings = _Listings()
    groups = _pair_raws(chosen)
    claimed: dict[Path, set[str]] = {}
    stems = Counter((p.parent, p.stem) for p in groups)
    for primary, raws in groups.items():
        category = chosen[primary]
        folder = root / sanitize_folder_name((folders or {}).get(category, category))
        if folder.parent != root or folder.name in ("", ".", ".."):  # never outside dest_root
            raise FileOpError(f"category {category!r} maps outside {root}")
        if primary.parent == folder:
            plan.left.append((primary, f"already in {folder}"))
            continue
        members = [primary, *raws]
        members += _sidecars(primary, raws, listings, action, stems[(primary.parent, primary.stem)])
        taken = claimed.setdefault(folder, set())
        stem = primary.stem
        new_stem = _free_stem(folder, stem, members, listings, taken)
        targets = [folder / (new_stem + m.name[len(stem) :]) for m in members]
        taken.update(t.name.casefold() for t in targets)
        note = ""
        if raws:
            others = {chosen[r] for r in raws} - {category}
            note = f"RAW pair travels with {primary.name}" + (
                f" (its own category was {', '.join(sorted(others))})" if others else ""
            )
        companions = tuple(zip(members[1:], targets[1:], strict=True))
        plan.steps.append(Step(primary, category, targets[0], (category,), companions, note))
    return plan


def plan_trash(paths: Sequence[Path]) -> Plan:
    """Send these photos to the system trash (duplicates beside the one kept); those no
    longer there are left out."""
    plan = Plan("trash", None)
    for path in dict.fromkeys(Path(os.path.abspath(p)) for p in paths):
        if os.path.lexists(path):
            plan.steps.append(Step(path, ""))
        else:
            plan.left.append((path, "no longer there"))
    return plan


class _Listings:
    """Folder -> names in it, listed once and indexed; a missing folder is empty."""

    def __init__(self) -> None:
        self._folded: dict[Path, set[str]] = {}
        self._by_stem: dict[Path, dict[str, list[str]]] = {}

    def _load(self, folder: Path) -> None:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        self._folded[folder] = {n.casefold() for n in names}
        index: dict[str, list[str]] = {}
        for name in names:
            index.setdefault(os.path.splitext(name)[0], []).append(name)
        self._by_stem[folder] = index

    def has(self, folder: Path, name: str) -> bool:
        if folder not in self._folded:
            self._load(folder)
        return name.casefold() in self._folded[folder]

    def with_stem(self, folder: Path, stem: str) -> list[str]:
        """Names in `folder` that are `stem` plus one extension."""
        if folder not in self._by_stem:
            self._load(folder)
        return self._by_stem[folder].get(stem, [])


def _pair_raws(chosen: dict[Path, str]) -> dict[Path, list[Path]]:
    """Primary photo -> selected RAW files with the same folder and stem that go with it."""
    by_stem: dict[tuple[Path, str], list[Path]] = {}
    for path in chosen:
        by_stem.setdefault((path.parent, path.stem), []).append(path)
    groups: dict[Path, list[Path]] = {}
    for paths in by_stem.values():
        raws = [p for p in paths if p.suffix.lower() in RAW_EXTENSIONS]
        others = [p for p in paths if p.suffix.lower() not in RAW_EXTENSIONS]
        if raws and others:
            groups[others[0]] = raws
            groups.update((p, []) for p in others[1:])
        else:
            groups.update((p, []) for p in paths)
    order = {p: i for i, p in enumerate(chosen)}
    return dict(sorted(groups.items(), key=lambda kv: order[kv[0]]))


def _sidecars(
    primary: Path, raws: list[Path], listings: _Listings, action: str, same_stem_steps: int
) -> list[Path]:
    """Sidecar files beside the photo(s) that must travel with them."""
    folder, stem = primary.parent, primary.stem
    found: list[Path] = []
    for member in (primary, *raws):  # photo.jpg.xmp
        found += [
            folder / n
            for n in listings.with_stem(folder, member.name)
            if n[len(member.name) :].lower() == ".xmp"
        ]
    if same_stem_steps == 1:  # photo.xmp, photo.aae: only when one photo claims the stem
        names = listings.with_stem(folder, stem)
        members = {m.name for m in (primary, *raws)}
        raw_left = any(
            os.path.splitext(n)[1].lower() in RAW_EXTENSIONS and n not in members for n in names
        )
        for n in names:
            ext = n[len(stem) :].lower()
            if ext in STEM_SIDECARS and not (ext == ".xmp" and raw_left and action == "move"):
                found.append(folder / n)  # (photo.xmp of a RAW that stays, stays with it)
    return list(dict.fromkeys(found))


def _free_stem(
    folder: Path, stem: str, members: list[Path], listings: _Listings, taken: set[str]
) -> str:
    n = 0
    while True:
        candidate = stem if n == 0 else f"{stem} ({n})"
        names = [candidate + m.name[len(stem) :] for m in members]
        if not any(listings.has(folder, x) or x.casefold() in taken for x in names):
            return candidate
        n += 1


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
    """Tag one photo, claimed against other processes (its sidecar is left alone if odd)."""
    with claims.claim([step.source]):
        return _tag_claimed(journal, op, step)


def _tag_claimed(journal: Journal, op: int, step: Step) -> Outcome:
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
        safeio.write_sidecar(journal, op, step.source, sidecar, new, before, info=info)
        message = f"replaces {', '.join(removed.subject)}" if removed.subject else ""
        status: Status = "ok"
    else:
        message, status = "keywords already present", "skipped-identical"
    return Outcome(step.source, step.category, status, keywords=step.keywords, message=message,
                   sidecar=sidecar)  # fmt: skip
