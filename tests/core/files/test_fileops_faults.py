"""File operations under injected faults: EXDEV, ENOSPC, EACCES, vanishing files, crashes.

Each scenario ends with the invariant of test_fileops: every original photo exists exactly
once (by content hash) under a visible name, and the report or recovery says what happened.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from photosorter.core.files import safeio
from photosorter.core.files.fileops import (
    apply_plan,
    plan_operation,
    recover_interrupted,
    undo_last,
)
from photosorter.core.library.cache import Store
from tests.core.files import test_fileops as base
from tests.core.files.test_fileops import Crash, exactly_once, photo

store = base.store  # fixtures shared with test_fileops
library = base.library


def _fake_exdev(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path]]:
    real = safeio._rename
    calls: list[tuple[Path, Path]] = []

    def rename(src: Path, dst: Path) -> None:
        calls.append((src, dst))
        if Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(safeio, "_rename", rename)
    return calls


def test_exdev_falls_back_to_a_verified_copy(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = library
    calls = _fake_exdev(monkeypatch)
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    dest = tmp_path / "D"
    report = apply_plan(plan_operation([(p, "X") for p in files], "move", dest), store)
    assert all(o.status == "ok" for o in report.outcomes)
    assert any(".photosorter-tmp" in str(s) for s, _ in calls)  # went through a temp name
    for o in report.outcomes:
        assert o.dest.stat().st_mtime_ns == mtimes[o.source]
    exactly_once(files, tmp_path)
    assert not undo_last(store).not_reverted
    assert all(p.read_bytes() == d for p, d in files.items())


def test_real_move_across_filesystems(tmp_path: Path, store: Store) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) here")
    other = shm / f"photosorter-test-{os.getpid()}"
    other.mkdir()
    try:
        files = {p: photo(p) for p in (tmp_path / "in" / "a.jpg", tmp_path / "in" / "b.jpg")}
        (tmp_path / "in" / "a.jpg.xmp").write_bytes(b"<x/>")
        report = apply_plan(plan_operation([(p, "X") for p in files], "move", other), store)
        assert all(o.status == "ok" for o in report.outcomes)
        assert sorted(p.name for p in (other / "X").iterdir()) == ["a.jpg", "a.jpg.xmp", "b.jpg"]
        exactly_once(files, tmp_path, other)
        assert not undo_last(store).not_reverted
        assert all(p.read_bytes() == d for p, d in files.items())
        assert (tmp_path / "in" / "a.jpg.xmp").read_bytes() == b"<x/>"
        assert not (other / "X").exists()
    finally:
        import shutil

        shutil.rmtree(other, ignore_errors=True)


def test_disk_full_stops_that_file_only(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "photos"
    files = library
    _fake_exdev(monkeypatch)
    real_copy = safeio._copy_file
    victim = src / "b" / "IMG_0001.jpg"

    def copy(s: Path, d: Path) -> str:
        if Path(s) == victim:
            Path(d).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device", str(d))
        return real_copy(s, d)

    monkeypatch.setattr(safeio, "_copy_file", copy)
    report = apply_plan(plan_operation([(p, "X") for p in files], "move", tmp_path / "D"), store)
    bad = [o for o in report.outcomes if o.status == "error"]
    assert [o.source for o in bad] == [victim]
    assert "disk full" in bad[0].message
    assert victim.read_bytes() == files[victim]
    assert sum(o.status == "ok" for o in report.outcomes) == 5
    exactly_once(files, tmp_path)


def test_permission_denied_injected(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "photos"
    files = library
    real = safeio._rename
    victim = src / "c" / "c_only.jpg"

    def rename(s: Path, d: Path) -> None:
        if Path(s) == victim:
            raise PermissionError(errno.EACCES, "Permission denied", str(s))
        real(s, d)

    monkeypatch.setattr(safeio, "_rename", rename)
    report = apply_plan(plan_operation([(p, "X") for p in files], "move", tmp_path / "D"), store)
    bad = [o for o in report.outcomes if o.status == "error"]
    assert [o.source for o in bad] == [victim] and "permission denied" in bad[0].message
    assert victim.read_bytes() == files[victim]
    exactly_once(files, tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_permission_denied_real(tmp_path: Path, store: Store) -> None:
    dest = tmp_path / "D"
    (dest / "X").mkdir(parents=True)
    src = tmp_path / "in" / "a.jpg"
    data = photo(src)
    os.chmod(dest / "X", 0o555)
    try:
        report = apply_plan(plan_operation([(src, "X")], "move", dest), store)
    finally:
        os.chmod(dest / "X", 0o755)
    assert report.outcomes[0].status == "error"
    assert "permission denied" in report.outcomes[0].message
    assert src.read_bytes() == data


def test_permission_denied_real_immutable_folder(tmp_path: Path, store: Store) -> None:
    """As root, chmod blocks nothing; an immutable folder (chattr +i) still refuses."""
    import shutil
    import subprocess

    folder = tmp_path / "D" / "X"
    folder.mkdir(parents=True)
    chattr = shutil.which("chattr")
    if (
        chattr is None
        or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode
    ):
        pytest.skip("chattr +i is not available here")
    src = tmp_path / "in" / "a.jpg"
    data = photo(src)
    try:
        report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)
    assert report.outcomes[0].status == "error"
    assert "permission denied" in report.outcomes[0].message
    assert src.read_bytes() == data
    assert list(folder.iterdir()) == []


def test_source_deleted_mid_run(tmp_path: Path, library, store: Store) -> None:
    files = library
    order = list(files)
    doomed = order[3]

    def progress(done: int, total: int) -> None:
        if done == 2:
            doomed.unlink()

    report = apply_plan(
        plan_operation([(p, "X") for p in order], "move", tmp_path / "D"), store, progress=progress
    )
    bad = [o for o in report.outcomes if o.status == "error"]
    assert [o.source for o in bad] == [doomed] and "vanished" in bad[0].message
    del files[doomed]
    exactly_once(files, tmp_path)


def test_companion_failure_leaves_the_group_in_place(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    files = {p: photo(p) for p in (src / "a.jpg", src / "a.jpg.xmp")}
    real = safeio._rename

    def rename(s: Path, d: Path) -> None:
        if Path(s).name == "a.jpg.xmp":
            raise PermissionError(errno.EACCES, "Permission denied", str(s))
        real(s, d)

    monkeypatch.setattr(safeio, "_rename", rename)
    report = apply_plan(plan_operation([(src / "a.jpg", "X")], "move", tmp_path / "D"), store)
    assert report.outcomes[0].status == "error"
    assert "left in place" in report.outcomes[0].message
    assert all(p.read_bytes() == d for p, d in files.items())
    assert list((tmp_path / "D" / "X").iterdir()) == []


def test_crash_between_copy_and_delete_is_finished(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = library
    _fake_exdev(monkeypatch)
    order = list(files)
    victim = order[2]

    def unlink(path: Path) -> None:
        if Path(path) == victim:
            raise Crash
        os.unlink(path)

    monkeypatch.setattr(safeio, "_unlink", unlink)
    plan = plan_operation([(p, "X") for p in order], "move", tmp_path / "D")
    with pytest.raises(Crash):
        apply_plan(plan, store)
    assert victim.exists()  # both the verified copy and the original exist now
    monkeypatch.setattr(safeio, "_unlink", os.unlink)
    with Store(store.path) as fresh:
        lines = recover_interrupted(fresh)
        assert any("finished moving" in line and str(victim) in line for line in lines)
        exactly_once(files, tmp_path)
        assert recover_interrupted(fresh) == []  # nothing left to do
        undo = undo_last(fresh)  # the recovered part is undoable
        assert len(undo.reverted) == 3 and not undo.not_reverted
    for path in order[:3]:
        assert path.read_bytes() == files[path]


def test_crash_during_copy_is_rolled_back(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = library
    _fake_exdev(monkeypatch)
    victim = list(files)[1]
    real_copy = safeio._copy_file

    def copy(s: Path, d: Path) -> str:
        if Path(s) == victim:
            Path(d).write_bytes(files[victim][:100])
            raise Crash
        return real_copy(s, d)

    monkeypatch.setattr(safeio, "_copy_file", copy)
    with pytest.raises(Crash):
        apply_plan(plan_operation([(p, "X") for p in files], "move", tmp_path / "D"), store)
    assert any(p.name.endswith(".photosorter-tmp") for p in (tmp_path / "D" / "X").iterdir())
    with Store(store.path) as fresh:
        lines = recover_interrupted(fresh)
        assert any("rolled back" in line and str(victim) in line for line in lines)
        exactly_once(files, tmp_path)  # also: no temp file left
        assert victim.read_bytes() == files[victim]


def test_crash_right_after_rename_is_finished(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in" / "a.jpg"
    files = {src: photo(src)}
    real = safeio._rename

    def rename(s: Path, d: Path) -> None:
        real(s, d)
        raise Crash  # dies before the journal says "done"

    monkeypatch.setattr(safeio, "_rename", rename)
    store.remember_files([(str(src), 1, 2, "h")])
    with pytest.raises(Crash):
        apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    monkeypatch.setattr(safeio, "_rename", real)
    with Store(store.path) as fresh:
        assert any("finished moving" in line for line in recover_interrupted(fresh))
        assert fresh.lookup_files([str(tmp_path / "D" / "X" / "a.jpg")])  # identity carried
        exactly_once(files, tmp_path)
        assert not undo_last(fresh).not_reverted
    assert src.read_bytes() == files[src]


def test_crash_before_companion_moves_finishes_the_group(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    files = {p: photo(p) for p in (src / "a.jpg", src / "a.jpg.xmp")}
    real = safeio._rename

    def rename(s: Path, d: Path) -> None:
        if Path(s).name == "a.jpg.xmp":
            raise Crash
        real(s, d)

    monkeypatch.setattr(safeio, "_rename", rename)
    with pytest.raises(Crash):
        apply_plan(plan_operation([(src / "a.jpg", "X")], "move", tmp_path / "D"), store)
    monkeypatch.setattr(safeio, "_rename", real)
    with Store(store.path) as fresh:
        lines = recover_interrupted(fresh)
    assert any("a.jpg.xmp" in line and "finished" in line for line in lines)
    assert sorted(p.name for p in (tmp_path / "D" / "X").iterdir()) == ["a.jpg", "a.jpg.xmp"]
    exactly_once(files, tmp_path)


def test_recovery_leaves_a_live_process_alone(tmp_path: Path, store: Store) -> None:
    store.conn.execute(
        "INSERT INTO file_ops(action, state, pid, started) VALUES ('move', 'running', ?, 0)",
        (os.getppid(),),
    )
    assert recover_interrupted(store) == []
    state = store.conn.execute("SELECT state FROM file_ops").fetchone()[0]
    assert state == "running"


def test_crash_while_writing_a_sidecar_is_rolled_back(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.core.files.test_xmp import USER_SIDECAR

    a = tmp_path / "a.jpg"
    photo(a)
    side = tmp_path / "a.jpg.xmp"
    side.write_bytes(USER_SIDECAR)

    def replace(src: Path, dst: Path) -> None:
        raise Crash

    monkeypatch.setattr(safeio, "_replace", replace)
    with pytest.raises(Crash):
        apply_plan(plan_operation([(a, "X")], "tag", None), store)
    with Store(store.path) as fresh:
        assert any("rolled back writing" in line for line in recover_interrupted(fresh))
    assert side.read_bytes() == USER_SIDECAR
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_interrupted_undo_can_be_resumed(
    tmp_path: Path, library, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = library
    apply_plan(plan_operation([(p, "X") for p in files], "move", tmp_path / "D"), store)
    real = safeio._rename
    calls = []

    def rename(s: Path, d: Path) -> None:
        calls.append(s)
        if len(calls) == 3:
            raise Crash
        real(s, d)

    monkeypatch.setattr(safeio, "_rename", rename)
    with pytest.raises(Crash):
        undo_last(store)
    monkeypatch.setattr(safeio, "_rename", real)
    with Store(store.path) as fresh:
        assert any("rolled back moving" in line for line in recover_interrupted(fresh))
        exactly_once(files, tmp_path)
        undo = undo_last(fresh)  # picks up where the interrupted undo stopped
        assert len(undo.reverted) == 4 and not undo.not_reverted
    assert all(p.read_bytes() == d for p, d in files.items())
