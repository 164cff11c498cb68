"""Plans for file operations: what moving, copying, tagging or trashing photos would do.

A `Plan` is computed from (photo, category) pairs by reading the disk only (listdir); it
can be printed or shown for confirmation before `fileops.apply_plan` carries it out.
Nothing is ever overwritten: a name clash becomes `name (1).jpg`; sidecars
(`photo.jpg.xmp`, `photo.xmp`, `photo.aae`) travel with their photo, and a RAW travels
with its same-stem JPEG (a RAW+JPEG pair is one photo), and is tagged with it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from photosorter.core.categories import UNCATEGORIZED, sanitize_folder_name
from photosorter.core.errors import ConfigError, FileOpError
from photosorter.core.library.formats import RAW_EXTENSIONS, raw_companions

Action = Literal["move", "copy", "tag", "trash"]
ACTIONS: tuple[str, ...] = ("move", "copy", "tag")  # by category (trash: `plan_trash`)
STEM_SIDECARS = (".xmp", ".aae")  # photo.xmp (Lightroom, RAW), photo.aae (Apple edits)


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
            extra = [c.name for c, _ in s.companions]
            more = f"  (with {', '.join(extra)})" if extra else ""
            if self.action == "tag":
                lines.append(f"tag  {s.source} +keywords {', '.join(s.keywords)}{more}")
                continue
            if self.action == "trash":
                lines.append(f"trash  {s.source}")
                continue
            lines.append(f"{self.action}  {s.source} -> {s.destination}{more}")
            if s.note:
                lines.append(f"      {s.note}")
        lines.extend(f"stay  {path}  ({why})" for path, why in self.left)
        return lines


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
    listings = _Listings()
    groups = _pair_raws(chosen, listings)
    if action == "tag":  # a RAW gets its own sidecar beside the JPEG's
        plan.steps = [
            Step(p, chosen[p], keywords=(chosen[p],), companions=tuple((r, None) for r in raws))
            for p, raws in groups.items()
        ]
        return plan
    assert root is not None
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
            others = {chosen[r] for r in raws if r in chosen} - {category}
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


def _pair_raws(chosen: dict[Path, str], listings: _Listings) -> dict[Path, list[Path]]:
    """Primary photo -> the RAW files with the same folder and stem that go with it: those
    selected too, and those on disk beside it."""
    by_stem: dict[tuple[Path, str], list[Path]] = {}
    for path in chosen:
        by_stem.setdefault((path.parent, path.stem), []).append(path)
    groups: dict[Path, list[Path]] = {}
    for paths in by_stem.values():
        raws = [p for p in paths if p.suffix.lower() in RAW_EXTENSIONS]
        others = [p for p in paths if p.suffix.lower() not in RAW_EXTENSIONS]
        if others:
            primary = others[0]
            found = raw_companions(primary, listings.with_stem(primary.parent, primary.stem))
            groups[primary] = list(dict.fromkeys([*raws, *(primary.parent / n for n in found)]))
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
