"""Two real PhotoSorter processes over the same photos: each file is acted on by one of them.

The processes run the real `photosorter sort --action move` code path; only the classifier
is stood in for (every photo goes to one category), so that the test spends its time on
the file operations and both processes can be released at the same moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO

SORT_WHEN_TOLD = """
import sys
from photosorter import cli
from photosorter.cli import sort as cli_sort
from photosorter.core.library.pipeline import Classified
from photosorter.core.library.scanner import scan

def classify_paths(args, store, out, err, stream=True):
    found = [Classified(p, "key", "Photos", 0.9) for p in scan(args.paths)]
    print("ready", flush=True)
    sys.stdin.readline()  # the test says "go" to both processes at once
    return found

cli_sort.classify_paths = classify_paths
sys.exit(cli.main(sys.argv[1:]))
"""


def _other_filesystem(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) here")
    return shm / f"photosorter-test-{os.getpid()}-{tmp_path.name}"


def _contents(*roots: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                found[hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()] += 1
    return found


@pytest.mark.parametrize("stores", ["one store", "two stores"])
def test_two_processes_moving_across_filesystems_never_duplicate(
    tmp_path: Path, stores: str
) -> None:
    other = _other_filesystem(tmp_path)
    folder = tmp_path / "IN"
    for i in range(150):
        path = folder / f"sub{i % 3}" / f"photo {i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8" + hashlib.sha256(b"%d" % i).digest() * 2048)  # 64 KiB
    before = _contents(folder)
    cats = tmp_path / "cats.toml"
    cats.write_text('[[category]]\nname = "Photos"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["sort", str(folder), "--categories", str(cats), "--action", "move", "--json"]
    args += ["--dest", str(other)]
    procs = []
    try:
        for i in range(2):
            store = tmp_path / ("store.sqlite3" if stores == "one store" else f"s{i}.sqlite3")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", SORT_WHEN_TOLD, *args, "--cache", str(store)],
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            assert p.stdout.readline() == "ready\n", p.communicate(timeout=60)[1]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=60)[0] for p in procs]
        after = _contents(folder, other)
    finally:
        for p in procs:
            p.kill()
            p.communicate()  # reaps it and closes its pipes
        shutil.rmtree(other, ignore_errors=True)
    twice = {h: n for h, n in after.items() if n != 1}
    assert not twice, f"{len(twice)} photos found more than once"
    assert after == before
    moved: Counter[str] = Counter()
    for out in outputs:
        for record in map(json.loads, out.splitlines()):
            if record["status"] == "ok":
                moved[record["path"]] += 1
            else:  # the other process had it, or had already moved it
                assert re.search(r"another PhotoSorter process|vanished", record["error"])
    assert len(moved) == 150 and set(moved.values()) == {1}


# -- a FIFO where a sidecar or companion belongs never hangs anything --------------------------
def _photosorter(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the CLI (classifier stood in for) in its own process; a hang fails the test."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", SORT_WHEN_TOLD, *argv], env=env, input="go\n",
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    done.stdout = done.stdout.removeprefix("ready\n")
    return done


def _dead_pid() -> int:
    with subprocess.Popen([sys.executable, "-c", ""]) as gone:
        gone.wait()
    return gone.pid


def _records(out: str) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}


@pytest.fixture
def fifo_inbox(tmp_path: Path) -> tuple[Path, Path, Path]:
    """IN/a.jpg with a FIFO as its sidecar a.jpg.xmp, IN/b.jpg, and a categories file."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    folder = tmp_path / "IN"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes(b"\xff\xd8 " + name.encode())
    os.mkfifo(folder / "a.jpg.xmp")
    cats = tmp_path / "cats.toml"
    cats.write_text('[[category]]\nname = "Photos"\n')
    return folder, folder / "a.jpg.xmp", cats


def test_a_fifo_sidecar_never_hangs_tag_or_undo(tmp_path: Path, fifo_inbox) -> None:
    folder, fifo, cats = fifo_inbox
    store = str(tmp_path / "store.sqlite3")
    done = _photosorter(
        "sort", str(folder), "--categories", str(cats), "--action", "tag", "--json",
        "--cache", store,
    )  # fmt: skip
    records = _records(done.stdout)
    assert records["a.jpg"]["error"] == f"{fifo} is a FIFO (named pipe), not a file; left as it is"
    assert records["b.jpg"]["status"] == "ok"
    undo = _photosorter("undo", "--cache", store)
    assert undo.returncode == 0, undo.stderr
    assert "1 file(s) reverted" in undo.stdout
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("action", ["move", "copy"])
def test_a_fifo_companion_keeps_its_photo_in_place(tmp_path: Path, fifo_inbox, action: str) -> None:
    folder, fifo, cats = fifo_inbox
    dest = tmp_path / "D"
    done = _photosorter(
        "sort", str(folder), "--categories", str(cats), "--action", action, "--json",
        "--dest", str(dest), "--cache", str(tmp_path / "store.sqlite3"),
    )  # fmt: skip
    records = _records(done.stdout)
    assert records["a.jpg"]["error"].startswith(f"{fifo} is a FIFO (named pipe), not a file")
    assert records["b.jpg"]["status"] == "ok"
    assert (folder / "a.jpg").is_file() and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in (dest / "Photos").iterdir()) == ["b.jpg"]


@pytest.mark.parametrize("action", ["copy", "tag"])
def test_recovery_never_hangs_on_a_fifo(
    tmp_path: Path, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash mid-step, then a FIFO where the sidecar was: the next start recovers at once."""
    from photosorter.core.files import safeio
    from photosorter.core.files.fileops import apply_plan, plan_operation
    from photosorter.core.library.cache import Store
    from tests.core.files.test_fileops import Crash

    photo = tmp_path / "IN" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8 a")
    sidecar = photo.with_name("a.jpg.xmp")
    if action == "copy":
        sidecar.write_bytes(b"<x/>")
        real_copy = safeio._copy_file

        def copy(s: Path, d: Path) -> str:
            if Path(s) == sidecar:
                raise Crash  # dies before the companion is copied
            return real_copy(s, d)

        monkeypatch.setattr(safeio, "_copy_file", copy)
    else:

        def rename(s: Path, d: Path) -> None:
            raise Crash  # dies before the new sidecar is renamed into place

        monkeypatch.setattr(safeio, "_rename", rename)
    store = tmp_path / "store.sqlite3"
    with Store(store) as s, pytest.raises(Crash):
        apply_plan(plan_operation([(photo, "X")], action, tmp_path / "D"), s)
    with Store(store) as s:  # as if the crash had been the process dying
        s.conn.execute("UPDATE file_ops SET pid = ?", (_dead_pid(),))
    sidecar.unlink(missing_ok=True)
    os.mkfifo(sidecar)
    done = _photosorter("undo", "--cache", str(store))
    assert "recovered from an interrupted file operation" in done.stderr
    said = "is a FIFO (named pipe), not a file" if action == "copy" else "rolled back writing"
    assert said in done.stderr
    assert stat.S_ISFIFO(os.lstat(sidecar).st_mode) and photo.read_bytes() == b"\xff\xd8 a"
