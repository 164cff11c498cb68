"""How `auto` picks the image encoder: from costs measured on this machine, not CPU flags.

A CostTable holds the seconds per photo of each backend, timed on the user's own photos
(once per model and machine, then cached with the exports), and what preparing one cost
once (an OpenVINO export, an int8 calibration). A backend not timed yet is estimated from
one that was, with the speed-ups `photosorter bench` measured; an estimate only decides
whether a preparation is worth making: the backend is timed before it is picked.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Speed over eager fp32 PyTorch (ViT-B-32, `photosorter bench`), for estimates only.
PRIOR_SPEEDUP = {
    "pytorch": 1.0,
    "torch-fp16": 2.0,
    "torch-bf16": 3.7,
    "openvino-fp32": 2.2,
    "openvino-bf16": 4.3,
    "openvino-int8": 7.8,
}
EXPORTED = ("openvino-fp32", "openvino-bf16")  # both run the one fp32 export
CALIBRATED = "openvino-int8"
EXPORT_S = 3.0  # an OpenVINO export of ViT-B-32, until one is timed here
CALIBRATION_ENCODES = 300  # int8 calibration costs about this many openvino-fp32 photos
TIMING_ROUNDS = 2  # timed runs of each backend on a batch, after one warm-up


def machine_id() -> str:
    """What timings hold for: the CPU model and the cores this process may use."""
    name = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            name = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), name
            )
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return f"{platform.machine()} {name} x{cores}"


@dataclass
class CostTable:
    """Measured seconds per photo of each backend, and one-time preparation seconds."""

    per_photo: dict[str, float] = field(default_factory=dict)
    prepare: dict[str, float] = field(default_factory=dict)

    def estimate(self, name: str) -> float | None:
        """Seconds per photo: measured, else scaled from a measured backend; None if no base."""
        if name in self.per_photo:
            return self.per_photo[name]
        for base in ("openvino-fp32", "pytorch", *self.per_photo):
            if base in self.per_photo and base in PRIOR_SPEEDUP and name in PRIOR_SPEEDUP:
                return self.per_photo[base] * PRIOR_SPEEDUP[base] / PRIOR_SPEEDUP[name]
        return None

    def preparation(self, name: str, exported: bool) -> float:
        """One-time seconds before `name` can run (nothing once its files are cached)."""
        export = 0.0 if exported else self.prepare.get("export", EXPORT_S)
        if name == CALIBRATED:
            fp32 = self.estimate("openvino-fp32") or 0.0
            return export + self.prepare.get(CALIBRATED, CALIBRATION_ENCODES * fp32)
        return export if name in EXPORTED else 0.0

    def ranked(self, names: Iterable[str]) -> list[str]:
        """`names` fastest first: timed ones by their time, then the others in given order."""
        names = list(names)
        return sorted(names, key=lambda n: (n not in self.per_photo, self.per_photo.get(n, 0.0)))

    def ranked_items(self) -> list[tuple[str, float]]:
        """(backend, seconds per photo) of the timed ones, fastest first."""
        return [(n, self.per_photo[n]) for n in self.ranked(self.per_photo)]

    def to_json(self) -> dict[str, Any]:
        return {"machine": machine_id(), "per_photo": self.per_photo, "prepare": self.prepare}

    @classmethod
    def from_json(cls, data: object) -> CostTable:
        """The saved table, or an empty one when it was measured on another machine."""
        if not isinstance(data, Mapping) or data.get("machine") != machine_id():
            return cls()
        per_photo, prepare = data.get("per_photo"), data.get("prepare")
        return cls(
            {str(k): float(v) for k, v in (per_photo or {}).items()},
            {str(k): float(v) for k, v in (prepare or {}).items()},
        )


@dataclass(frozen=True)
class Preparation:
    """Whether a one-time preparation pays for itself on the photos waiting, and why."""

    name: str
    worth: bool
    why: str


def preparations(
    candidates: Iterable[str], ready: Iterable[str], costs: CostTable, photos: int, exported: bool
) -> list[Preparation]:
    """For each candidate not ready: worth preparing when the photos waiting times the seconds
    it saves per photo (against the fastest ready one) exceed what preparing it costs."""
    ready = [n for n in ready if n in costs.per_photo]
    if not ready:
        return []
    best = min(costs.per_photo[n] for n in ready)
    out = []
    for name in candidates:
        estimate = costs.estimate(name)
        if name in ready or estimate is None:
            continue
        saving = photos * (best - estimate)
        once = costs.preparation(name, exported)
        why = (
            f"{name}: about {estimate * 1e3:.1f} ms/photo would save {max(saving, 0):.0f} s "
            f"on {photos} photos, for {once:.0f} s once"
        )
        out.append(Preparation(name, saving > once, why))
    return out


def explain(costs: CostTable, chosen: str, others: Iterable[str]) -> str:
    """Why `chosen` runs: its measured time against the other timed backends."""

    def ms(name: str) -> str:
        value = costs.per_photo.get(name)
        return f"{value * 1e3:.1f} ms/photo" if value is not None else "not timed"

    rest = [n for n in others if n != chosen and n in costs.per_photo]
    against = ", ".join(f"{n} {ms(n)}" for n in costs.ranked(rest))
    return f"{chosen} {ms(chosen)}" + (f" (the fastest; {against})" if against else "")


def time_backends(backends: Mapping[str, Any], pixels: np.ndarray) -> dict[str, float]:
    """Seconds per photo of each backend on `pixels`: a warm-up, then the best of a few
    interleaved runs (so every backend meets the same load from other work)."""
    best = dict.fromkeys(backends, float("inf"))
    for backend in backends.values():
        backend(pixels)
    for _ in range(TIMING_ROUNDS):
        for name, backend in backends.items():
            start = time.perf_counter()
            backend(pixels)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: seconds / max(1, len(pixels)) for name, seconds in best.items()}
