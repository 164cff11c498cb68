"""How fast the app opens a big library that is already indexed, and in how much memory.

`python -m photosorter.bench.library N` makes (once, then reuses) a synthetic library of N
photos: folders of 1,000 files, each folder one tiny JPEG and hard links to it (cheap even
at a million), plus a store that already knows every file and holds an embedding for each
(random unit vectors of a 512-d model with tiny towers, written through the Store API; no
model runs). It then starts the real `photosorter gui` on it, offscreen, and reports the
seconds to the window shown, to the first thumbnail painted, to every photo listed in the
grid, to the end of the re-check of the disk, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from photosorter.bench.inputs import make_model

PER_FOLDER = 1000
DIM = 512
_ROWS = 20_000  # store rows written per transaction

# Started with the real `photosorter gui` command line: stamps when the window shows, the
# first thumbnail arrives (then painted), the grid lists every photo, and the run ends.
_CHILD = r"""
import json, os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
from photosorter.gui import session as session_module

START, N = float(sys.argv[1]), int(sys.argv[2])
stamps, sessions = {}, []

def stamp(name):
    stamps.setdefault(name, round(time.time() - START, 3))

_init = session_module.Session.__init__
def _patched(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    sessions.append(self)
    self.thumbnails.thumbnail_ready.connect(lambda _key: (QApplication.processEvents(),
                                                          stamp("first_thumbnail_s")))
    self.run_finished.connect(lambda _event: stamp("recheck_done_s"))
session_module.Session.__init__ = _patched

def _peak():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024

def _watch():
    if any(w.isVisible() for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow)):
        stamp("window_s")
    if sessions and sessions[0].model.rowCount() >= N:
        stamp("all_listed_s")
    if {"window_s", "first_thumbnail_s", "all_listed_s", "recheck_done_s"} <= stamps.keys():
        stamps["peak_rss_gb"] = round(_peak() / 2**30, 3)
        sys.stdout.write("STAMPS " + json.dumps(stamps) + "\n")
        sys.stdout.flush()
        os._exit(0)
    QTimer.singleShot(5, _watch)

_real_exec = QApplication.exec
def _exec(*_args):
    QTimer.singleShot(0, _watch)
    return _real_exec()
QApplication.exec = _exec

from photosorter.cli import main
sys.exit(main(["gui"]))
"""


def make_library(folder: Path, n: int, model_folder: Path) -> dict[str, str]:
    """The library of `n` photos in `folder` (made once) and the environment to open it."""
    from photosorter.core.settings import Settings, Source, save_settings, settings_path

    spec = make_model(model_folder, "tiny-512")
    env = _environment(folder)
    photos = folder / "photos"
    stamp = folder / ".made"
    if not stamp.exists():
        rows = _make_files(photos, n)
        _fill_store(Path(env["PHOTOSORTER_DATA_DIR"]), spec, rows)
        settings = Settings(model=spec, device="cpu", sources=(Source(photos),))
        os.environ["PHOTOSORTER_CONFIG_DIR"] = env["PHOTOSORTER_CONFIG_DIR"]
        save_settings(settings, settings_path())
        stamp.touch()
    return env


def _environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CACHE", "CONFIG", "DATA"):
        env[f"PHOTOSORTER_{name}_DIR"] = str(folder / name.lower())
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _make_files(photos: Path, n: int) -> list[tuple[str, int, int]]:
    """Folders of PER_FOLDER names: one tiny JPEG each, the rest hard links to it."""
    from PIL import Image

    rows = []
    for start in range(0, n, PER_FOLDER):
        sub = photos / f"d{start // PER_FOLDER:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        first = sub / f"IMG_{start:07d}.jpg"
        colour = tuple(int(c) for c in np.random.default_rng(start).integers(0, 256, 3))
        Image.new("RGB", (96, 64), colour).save(first, "JPEG", quality=80)
        st = first.stat()
        rows.append((str(first), st.st_size, st.st_mtime_ns))
        for i in range(start + 1, min(n, start + PER_FOLDER)):
            path = sub / f"IMG_{i:07d}.jpg"
            os.link(first, path)
            rows.append((str(path), st.st_size, st.st_mtime_ns))
    return rows


def _fill_store(data: Path, spec: str, rows: list[tuple[str, int, int]]) -> None:
    """Every file known with its own content key and embedding, as after an index run."""
    from photosorter.core.library.cache import Store
    from photosorter.core.model.engine import Engine
    from photosorter.core.paths import default_store_path

    os.environ["PHOTOSORTER_DATA_DIR"] = str(data)
    model_id = Engine(spec, "cpu").model_id
    rng = np.random.default_rng(0)
    with Store(default_store_path()) as store:
        for start in range(0, len(rows), _ROWS):
            chunk = rows[start : start + _ROWS]
            keys = [f"{start + i:032x}" for i in range(len(chunk))]
            vectors = rng.standard_normal((len(chunk), DIM), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with store.transaction():
                store.remember_files((p, s, m, k) for (p, s, m), k in zip(chunk, keys, strict=True))
                store.put_embeddings(model_id, zip(keys, vectors, strict=True))


def open_library(env: dict[str, str], n: int, timeout_s: float) -> dict:
    """Start `photosorter gui` on the library; the seconds to each stamp and peak RSS."""
    start = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, repr(start), str(n)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"not every stamp within {timeout_s:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("STAMPS "):
            return json.loads(line[len("STAMPS ") :])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-5:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m photosorter.bench.library", description=__doc__)
    p.add_argument("photos", type=int, help="photos in the library")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/photosorter-biglib"))
    p.add_argument("--reps", type=int, default=1, help="app starts measured")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per app start")
    args = p.parse_args(argv)
    started = time.monotonic()
    env = make_library(args.workdir / f"library-{args.photos}", args.photos, args.workdir / "model")
    made_s = round(time.monotonic() - started, 1)
    runs = [open_library(env, args.photos, args.timeout) for _ in range(args.reps)]
    print(json.dumps({"photos": args.photos, "library_ready_s": made_s, "starts": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
