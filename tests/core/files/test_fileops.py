"""Move, copy and tag with undo (faults and crashes: test_fileops_faults.py).

After every scenario the invariant is checked: each original photo exists exactly once
(by content hash) under a name the user can see (no temporary name left anywhere).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest

from photosorter.core.files.fileops import (
    apply_plan,
    plan_operation,
    undo_last,
)
from photosorter.core.library.cache import Store


class Crash(BaseException):
    """Stands in for the process dying at a chosen point."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo(path: Path, tag: str | None = None, size: int = 3000) -> bytes:
    """Write a fake photo with unique content; returns its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = (tag or str(path)).encode()
    data = b"\xff\xd8" + (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    path.write_bytes(data)
    return data


def inventory(*roots: Path) -> Counter[str]:
    """Content hash -> how many visible files hold it; fails on any leftover temp file."""
    found: Counter[str] = Counter()
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                assert not name.endswith(".photosorter-tmp"), f"temp left: {folder}/{name}"
                found[digest((Path(folder) / name).read_bytes())] += 1
    return found


def exactly_once(originals: dict[Path, bytes], *roots: Path) -> None:
    inv = inventory(*roots)
    for path, data in originals.items():
        assert inv[digest(data)] == 1, f"{path}: found {inv[digest(data)]} times"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


@pytest.fixture
def library(tmp_path: Path) -> dict[Path, bytes]:
    """Photos in tmp_path/photos/{a,b,c}, with the same file name in each."""
    src = tmp_path / "photos"
    files: dict[Path, bytes] = {}
    for folder in ("a", "b", "c"):
        for name in ("IMG_0001.jpg", f"{folder}_only.jpg"):
            path = src / folder / name
            files[path] = photo(path)
    return files


def test_plan_reads_only_and_describes(tmp_path: Path, library) -> None:
    src = tmp_path / "photos"
    files = library
    dest = tmp_path / "Sorted"
    items = [(p, "Dogs") for p in files] + [(src / "a" / "x.jpg", None)]
    plan = plan_operation(items, "move", dest)
    assert not dest.exists()
    assert plan.summary() == [(str(dest / "Dogs"), 6)]
    names = sorted(s.destination.name for s in plan.steps)
    assert names.count("IMG_0001.jpg") == 1
    assert {"IMG_0001 (1).jpg", "IMG_0001 (2).jpg"} <= set(names)
    lines = plan.describe()
    assert any("-> " in line and "Dogs" in line for line in lines)
    assert any(line.startswith("stay") and "uncategorized" in line for line in lines)


def test_move_then_undo_restores_every_byte(tmp_path: Path, library, store: Store) -> None:
    files = library
    dest = tmp_path / "Sorted"
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    cats = ["Dogs", "Cats", "Dogs", "../../etc", "a/b", "CON"]
    plan = plan_operation(list(zip(files, cats, strict=True)), "move", dest)
    report = apply_plan(plan, store)
    assert [o.status for o in report.outcomes] == ["ok"] * 6
    for o in report.outcomes:
        assert o.dest is not None and o.dest.parent.parent == dest
        assert o.dest.read_bytes() == files[o.source]
        assert o.dest.stat().st_mtime_ns == mtimes[o.source]
        assert not o.source.exists()
    assert sorted(p.name for p in dest.iterdir()) == ["Cats", "Dogs", "_.._etc", "_CON", "a_b"]
    assert not (tmp_path / "etc").exists()
    exactly_once(files, tmp_path)

    undo = undo_last(store)
    assert undo.op_id == report.op_id and not undo.not_reverted
    assert len(undo.reverted) == 6
    for path, data in files.items():
        assert path.read_bytes() == data
        assert path.stat().st_mtime_ns == mtimes[path]
    assert not dest.exists()  # the folders PhotoSorter made, now empty, are gone
    assert undo_last(store).op_id is None  # nothing left to undo


def test_never_overwrites_an_existing_file(tmp_path: Path, store: Store) -> None:
    dest = tmp_path / "D"
    existing = photo(dest / "Cat" / "x.jpg", "existing")
    src = tmp_path / "in" / "x.jpg"
    mine = photo(src, "mine")
    report = apply_plan(plan_operation([(src, "Cat")], "move", dest), store)
    assert report.outcomes[0].dest == dest / "Cat" / "x (1).jpg"
    assert (dest / "Cat" / "x.jpg").read_bytes() == existing
    assert (dest / "Cat" / "x (1).jpg").read_bytes() == mine


def test_name_taken_between_plan_and_apply(tmp_path: Path, store: Store) -> None:
    dest = tmp_path / "D"
    src = tmp_path / "in" / "x.jpg"
    mine = photo(src, "mine")
    plan = plan_operation([(src, "Cat")], "move", dest)
    intruder = photo(dest / "Cat" / "x.jpg", "intruder")
    report = apply_plan(plan, store)
    assert report.outcomes[0].dest == dest / "Cat" / "x (1).jpg"
    assert (dest / "Cat" / "x.jpg").read_bytes() == intruder
    exactly_once({src: mine}, tmp_path)


def test_copy_keeps_source_skips_identical_and_undo_spares_changed(
    tmp_path: Path, library, store: Store
) -> None:
    files = library
    dest = tmp_path / "Copies"
    items = [(p, "Dogs") for p in files]
    first = apply_plan(plan_operation(items, "copy", dest), store)
    assert all(o.status == "ok" for o in first.outcomes)
    assert all(p.read_bytes() == d for p, d in files.items())
    again = apply_plan(plan_operation(items, "copy", dest), store)
    assert [o.status for o in again.outcomes] == ["skipped-identical"] * 6
    assert all("identical" in o.message for o in again.outcomes)
    assert len(list((dest / "Dogs").iterdir())) == 6
    # The second run changed nothing, so undo skips it and reverts the first copy.
    changed = first.outcomes[0].dest
    changed.write_bytes(b"edited by the user")
    undo = undo_last(store)
    assert undo.op_id == first.op_id
    assert [i.path for i in undo.not_reverted] == [changed]
    assert "changed" in undo.not_reverted[0].message
    assert sorted(p.name for p in (dest / "Dogs").iterdir()) == [changed.name]
    assert all(p.read_bytes() == d for p, d in files.items())


def test_sidecars_and_raw_pair_travel_together(tmp_path: Path, store: Store) -> None:
    src = tmp_path / "in"
    dest = tmp_path / "D"
    files = {
        p: photo(p)
        for p in (
            src / "IMG_7.jpg", src / "IMG_7.CR2", src / "IMG_7.jpg.xmp", src / "IMG_7.CR2.xmp",
            src / "IMG_7.xmp", src / "IMG_7.AAE", src / "other.jpg",
        )
    }  # fmt: skip
    clash = photo(dest / "Beach" / "IMG_7.AAE", "clash")  # forces the whole group to " (1)"
    items = [(src / "IMG_7.jpg", "Beach"), (src / "IMG_7.CR2", "Sunset"), (src / "other.jpg", "B")]
    plan = plan_operation(items, "move", dest)
    assert len(plan.steps) == 2
    assert "RAW pair" in plan.steps[0].note and "Sunset" in plan.steps[0].note
    report = apply_plan(plan, store)
    assert all(o.status == "ok" for o in report.outcomes)
    moved = sorted(p.name for p in (dest / "Beach").iterdir())
    assert moved == sorted(
        ["IMG_7.AAE", "IMG_7 (1).jpg", "IMG_7 (1).CR2", "IMG_7 (1).jpg.xmp",
         "IMG_7 (1).CR2.xmp", "IMG_7 (1).xmp", "IMG_7 (1).AAE"]
    )  # fmt: skip
    assert (dest / "Beach" / "IMG_7.AAE").read_bytes() == clash
    assert sorted(p.name for p in src.iterdir()) == []
    exactly_once(files, tmp_path)
    undo = undo_last(store)
    assert not undo.not_reverted
    assert all(p.read_bytes() == d for p, d in files.items())


def test_the_raw_beside_a_jpeg_travels_with_it_unselected(tmp_path: Path) -> None:
    """A RAW+JPEG pair is one photo (the scanner lists the JPEG only): the RAW and the
    stem's sidecars go where the JPEG goes; a RAW of another stem stays."""
    src = tmp_path / "in"
    for name in ("p.jpg", "p.nef", "p.xmp", "p.aae", "p.jpg.xmp", "p2.nef"):
        photo(src / name)
    for action in ("move", "copy"):
        plan = plan_operation([(src / "p.jpg", "X")], action, tmp_path / "D")
        assert sorted(c.name for c, _ in plan.steps[0].companions) == [
            "p.aae", "p.jpg.xmp", "p.nef", "p.xmp"
        ]  # fmt: skip
        assert "RAW pair travels with p.jpg" in plan.steps[0].note
    plan = plan_operation([(src / "p.jpg", "X")], "tag", None)
    assert plan.steps[0].companions == ((src / "p.nef", None),)


def test_already_in_place_and_uncategorized_stay(tmp_path: Path, store: Store) -> None:
    dest = tmp_path / "D"
    there = dest / "Cat" / "a.jpg"
    photo(there)
    loose = tmp_path / "in" / "b.jpg"
    photo(loose)
    plan = plan_operation([(there, "Cat"), (loose, None), (loose, "Cat")], "move", dest)
    assert plan.steps == []
    assert sorted(why for _, why in plan.left) == [
        f"already in {dest / 'Cat'}",
        "uncategorized: stays where it is",
    ]


def test_cancel_finishes_the_file_in_hand_and_stays_undoable(
    tmp_path: Path, library, store: Store
) -> None:
    files = library

    class Token:
        def __init__(self) -> None:
            self.set = False

        def is_set(self) -> bool:
            return self.set

    token = Token()

    def progress(done: int, total: int) -> None:
        if done == 2:
            token.set = True

    plan = plan_operation([(p, "X") for p in files], "move", tmp_path / "D")
    report = apply_plan(plan, store, cancel=token, progress=progress)
    assert report.cancelled and len(report.outcomes) == 2
    exactly_once(files, tmp_path)
    undo = undo_last(store)
    assert len(undo.reverted) == 2
    assert all(p.read_bytes() == d for p, d in files.items())


def test_undo_reports_what_it_cannot_revert(tmp_path: Path, library, store: Store) -> None:
    files = library
    first, second = list(files)[:2]
    apply_plan(plan_operation([(first, "X"), (second, "X")], "move", tmp_path / "D"), store)
    squatter = photo(first, "squatter")  # a new file took the original place
    undo = undo_last(store)
    assert [i.path.name for i in undo.not_reverted] == [first.name]
    assert "taken" in undo.not_reverted[0].message
    assert first.read_bytes() == squatter and second.read_bytes() == files[second]
    assert (tmp_path / "D" / "X" / first.name).read_bytes() == files[first]


def test_move_carries_the_cache_identity(tmp_path: Path, store: Store) -> None:
    src = tmp_path / "in" / "a.jpg"
    photo(src)
    store.remember_files([(str(src), 3002, 1, "abc")])
    report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    new = str(report.outcomes[0].dest)
    assert store.lookup_files([new, str(src)]) == {new: (3002, 1, "abc")}
    undo_last(store)
    assert store.lookup_files([new, str(src)]) == {str(src): (3002, 1, "abc")}


def test_undo_walks_back_through_history(tmp_path: Path, store: Store) -> None:
    src = tmp_path / "in" / "a.jpg"
    data = photo(src)
    apply_plan(plan_operation([(src, "One")], "move", tmp_path / "D"), store)
    apply_plan(
        plan_operation([(tmp_path / "D" / "One" / "a.jpg", "Two")], "move", tmp_path / "D"), store
    )
    assert (tmp_path / "D" / "Two" / "a.jpg").read_bytes() == data
    assert undo_last(store).action == "move"
    assert (tmp_path / "D" / "One" / "a.jpg").read_bytes() == data
    undo_last(store)
    assert src.read_bytes() == data
    assert undo_last(store).op_id is None


def test_old_operations_are_pruned(tmp_path: Path, store: Store, monkeypatch) -> None:
    from photosorter.core.files import journal

    monkeypatch.setattr(journal, "KEEP_OPERATIONS", 3)
    src = tmp_path / "a.jpg"
    photo(src)
    for i in range(6):
        apply_plan(plan_operation([(src, f"C{i}")], "tag", None), store)
    assert store.conn.execute("SELECT COUNT(*) FROM file_ops").fetchone()[0] == 3
    assert store.conn.execute("SELECT COUNT(*) FROM file_op_steps").fetchone()[0] == 3


# -- tags ----------------------------------------------------------------------------------
def test_tag_writes_sidecars_exiftool_reads(
    tmp_path: Path, store: Store, exiftool_keywords
) -> None:
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photos = {a: photo(a), b: photo(b)}
    report = apply_plan(plan_operation([(a, "Beach"), (b, "../../etc")], "tag", None), store)
    assert [o.keywords for o in report.outcomes] == [("Beach",), ("../../etc",)]
    assert exiftool_keywords(tmp_path / "a.jpg.xmp")["subject"] == ["Beach"]
    assert exiftool_keywords(tmp_path / "b.jpg.xmp")["tags"] == ["PhotoSorter/../../etc"]
    assert all(p.read_bytes() == d for p, d in photos.items())  # photos untouched
    undo = undo_last(store)
    assert not undo.not_reverted
    assert not (tmp_path / "a.jpg.xmp").exists() and not (tmp_path / "b.jpg.xmp").exists()


def test_tag_merges_and_undo_removes_only_ours(
    tmp_path: Path, store: Store, exiftool_keywords
) -> None:
    from tests.core.files.test_xmp import USER_SIDECAR

    a = tmp_path / "a.jpg"
    photo(a)
    side = tmp_path / "a.jpg.xmp"
    side.write_bytes(USER_SIDECAR)
    apply_plan(plan_operation([(a, "holiday")], "tag", None), store)  # "holiday" is the user's
    found = exiftool_keywords(side)
    assert found["subject"] == ["holiday", "grandma"]
    assert found["hierarchical"] == ["PhotoSorter|holiday"] and found["rating"] == ["4"]
    undo = undo_last(store)
    assert not undo.not_reverted
    found = exiftool_keywords(side)
    assert found["subject"] == ["holiday", "grandma"]  # the user's keyword stays
    assert found["hierarchical"] == [] and found["rating"] == ["4"]


def test_retag_replaces_our_earlier_category_and_undo_restores_it(
    tmp_path: Path, store: Store, exiftool_keywords
) -> None:
    from tests.core.files.test_xmp import USER_SIDECAR

    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo(a)
    photo(b)
    (tmp_path / "b.jpg.xmp").write_bytes(USER_SIDECAR)  # the user's own "holiday" keyword
    apply_plan(plan_operation([(a, "Red"), (b, "holiday")], "tag", None), store)
    # The user fixes a mistake by dragging, then writes tags again.
    report = apply_plan(plan_operation([(a, "Blue"), (b, "beach")], "tag", None), store)
    assert report.outcomes[0].message == "replaces Red"
    found = exiftool_keywords(tmp_path / "a.jpg.xmp")
    assert (found["subject"], found["hierarchical"]) == (["Blue"], ["PhotoSorter|Blue"])
    assert found["tags"] == ["PhotoSorter/Blue"]
    found = exiftool_keywords(tmp_path / "b.jpg.xmp")
    assert found["subject"] == ["holiday", "grandma", "beach"]  # the user's stay
    assert found["hierarchical"] == ["PhotoSorter|beach"]
    undo = undo_last(store)
    assert not undo.not_reverted
    found = exiftool_keywords(tmp_path / "a.jpg.xmp")
    assert (found["subject"], found["hierarchical"]) == (["Red"], ["PhotoSorter|Red"])


@pytest.mark.parametrize("name", ["bomb", "malformed"])
def test_bad_sidecar_is_reported_and_left_alone(tmp_path: Path, store: Store, name: str) -> None:
    from tests.core.files.test_xmp import BOMB

    content = BOMB if name == "bomb" else b"<x:xmpmeta><unclosed>"
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo(a)
    photo(b)
    (tmp_path / "a.jpg.xmp").write_bytes(content)
    report = apply_plan(plan_operation([(a, "X"), (b, "X")], "tag", None), store)
    assert [o.status for o in report.outcomes] == ["error", "ok"]
    assert "left as it is" in report.outcomes[0].message
    assert (tmp_path / "a.jpg.xmp").read_bytes() == content
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_tag_and_undo_a_sidecar_with_clashing_prefixes(
    tmp_path: Path, store: Store, exiftool_keywords
) -> None:
    from tests.core.files.test_xmp import CLASHING_SIDECAR, exiftool_xmp

    a = tmp_path / "a.jpg"
    photo(a)
    side = tmp_path / "a.jpg.xmp"
    side.write_bytes(CLASHING_SIDECAR)
    before = exiftool_xmp(side)
    report = apply_plan(plan_operation([(a, "Beach")], "tag", None), store)
    assert [o.status for o in report.outcomes] == ["ok"]
    assert exiftool_keywords(side)["subject"] == ["Beach"]
    undo = undo_last(store)
    assert undo.not_reverted == [] and len(undo.reverted) == 1
    assert exiftool_xmp(side) == before


def test_undo_that_is_blocked_can_be_retried(tmp_path: Path, library, store: Store) -> None:
    files = library
    first, second, third = [p for p in files if "only" in p.name]  # distinct names
    plan = plan_operation([(p, "X") for p in (first, second, third)], "move", tmp_path / "D")
    op = apply_plan(plan, store).op_id
    photo(second, "squatter")  # the original place is taken: a retry may work
    (tmp_path / "D" / "X" / third.name).unlink()  # the user deleted it: can never come back
    undo = undo_last(store)
    assert [i.path.name for i in undo.reverted] == [first.name]
    retry = {i.path.name: i.retry for i in undo.not_reverted}
    assert retry == {second.name: True, third.name: False}
    again = undo_last(store)  # nothing fixed yet: only what may still work is tried
    assert (again.op_id, [i.path.name for i in again.not_reverted]) == (op, [second.name])
    second.unlink()
    fixed = undo_last(store)
    assert (fixed.op_id, [i.path.name for i in fixed.reverted]) == (op, [second.name])
    assert second.read_bytes() == files[second] and first.read_bytes() == files[first]
    assert undo_last(store).op_id is None


def test_undo_of_copies_retries_a_blocked_one_but_not_a_changed_one(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from photosorter.core.files import safeio

    first, second, third = [p for p in library if "only" in p.name]
    plan = plan_operation([(p, "X") for p in (first, second, third)], "copy", tmp_path / "D")
    op = apply_plan(plan, store).op_id
    copies = [tmp_path / "D" / "X" / p.name for p in (first, second, third)]
    copies[1].write_bytes(b"edited by the user")  # the user's now: kept, and never retried
    real_unlink = safeio._unlink

    def unlink(path: Path) -> None:
        if Path(path) == copies[2]:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_unlink(path)

    monkeypatch.setattr(safeio, "_unlink", unlink)
    undo = undo_last(store)
    assert [i.path for i in undo.reverted] == [copies[0]]
    assert {i.path: i.retry for i in undo.not_reverted} == {copies[2]: True, copies[1]: False}
    assert "changed" in next(i.message for i in undo.not_reverted if i.path == copies[1])
    monkeypatch.setattr(safeio, "_unlink", real_unlink)
    again = undo_last(store)
    assert (again.op_id, [i.path for i in again.reverted], again.not_reverted) == (
        op, [copies[2]], []
    )  # fmt: skip
    assert [p for p in copies if p.exists()] == [copies[1]]
    assert copies[1].read_bytes() == b"edited by the user"
    assert undo_last(store).op_id is None


def test_category_folder_key_is_used_and_kept_inside_dest(
    tmp_path: Path, library, store: Store
) -> None:
    from photosorter.core.categories import parse_categories

    cats = parse_categories(
        '[[category]]\nname = "Receipts"\nfolder = "Paperwork"\n'
        '[[category]]\nname = "Up"\nfolder = "../../x"\n'
        '[[category]]\nname = "Abs"\nfolder = "/etc"\n'
        '[[category]]\nname = "Plain"\n'
    )
    files = [p for p in library if "only" in p.name] + [next(iter(library))]
    dest = tmp_path / "Sorted"
    items = list(zip(files, ["Receipts", "Up", "Abs", "Plain"], strict=True))
    plan = plan_operation(items, "move", dest, cats.folders)
    folders = [dest / "Paperwork", dest / "_.._x", dest / "_etc", dest / "Plain"]
    assert [s.destination.parent for s in plan.steps] == folders
    report = apply_plan(plan, store)
    assert [o.dest.parent for o in report.outcomes] == folders
    assert all((f / p.name).read_bytes() == library[p] for f, p in zip(folders, files, strict=True))
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {"Sorted", "photos"}


@pytest.mark.parametrize("action", ["copy", "tag"])
def test_disk_full_names_the_folder_that_is_full(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """write() fails with ENOSPC naming no file: the message must say where."""
    import errno

    from photosorter.core.files import safeio

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safeio, "_copy_file" if action == "copy" else "_fsync", full)
    src = tmp_path / "in" / "a.jpg"
    photo(src)
    dest = tmp_path / "D" if action == "copy" else None
    report = apply_plan(plan_operation([(src, "Red")], action, dest), store)
    folder = tmp_path / "D" / "Red" if action == "copy" else src.parent
    assert report.outcomes[0].status == "error"
    assert f"no room left in {folder}: disk full" in report.outcomes[0].message
