"""What a `photosorter bench` run is given, and how it times things and reads the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FULL = {"photos": 64, "width": 4000, "height": 3000, "arch": "ViT-B-32", "reps": 5}
QUICK = {"photos": 12, "width": 640, "height": 480, "arch": "tiny", "reps": 2}


@dataclass
class Config:
    photos: int
    width: int
    height: int
    arch: str
    reps: int
    batch_size: int
    workdir: Path
    rescore_n: tuple[int, ...]
    quick: bool


def timed(fn: Callable[[], Any], reps: int, warmup: int = 1) -> tuple[float, float]:
    """Median (wall seconds, process CPU seconds) of `fn` over `reps` runs after warm-up."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def machine() -> dict:
    """What this ran on."""
    from photosorter.core.model.accel_backends import cpu_flags

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    flags = [f for f in wanted if f in cpu_flags()]
    versions = {}
    for mod in ("torch", "open_clip", "openvino", "nncf", "PIL", "numpy"):
        with contextlib.suppress(ImportError):
            versions[mod] = __import__(mod).__version__
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "cpu": name,
        "cores": cores(),
        "flags": flags,
        "memory_gb": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "versions": versions,
    }


def busy_seconds() -> float | None:
    """CPU seconds used machine-wide by processes other than this one and its children."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = (sum(fields[:3]) + sum(fields[5:8])) / hz  # user nice system, irq softirq steal
    mine = os.times()
    return busy - (mine.user + mine.system + mine.children_user + mine.children_system)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
