"""safeio and claims: edge cases of single-file steps (FIFO cases: test_safeio_processes.py).

Each scenario ends with the invariant of test_fileops where it applies: every original
photo exists exactly once (by content hash) under a visible name.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photosorter.core import userfiles
from photosorter.core.files import claims, safeio
from photosorter.core.files.fileops import (
    apply_plan,
    plan_operation,
    recover_interrupted,
    undo_last,
)
from photosorter.core.library.cache import Store
from tests.conftest import REPO
from tests.core.files import test_fileops as base
from tests.core.files.test_fileops import Crash, exactly_once, photo
from tests.core.files.test_fileops_faults import _fake_exdev

store = base.store  # fixtures shared with test_fileops


# -- claims (item: two processes never act on the same file) --------------------------------
def test_a_photo_claimed_by_another_process_is_left_to_it(tmp_path: Path, store: Store) -> None:
    src = tmp_path / "in" / "a.jpg"
    data = photo(src)
    with claims.claim([src]):  # another open file description: as another process would
        report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    assert report.outcomes[0].status == "error"
    assert "another PhotoSorter process" in report.outcomes[0].message
    assert src.read_bytes() == data
    again = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    assert again.outcomes[0].status == "ok"  # released with the block


def test_a_claim_dies_with_its_process(tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    photo(src)
    code = (
        "import sys\nfrom photosorter.core.files import claims\n"
        f"with claims.claim([{str(src)!r}]):\n print('held', flush=True)\n sys.stdin.read()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout.readline() == "held\n"
            with pytest.raises(claims.ClaimedError), claims.claim([src]):
                pass
        finally:
            holder.kill()  # SIGKILL: no clean-up runs in the holder
            holder.wait()
    with claims.claim([src]):
        pass
    assert list(claims.lock_dir().iterdir()) == []  # a released claim leaves no lock file


def test_a_source_moved_away_mid_copy_leaves_no_duplicate(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_exdev(monkeypatch)
    src = tmp_path / "in" / "a.jpg"
    files = {src: photo(src)}
    elsewhere = tmp_path / "other program" / "a.jpg"
    elsewhere.parent.mkdir()
    real_rename = safeio._rename

    def rename(s: Path, d: Path) -> None:
        real_rename(s, d)
        if Path(s).name.endswith(".photosorter-tmp"):  # our verified copy is in place, and
            os.rename(src, elsewhere)  # another program moves the photo away just now

    monkeypatch.setattr(safeio, "_rename", rename)
    report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    outcome = report.outcomes[0]
    assert outcome.status == "error" and "moved away by another program" in outcome.message
    assert list((tmp_path / "D" / "X").iterdir()) == []  # our copy was removed again
    exactly_once(files, tmp_path)


# -- crash recovery never deletes an edited original -----------------------------------------
def test_recovery_keeps_an_original_edited_after_the_copy(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_exdev(monkeypatch)
    src = tmp_path / "in" / "a.jpg"
    original = photo(src)

    def unlink(path: Path) -> None:
        if Path(path) == src:
            raise Crash  # dies between the verified copy and removing the source
        os.unlink(path)

    monkeypatch.setattr(safeio, "_unlink", unlink)
    with pytest.raises(Crash):
        apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    monkeypatch.setattr(safeio, "_unlink", os.unlink)
    src.write_bytes(b"\xff\xd8 edited by the user before the next start")
    with Store(store.path) as fresh:
        lines = recover_interrupted(fresh)
    assert any("kept both" in line and str(src) in line for line in lines), lines
    assert src.read_bytes() == b"\xff\xd8 edited by the user before the next start"
    assert (tmp_path / "D" / "X" / "a.jpg").read_bytes() == original


# -- no-replace rename without renameat2 and without hard links (FAT, exFAT, SMB) ------------
def _no_noreplace_no_links(monkeypatch: pytest.MonkeyPatch) -> None:
    def noreplace(a: bytes, b: bytes) -> int:
        ctypes.set_errno(errno.EINVAL)
        return -1

    def link(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(safeio, "_NOREPLACE", noreplace)
    monkeypatch.setattr(os, "link", link)


def _intruder_at_rename(monkeypatch: pytest.MonkeyPatch, content: bytes) -> list[Path]:
    """Right before each rename, another program creates the destination (exclusively)."""
    real = os.rename
    created: list[Path] = []

    def rename(src, dst) -> None:
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            pass  # the name was already claimed: the other program picks another
        else:
            os.write(fd, content)
            os.close(fd)
            created.append(Path(dst))
        real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    return created


@pytest.mark.skipif(os.name == "nt", reason="Windows renames never replace")
def test_rename_without_noreplace_or_links_never_replaces(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_noreplace_no_links(monkeypatch)
    src = tmp_path / "in" / "a.jpg"
    files = {src: photo(src)}
    created = _intruder_at_rename(monkeypatch, b"the other program's file")
    report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    for path in created:  # nothing it made was replaced
        assert path.read_bytes() == b"the other program's file"
    assert report.outcomes[0].status == "ok"
    assert report.outcomes[0].dest.read_bytes() == files[src]
    exactly_once(files, tmp_path / "in", tmp_path / "D")

    # A crash between the placeholder and the rename: recovery removes the empty claim.
    monkeypatch.setattr(os, "rename", lambda s, d: (_ for _ in ()).throw(Crash()))
    other = tmp_path / "in" / "b.jpg"
    files = {other: photo(other)}
    with pytest.raises(Crash):
        apply_plan(plan_operation([(other, "Y")], "move", tmp_path / "D"), store)
    assert (tmp_path / "D" / "Y" / "b.jpg").stat().st_size == 0  # the claim, left by the crash
    with Store(store.path) as fresh:
        assert any("rolled back" in line for line in recover_interrupted(fresh))
    assert list((tmp_path / "D" / "Y").iterdir()) == []
    assert other.read_bytes() == files[other]


@pytest.fixture
def vfat(tmp_path: Path):
    """A real FAT filesystem (loop-mounted image); skipped where it cannot be made."""
    mkfs = shutil.which("mkfs.vfat")
    if mkfs is None or os.name != "posix" or os.geteuid() != 0:
        pytest.skip("needs mkfs.vfat (dosfstools) and root to loop-mount")
    image, mount = tmp_path / "fat.img", tmp_path / "fat"
    with open(image, "wb") as fh:
        fh.truncate(16 << 20)
    mount.mkdir()
    subprocess.run([mkfs, "-F", "32", str(image)], check=True, capture_output=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"mount not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.skipif(os.name == "nt", reason="Windows renames never replace")
def test_rename_on_real_vfat_never_replaces(
    vfat: Path, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    (vfat / "probe").touch()
    with pytest.raises(OSError) as no_link:  # FAT really has no hard links
        os.link(vfat / "probe", vfat / "probe2")
    assert no_link.value.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)
    monkeypatch.setattr(safeio, "_NOREPLACE", None)  # as on a kernel or share without it
    src = tmp_path / "in" / "a.jpg"
    files = {src: photo(src)}
    created = _intruder_at_rename(monkeypatch, b"the other program's file")
    report = apply_plan(plan_operation([(src, "X")], "move", vfat), store)  # EXDEV: a copy
    for path in created:
        assert path.read_bytes() == b"the other program's file"
    assert report.outcomes[0].status == "ok"
    exactly_once(files, tmp_path / "in", vfat / "X")
    assert not undo_last(store).not_reverted
    assert src.read_bytes() == files[src]


# -- long non-ASCII names ---------------------------------------------------------------------
@pytest.mark.parametrize("char", ["é", "写", "😀"])
def test_temp_names_fit_the_filesystem_limit(tmp_path: Path, char: str) -> None:
    limit = os.pathconf(tmp_path, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    name = char * (250 // len(char.encode())) + ".jpg"
    temp = userfiles.temp_name(tmp_path / name)
    raw = os.fsencode(temp.name)
    assert len(raw) <= limit
    raw.decode("utf-8")  # never a cut character
    temp.write_bytes(b"fits")


def test_long_non_ascii_names_tag_and_move_across_filesystems(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in" / ("é" * 120 + ".jpg")  # 244 bytes
    files = {src: photo(src)}
    report = apply_plan(plan_operation([(src, "X")], "tag", None), store)
    assert report.outcomes[0].status == "ok", report.outcomes[0].message
    assert (tmp_path / "in" / (src.name + ".xmp")).is_file()
    _fake_exdev(monkeypatch)
    report = apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    assert report.outcomes[0].status == "ok", report.outcomes[0].message
    assert (tmp_path / "D" / "X" / src.name).read_bytes() == files[src]


# -- symlinked sidecars and companions ---------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_a_symlinked_sidecar_is_left_as_it_is(tmp_path: Path, store: Store) -> None:
    from tests.core.files.test_xmp import USER_SIDECAR

    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo(a)
    photo(b)
    target = tmp_path / "shared.xmp"
    target.write_bytes(USER_SIDECAR)
    link = tmp_path / "a.jpg.xmp"
    link.symlink_to(target.name)
    report = apply_plan(plan_operation([(a, "X"), (b, "X")], "tag", None), store)
    assert [o.status for o in report.outcomes] == ["error", "ok"]
    assert report.outcomes[0].message == f"{link} is a symbolic link; left as it is"
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_bytes() == USER_SIDECAR


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
@pytest.mark.parametrize("action", ["move", "copy"])
def test_a_symlinked_companion_keeps_its_photo_in_place(
    tmp_path: Path, store: Store, action: str
) -> None:
    src = tmp_path / "in" / "a.jpg"
    files = {src: photo(src)}
    (tmp_path / "elsewhere.xmp").write_bytes(b"<x/>")
    link = tmp_path / "in" / "a.jpg.xmp"
    link.symlink_to(tmp_path / "elsewhere.xmp")
    report = apply_plan(plan_operation([(src, "X")], action, tmp_path / "D"), store)
    assert report.outcomes[0].status == "error"
    assert report.outcomes[0].message.startswith(f"{link} is a symbolic link; left as it is")
    assert link.is_symlink() and src.read_bytes() == files[src]
    assert not (tmp_path / "D" / "X").exists() or list((tmp_path / "D" / "X").iterdir()) == []
