"""`photosorter watch` as a user runs it: a real process, real files, Ctrl+C to stop."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.fixtures.shapes import COLOURS, draw_shape


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_watch_moves_300_arrivals_once_and_stops_cleanly_on_sigint(
    tiny_spec: str, tmp_path: Path
) -> None:
    inbox, out, staging = tmp_path / "in", tmp_path / "out", tmp_path / "staging"
    inbox.mkdir()
    cats = tmp_path / "colours.toml"
    cats.write_text("".join(f'[[category]]\nname = "{c}"\n' for c in COLOURS))
    rng = random.Random(3)
    colours = list(COLOURS)
    expected: dict[str, str] = {}  # content hash -> colour
    files = []
    for i in range(300):
        colour = colours[i % len(colours)]
        path = staging / f"img{i:03d}.jpg"
        path.parent.mkdir(exist_ok=True)
        draw_shape(rng.choice(["circle", "square"]), colour, rng, 96).save(path, quality=90)
        expected[hashlib.sha256(path.read_bytes()).hexdigest()] = colour
        files.append(path)

    proc = subprocess.Popen(
        [sys.executable, "-m", "photosorter", "watch", str(inbox), "--categories", str(cats),
         "--action", "move", "--dest", str(out), "--model", tiny_spec,
         "--cache", str(tmp_path / "store.sqlite3"), "--json", "--settle", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        # Ready once it announces the watch on stderr.
        first = proc.stderr.readline()
        assert "Watching" in first, first
        # Drain both pipes as we go: a full pipe would block the watcher's output.
        stderr_rest: list[str] = []
        stdout_lines: list[str] = []
        drains = [
            threading.Thread(target=lambda: stderr_rest.extend(proc.stderr), daemon=True),
            threading.Thread(target=lambda: stdout_lines.extend(proc.stdout), daemon=True),
        ]
        for drain in drains:
            drain.start()

        def slow_copy(src: Path, dst: Path) -> None:
            data = src.read_bytes()
            step = len(data) // 4 + 1
            with open(dst, "wb") as fh:
                for k in range(0, len(data), step):
                    fh.write(data[k : k + step])
                    fh.flush()
                    time.sleep(0.2)  # a slow card reader

        slow = []
        for i, src in enumerate(files):
            if i % 10 == 0:  # written slowly in chunks
                t = threading.Thread(target=slow_copy, args=(src, inbox / src.name))
                t.start()
                slow.append(t)
            elif i % 3 == 0:  # moved in from elsewhere
                shutil.move(src, inbox / src.name)
            else:  # copied into sub-folders
                sub = inbox / f"card{i % 4}" / "DCIM"
                sub.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, sub / src.name)
        for t in slow:
            t.join()
        wait_until(lambda: len(list(out.rglob("*.jpg"))) >= 300, 180, "300 photos in OUT")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        for drain in drains:
            drain.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, "".join(stderr_rest)
    records = [json.loads(line) for line in stdout_lines]
    assert [r for r in records if r["error"]] == []  # nothing read half-written
    placed = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in out.rglob("*.jpg")}
    assert len(list(out.rglob("*.jpg"))) == 300
    assert set(placed) == set(expected)  # each exactly once, byte-identical
    right = sum(1 for h, p in placed.items() if p.parent.name == expected[h])
    assert right >= 0.95 * 300
    assert all(p.parent.parent == out for p in placed.values())
    assert list(inbox.rglob("*.jpg")) == []
