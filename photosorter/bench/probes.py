"""The measurements of `photosorter bench` that need a fresh process: window start-up,
peak memory, and the worst event-loop stall while a worker thread indexes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Started with the real `photosorter gui` command line; stamps the moment the event loop
# runs with the main window visible (first paint processed), then exits at once.
_GUI_CHILD = r"""
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

def _shown():
    return any(w.isVisible() for w in QApplication.topLevelWidgets()
               if isinstance(w, QMainWindow))

def _watch():
    if _shown():
        QApplication.processEvents()
        sys.stdout.write("SHOWN %r\n" % time.time())
        sys.stdout.flush()
        os._exit(0)
    QTimer.singleShot(2, _watch)

_real_exec = QApplication.exec
def _exec(*_args):  # called as app.exec() or QApplication.exec(); the real one is static
    QTimer.singleShot(0, _watch)
    return _real_exec()
QApplication.exec = _exec

from photosorter.cli import main
sys.exit(main(["gui"]))
"""

_RSS_CHILD = r"""
import json, resource, sys
from pathlib import Path
import numpy as np
from photosorter.core.model.engine import Engine
from photosorter.core.library.pipeline import Classified

spec, n = sys.argv[1], int(sys.argv[2])
engine = Engine(spec, "cpu")
engine.load()
size = engine.preprocess_spec.size
rng = np.random.default_rng(0)
vecs = engine.encode_images(rng.standard_normal((32, 3, size, size), dtype=np.float32))
engine.encode_texts([f"category {i}" for i in range(20)])
listed = [
    Classified(Path(f"/photos/{i // 1000:03d}/IMG_{i:06d}.jpg"), f"{i:032x}", f"c{i % 20}", 0.5)
    for i in range(n)
]
embeddings = np.zeros((n, vecs.shape[1]), dtype=np.float32)
try:  # this process's own high-water mark (ru_maxrss may carry the parent's over exec)
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
except (OSError, IndexError):
    scale = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
print(json.dumps({"peak_rss_gb": round(peak / 2**30, 3), "backend": engine.backend}))
"""

_STALL_CHILD = r"""
import json, sys, threading, time
from pathlib import Path
from PySide6.QtCore import QCoreApplication, Qt, QTimer

spec, folder, store_path, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = QCoreApplication([])
worst = {"load": 0.0, "index": 0.0}
phase = ["idle"]
last = [time.perf_counter()]
INTERVAL = 0.005

def tick():
    now = time.perf_counter()
    if phase[0] in worst:
        worst[phase[0]] = max(worst[phase[0]], now - last[0] - INTERVAL)
    last[0] = now
    if phase[0] == "done":
        app.quit()

def work():
    phase[0] = "load"
    from photosorter.core.library.cache import Store
    from photosorter.core.model.engine import Engine
    from photosorter.core.library.pipeline import index_photos
    from photosorter.core.library.scanner import scan
    engine = Engine(spec, "cpu")
    engine.load()
    engine.image_encoder
    phase[0] = "index"
    with Store(store_path) as store:
        for _ in index_photos(list(scan([folder])), engine, store, batch_size=batch):
            pass
    phase[0] = "done"

timer = QTimer()
timer.setTimerType(Qt.TimerType.PreciseTimer)
timer.setInterval(int(INTERVAL * 1000))
timer.timeout.connect(tick)
timer.start()
threading.Thread(target=work, daemon=True).start()
app.exec()
print(json.dumps({k: round(v * 1000, 1) for k, v in worst.items()}))
"""


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CACHE", "CONFIG"):
        folder = tmp / name.lower()
        folder.mkdir(exist_ok=True)
        env[f"PHOTOSORTER_{name}_DIR"] = str(folder)
    env.setdefault("PHOTOSORTER_DATA_DIR", str(tmp / "data"))
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _last_json(out: str) -> dict:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON in the child's output")


def _child(code: str, args: list[str], timeout: int, env: dict | None = None) -> dict:
    """Run `code` in a fresh Python; its last JSON line, or {"error": its stderr's end}."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        return _last_json(proc.stdout)
    except ValueError:
        return {"error": proc.stderr.strip()[-300:]}


def gui_start(reps: int) -> dict:
    """Seconds from process start to the main window shown (offscreen), median of reps."""
    import importlib.util

    if importlib.util.find_spec("photosorter.gui.app") is None:
        return {"seconds": None, "error": "photosorter.gui.app not found"}
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-gui-") as tmp:
        env = _env(Path(tmp))
        for i in range(reps + 1):  # the first start warms the disk cache
            start = time.time()
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", _GUI_CHILD],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return {"seconds": None, "error": "the window did not show within 120 s"}
            stamp = [ln for ln in proc.stdout.splitlines() if ln.startswith("SHOWN ")]
            if not stamp:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                why = f"exit code {proc.returncode}, last words: {tail}"
                return {"seconds": None, "error": f"no window shown ({why})"}
            if i:
                times.append(float(stamp[0].split()[1]) - start)
    return {
        "seconds": round(statistics.median(times), 3),
        "how": "`photosorter gui`, offscreen, fresh settings, process start to window shown",
    }


def peak_rss(spec: str, n: int) -> dict:
    """Peak RSS of a process with the model loaded (encoder ready) and n photos listed."""
    out = _child(_RSS_CHILD, [spec, str(n)], timeout=600)
    if "error" in out:
        return {"peak_rss_gb": None, **out}
    out["what"] = f"model loaded ({out['backend']}) + {n:,} photos listed with embeddings"
    return out


def stall_probe(photos: list[Path], spec: str, batch: int) -> dict:
    """Worst lateness of a 5 ms Qt timer on the main thread while a worker thread loads the
    model and then indexes the photos (what the GUI's inference worker does)."""
    with tempfile.TemporaryDirectory(prefix="bench-stall-") as tmp:
        worst = _child(
            _STALL_CHILD,
            [spec, str(photos[0].parent), f"{tmp}/s.db", str(batch)],
            timeout=600,
            env=_env(Path(tmp)),
        )
    if "error" in worst:
        return {"max_stall_ms": None, **worst}
    return {"max_stall_ms": worst["index"], "load_max_stall_ms": worst["load"]}


_PANORAMA_CHILD = r"""
import json, sys, time
from photosorter.core.library.images import decode_photo

def peak():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024

before = peak()
cpu = time.process_time()
got = decode_photo(sys.argv[1], min_side=224)
cpu = time.process_time() - cpu
print(json.dumps({"decoded": list(got.image.size), "full": [got.width, got.height],
                  "cpu_s": round(cpu, 2), "rss_added_mb": round((peak() - before) / 2**20)}))
"""


def panorama_probe(folder: Path, width: int, height: int) -> dict:
    """Classifying a JPEG over the pixel limit (a panorama): the CPU and the peak memory its
    DCT-scaled decode adds, in a fresh process (Linux: VmHWM). The file is a flat DC-only
    JPEG: a real photo costs more CPU to entropy-decode, the same memory."""
    from PIL import Image

    from photosorter.bench.inputs import make_dc_jpeg

    path = folder / f"panorama-{width}x{height}.jpg"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_dc_jpeg(path, Image.new("RGB", (64, 32), (60, 120, 180)), width, height)
    if not Path("/proc/self/status").exists():
        return {"error": "needs /proc (Linux)"}
    out = _child(_PANORAMA_CHILD, [str(path)], timeout=300)
    if "error" in out:
        return out
    out["megapixels"] = round(width * height / 1e6)
    return out
