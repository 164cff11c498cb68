"""Fast image encoders: OpenVINO int8/bf16/fp32 and torch bf16 on the CPU, fp16 on CUDA.

An accelerated backend proves itself on the user's own photos the first time it runs for a
model: its embeddings of real photos are compared with eager fp32 PyTorch and, below
MIN_COSINE, it is dropped (with a notice) for the next one in line. `auto` times the ready
backends on the user's photos and runs the fastest; whether an export or an int8 calibration
is worth making is decided from those timings (accel_choice.py). Exports, quantised models,
verdicts and timings are cached per model under `paths.data_dir()/accel/`. The backends
themselves live in accel_backends.py.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.core import paths
from photosorter.core.model import BACKENDS, accel_choice
from photosorter.core.model.accel_backends import (
    BUILDERS,
    Backend,
    BuildContext,
    _build_pytorch,
    _export_openvino,
    _x86,
    available,
    native_bf16,
)
from photosorter.core.model.accel_choice import CALIBRATED, EXPORTED, CostTable, Preparation
from photosorter.core.model.accel_record import BackendRecord

log = logging.getLogger(__name__)

MIN_COSINE = 0.99  # an accelerated backend must match eager fp32 at least this well
CHECK_IMAGES = 16  # photos compared with fp32 before a backend's verdict is kept
CALIBRATION_IMAGES = 64  # photos int8 quantisation calibrates on
MIN_TIMING_PHOTOS = 8  # a smaller batch times too noisily to pick a backend by
NEEDS_CALIBRATION = frozenset({CALIBRATED})

Notify = Callable[[str], None]


def candidates(choice: str, device: str) -> list[str]:
    """The backends to try, best first; always ending with plain PyTorch. For "auto" on a
    CPU: every one that can run here (bf16 only where the CPU computes it natively), to be
    timed on the user's photos; the order only matters until they are."""
    if choice == "pytorch":
        return ["pytorch"]
    if choice != "auto":
        return [choice, "pytorch"] if available(choice, device) else ["pytorch"]
    if device == "cuda":
        return ["torch-fp16", "pytorch"]
    if device != "cpu":
        return ["pytorch"]
    bf16 = native_bf16()
    chain = [CALIBRATED] if _x86() else []
    chain += ["openvino-bf16", "openvino-fp32", "torch-bf16"] if bf16 else ["openvino-fp32"]
    return [n for n in chain if available(n, device)] + ["pytorch"]


def cache_dir_for(model_id: str, image_size: int) -> Path:
    """Where exports, quantised models and verdicts of one model live."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_")[:120] or "model"
    return paths.data_dir() / "accel" / f"{slug}-{image_size}px"


# -- the self-checking encoder -----------------------------------------------------------
def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The worst cosine similarity between matching rows of a and b."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1))) if len(a) else 1.0


class ImageEncoder:
    """Encodes images with the fastest backend that has matched eager fp32 on real photos.

    The backend in use starts unproven: each batch is also run, in part, through eager fp32
    until CHECK_IMAGES photos agree (then the verdict is saved and checks stop) or one
    disagrees (the backend is dropped, with a notice, for the next in line). A backend that
    needs calibration collects the first photos it sees while another one works.
    With choice "auto", every ready backend is timed on a batch of the user's photos (once per
    model and machine; `costs` injects a table instead) and the fastest runs; `plan()`
    announces a job, and an export or a calibration is made when the time it saves on those
    photos exceeds its own. An explicit choice prepares at once.
    """

    def __init__(
        self,
        model: Any,
        *,
        device: str,
        choice: str = "auto",
        cache_dir: Path,
        image_size: int,
        threads: int,
        notify: Notify | None = None,
        check_images: int = CHECK_IMAGES,
        calibration_images: int = CALIBRATION_IMAGES,
        costs: CostTable | None = None,
    ) -> None:
        if choice not in BACKENDS and choice not in BUILDERS:
            raise ValueError(f"unknown backend {choice!r}; one of {', '.join(BACKENDS)}")
        self.ctx = BuildContext(model, device, self._usable(cache_dir), image_size, threads)
        self.notify = notify
        self.check_images = check_images
        self.calibration_images = calibration_images
        self.record = BackendRecord.load(self.ctx.cache_dir)
        if costs is not None:
            self.record.costs = costs
        self.costs = self.record.costs  # (the same table, named for brevity)
        self.auto = choice == "auto"
        self.why = ""  # auto: why the active backend runs (measured costs)
        self.decisions: list[Preparation] = []  # auto: the last job's preparations, and why
        self._checked: dict[str, tuple[int, float]] = {}
        self._reference: Backend | None = None
        self._target: str | None = None  # waits for calibration photos
        self._calibration: list[np.ndarray] = []
        self._candidates = candidates(choice, device)
        self._queue = list(self._candidates)  # an explicit choice, then pytorch
        self._broken: set[str] = set()  # could not be built in this process
        self._spare: dict[str, Backend] = {}  # built, not timed yet
        self._job = 0  # photos announced by plan() and not decided on yet
        if choice not in ("auto", *self._queue):
            self._say(f"The {choice} image encoder is not available here; using pytorch.")
        self.active: Backend = self._pick() if self.auto else self._next_backend()

    # -- public ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.active.name

    @property
    def pending(self) -> str | None:
        """The backend waiting for calibration photos, if any."""
        return self._target

    def plan(self, photos: int) -> None:
        """Say how many photos the coming job will encode: an export or a calibration is made
        when it pays for itself on them (decided from the timings, at once when they are
        known, else on the first batch); once made it serves every later job."""
        if self.auto:
            self._job = max(self._job, photos)
            self._decide()

    @property
    def settled(self) -> bool:
        """True once nothing is pending: no calibration, no timing, the backend proven."""
        untimed = self.auto and bool(self._untimed())
        return self._target is None and not untimed and self._unchecked(self.active.name) == 0

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32 raw (not normalised) features."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        if self._target is not None:
            self._collect(pixels)
        if self.auto and len(pixels) >= MIN_TIMING_PHOTOS:
            self._measure(pixels)
            if self._decide():
                self._measure(pixels)  # what was just prepared
        while True:
            backend = self.active
            todo = self._unchecked(backend.name)
            if todo == 0:
                try:
                    return backend(pixels)
                except Exception as exc:  # a broken runtime: fall back, never lose the batch
                    self._fail(backend.name, f"it failed ({type(exc).__name__}: {exc})")
                    continue
            k = min(todo, len(pixels))
            try:
                out = backend(pixels)
                cos = min_cosine(out[:k], self._eager(pixels[:k]))
            except Exception as exc:
                self._fail(backend.name, f"it failed ({type(exc).__name__}: {exc})")
                continue
            if self._record(backend.name, k, cos):
                return out

    # -- auto: timed, not guessed ---------------------------------------------------------
    def _ready(self, name: str) -> bool:
        """Whether `name` can run without a one-time preparation, and may be used."""
        if name in self._broken or (name != "pytorch" and self.record.failed(name)):
            return False
        if name in NEEDS_CALIBRATION:
            return self._cached("visual-int8.xml")
        return name not in EXPORTED or self._cached("visual-fp32.xml")

    def _untimed(self) -> list[str]:
        return [n for n in self._candidates if self._ready(n) and n not in self.costs.per_photo]

    def _pick(self) -> Backend:
        """The fastest ready backend by the timings (in candidate order until timed)."""
        ready = [n for n in self._candidates if self._ready(n)]
        current = getattr(self, "active", None)
        for name in self.costs.ranked(ready):
            backend = current if current is not None and current.name == name else None
            backend = backend or self._spare.pop(name, None) or self._build(name)
            if backend is not None:
                self.why = accel_choice.explain(self.costs, name, ready)
                return backend
        return _build_pytorch(self.ctx)

    def _measure(self, pixels: np.ndarray) -> None:
        """Time every ready backend not timed on this machine yet, then run the fastest."""
        untimed = self._untimed()
        if not untimed:
            return
        built = {n: b for n in untimed if (b := self._spare.get(n) or self._built(n))}
        self.costs.per_photo.update(accel_choice.time_backends(built, pixels))
        self._spare.update(built)
        self.record.save()
        self.active = self._pick()
        self._spare.clear()
        log.info("image encoder: %s", self.why)

    def _built(self, name: str) -> Backend | None:
        return self.active if self.active.name == name else self._build(name)

    def _decide(self) -> bool:
        """Make the preparations the announced job pays for; True when one was made."""
        ready = [n for n in self._candidates if self._ready(n)]
        if not self._job or not any(n in self.costs.per_photo for n in ready):
            return False  # nothing timed yet: decided on the first batch
        photos, self._job = self._job, 0
        wanted = [n for n in self._candidates if n not in self._broken]
        wanted = [n for n in wanted if not self.record.failed(n)]
        exported = self._cached("visual-fp32.xml")
        self.decisions = accel_choice.preparations(wanted, ready, self.costs, photos, exported)
        worth = {p.name for p in self.decisions if p.worth}
        for p in self.decisions:
            log.info("%s: %s", "preparing" if p.worth else "not preparing", p.why)
        made = False
        if worth & {*EXPORTED, CALIBRATED} and not exported:
            made = self._export()
        if CALIBRATED in worth and self._target is None and self._cached("visual-fp32.xml"):
            self._target = CALIBRATED
        return made

    def _export(self) -> bool:
        self._say("Preparing a faster image encoder (once for this model)…", logging.INFO)
        start = time.perf_counter()
        try:
            _export_openvino(self.ctx)
        except Exception as exc:
            log.warning("cannot export the model to OpenVINO: %s", exc, exc_info=True)
            self._broken.update([*EXPORTED, CALIBRATED])
            self._say(f"The OpenVINO image encoders could not be prepared: {exc}")
            return False
        self.costs.prepare["export"] = round(time.perf_counter() - start, 3)
        self.record.save()
        return True

    def _build(self, name: str) -> Backend | None:
        try:
            return BUILDERS[name](self.ctx)
        except Exception as exc:
            self._broken.add(name)
            log.warning("cannot use the %s image encoder: %s", name, exc, exc_info=True)
            self._say(f"The {name} image encoder could not be prepared: {exc}")
            return None

    # -- internals ------------------------------------------------------------------------
    def _usable(self, cache_dir: Path) -> Path:
        """`cache_dir`, or when it cannot be written a temporary folder for this process only:
        the fast encoder still works, it is prepared and checked again next time."""
        if paths.writable_dir(cache_dir):
            return cache_dir
        scratch = tempfile.mkdtemp(prefix="photosorter-accel-")
        weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
        log.warning(
            "Cannot write to %s: fast image encoders are not kept for next time.", cache_dir
        )
        return Path(scratch)

    def _eager(self, pixels: np.ndarray) -> np.ndarray:
        if self._reference is None:
            self._reference = _build_pytorch(self.ctx)
        return self._reference(pixels)

    def _unchecked(self, name: str) -> int:
        """How many more photos `name` must be checked on (0: proven, or the reference)."""
        if name == "pytorch" or self.record.ok(name):
            return 0
        return max(0, self.check_images - self._checked.get(name, (0, 1.0))[0])

    def _record(self, name: str, n: int, cos: float) -> bool:
        """Add a check of n photos; False (and fall back) when the backend disagreed."""
        done, worst = self._checked.get(name, (0, 1.0))
        done, worst = done + n, min(worst, cos)
        self._checked[name] = (done, worst)
        if worst < MIN_COSINE:
            self._fail(name, f"its results differ from full precision (cosine {worst:.4f})")
            return False
        if done >= self.check_images:
            self.record.judge(name, True, worst, done)
            log.info("%s matches fp32 on %d photos (cosine >= %.4f)", name, done, worst)
        return True

    def _fail(self, name: str, why: str) -> None:
        worst = self._checked.get(name, (0, float("nan")))[1]
        self.record.judge(name, False, worst, self._checked.get(name, (0, 0))[0])
        if name == CALIBRATED:
            for suffix in (".xml", ".bin"):  # don't keep a model that will never be used
                with contextlib.suppress(OSError):
                    (self.ctx.cache_dir / f"visual-int8{suffix}").unlink()
        if self.active.name == name:
            self.active = self._pick() if self.auto else self._next_backend()
            self._say(f"The {name} image encoder was turned off: {why}. Using {self.name}.")
        else:
            self._say(f"The {name} image encoder was not used: {why}. Using {self.name}.")

    def _next_backend(self) -> Backend:
        """Build the next usable backend of an explicit choice (plain PyTorch always works);
        one that needs calibration first waits for enough photos."""
        while self._queue:
            name = self._queue.pop(0)
            if name != "pytorch" and self.record.failed(name):
                log.info("skipping %s: it failed its accuracy check before", name)
                continue
            if name in NEEDS_CALIBRATION and not self._cached("visual-int8.xml"):
                if self._target is None:
                    self._target = name  # built once enough photos have been seen
                continue
            backend = self._build(name)
            if backend is not None:
                return backend
        return _build_pytorch(self.ctx)

    def _cached(self, file: str) -> bool:
        return (self.ctx.cache_dir / file).is_file()

    def _collect(self, pixels: np.ndarray) -> None:
        """Keep the first photos for calibration; quantise once there are enough."""
        need = self.calibration_images + self.check_images
        have = sum(len(b) for b in self._calibration)
        if have < need:
            self._calibration.append(pixels[: need - have].copy())
            have += min(len(pixels), need - have)
        if have < need:
            return
        name, self._target = self._target, None
        assert name is not None
        data = np.concatenate(self._calibration)
        self._calibration = []
        calibration, held_out = data[: self.calibration_images], data[self.calibration_images :]
        self._say(
            f"Tuning the {name} image encoder on {len(calibration)} of your photos…", logging.INFO
        )
        start = time.perf_counter()
        try:
            backend = BUILDERS[name](_with_calibration(self.ctx, calibration))
            seconds = time.perf_counter() - start
            cos = min_cosine(backend(held_out), self._eager(held_out))
        except Exception as exc:
            log.warning("cannot use the %s image encoder: %s", name, exc, exc_info=True)
            self._checked[name] = (0, float("nan"))
            self._fail(name, f"it could not be prepared ({type(exc).__name__}: {exc})")
            return
        self._checked[name] = (len(held_out), cos)
        if cos < MIN_COSINE:
            self._fail(name, f"its results differ from full precision (cosine {cos:.4f})")
            return
        self.costs.prepare[name] = round(seconds, 3)
        self.record.judge(name, True, cos, len(held_out))
        self._say(
            f"The {name} image encoder is ready (cosine {cos:.4f} to full precision).",
            logging.INFO,
        )
        if self.auto:
            self._spare[name] = backend  # timed against the others on the next batch
        else:
            self.active = backend

    def _say(self, text: str, level: int = logging.WARNING) -> None:
        log.log(level, "%s", text)
        if self.notify is not None:
            self.notify(text)


def _with_calibration(ctx: BuildContext, data: np.ndarray) -> BuildContext:
    return BuildContext(ctx.model, ctx.device, ctx.cache_dir, ctx.image_size, ctx.threads, data)
