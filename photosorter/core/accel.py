"""Fast image encoders: OpenVINO int8/bf16/fp32 and torch bf16 on the CPU, fp16 on CUDA.

An accelerated backend proves itself on the user's own photos the first time it runs for a
model: its embeddings of real photos are compared with eager fp32 PyTorch and, below
MIN_COSINE, it is dropped (with a notice) for the next one in line. int8 is calibrated on
the user's first photos. Exports, quantised models and verdicts are cached per model under
`paths.data_dir()/accel/`. The backends themselves live in accel_backends.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.core import paths
from photosorter.core.accel_backends import (
    BUILDERS,
    Backend,
    BuildContext,
    _build_pytorch,
    _x86,
    available,
    native_bf16,
)

log = logging.getLogger(__name__)

#: What a user (or a setting) may ask for. "auto" picks by device and CPU features.
BACKENDS: tuple[str, ...] = (
    "auto",
    "pytorch",
    "openvino-int8",
    "openvino-bf16",
    "openvino-fp32",
    "torch-bf16",
    "torch-fp16",
)
MIN_COSINE = 0.99  # an accelerated backend must match eager fp32 at least this well
CHECK_IMAGES = 16  # photos compared with fp32 before a backend's verdict is kept
CALIBRATION_IMAGES = 64  # photos int8 quantisation calibrates on
# One-time preparation is worth it only for a job this large (auto mode; then it is cached):
EXPORT_MIN_PHOTOS = 200  # an OpenVINO export (~8 s for ViT-B-32) vs eager fp32
CALIBRATE_MIN_PHOTOS = 2000  # int8 calibration (~20 s) vs the bf16/fp32 export
NEEDS_CALIBRATION = frozenset({"openvino-int8"})
_VERDICTS = "verdicts.json"

Notify = Callable[[str], None]


def candidates(choice: str, device: str) -> list[str]:
    """The backends to try, best first; always ending with plain PyTorch."""
    if choice == "pytorch":
        return ["pytorch"]
    if choice != "auto":
        return [choice, "pytorch"] if available(choice, device) else ["pytorch"]
    if device == "cuda":
        return ["torch-fp16", "pytorch"]
    if device != "cpu":
        return ["pytorch"]
    chain: list[str] = []
    bf16 = native_bf16()
    if available("openvino-fp32", device):
        if _x86() and available("openvino-int8", device):
            chain.append("openvino-int8")
        chain.append("openvino-bf16" if bf16 else "openvino-fp32")
    elif bf16:
        chain.append("torch-bf16")
    chain.append("pytorch")
    return chain


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


def _versions() -> str:
    """Software whose upgrade invalidates a verdict (and the exports made with it)."""
    from importlib import metadata

    found = []
    for name in ("torch", "openvino", "nncf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name}={metadata.version(name)}")
    return " ".join(found)


class ImageEncoder:
    """Encodes images with the fastest backend that has matched eager fp32 on real photos.

    The first backend in line starts unproven: each batch is also run, in part, through eager
    fp32 until CHECK_IMAGES photos agree (then the verdict is saved and checks stop) or one
    disagrees (the backend is dropped, with a notice, for the next in line). A backend that
    needs calibration collects the first photos it sees while the next one in line works.
    With choice "auto", a backend that needs a one-time export or calibration waits until
    `plan()` announces a job large enough to pay for it; an explicit choice prepares at once.
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
    ) -> None:
        if choice not in BACKENDS and choice not in BUILDERS:
            raise ValueError(f"unknown backend {choice!r}; one of {', '.join(BACKENDS)}")
        self.ctx = BuildContext(model, device, self._usable(cache_dir), image_size, threads)
        self.notify = notify
        self.check_images = check_images
        self.calibration_images = calibration_images
        self.verdicts = self._load_verdicts()
        self._checked: dict[str, tuple[int, float]] = {}
        self._reference: Backend | None = None
        self._target: str | None = None  # waits for calibration photos
        self._calibration: list[np.ndarray] = []
        self._queue = candidates(choice, device)
        self._deferred: list[str] = []  # better than the active one; wait for a big job
        if choice not in ("auto", *self._queue):
            self._say(f"The {choice} image encoder is not available here; using pytorch.")
        self.active: Backend = self._next_backend(prepare=choice != "auto")

    # -- public ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.active.name

    @property
    def pending(self) -> str | None:
        """The backend waiting for calibration photos, if any."""
        return self._target

    def plan(self, photos: int) -> None:
        """Say how many photos the coming job will encode: a large job pays for a one-time
        export or calibration (which is then cached for every later job)."""
        for name in list(self._deferred):
            if name in NEEDS_CALIBRATION:
                if photos >= CALIBRATE_MIN_PHOTOS and self._target is None:
                    self._deferred.remove(name)
                    self._target = name
                continue
            if photos < EXPORT_MIN_PHOTOS:
                continue
            self._deferred.remove(name)
            if self._unchecked(self.active.name) == 0 and self.active.name != "pytorch":
                continue  # a proven accelerated backend is in use already
            self._say(f"Preparing the {name} image encoder (once for this model)…", logging.INFO)
            try:
                self.active = BUILDERS[name](self.ctx)
            except Exception as exc:
                log.warning("cannot use the %s image encoder: %s", name, exc, exc_info=True)
                self._say(f"The {name} image encoder could not be prepared: {exc}")

    @property
    def settled(self) -> bool:
        """True once no calibration is pending and the backend in use is proven."""
        return self._target is None and self._unchecked(self.active.name) == 0

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32 raw (not normalised) features."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        if self._target is not None:
            self._collect(pixels)
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
        if name == "pytorch" or self._verdict_ok(name):
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
            self._save_verdict(name, True, worst, done)
            log.info("%s matches fp32 on %d photos (cosine >= %.4f)", name, done, worst)
        return True

    def _fail(self, name: str, why: str) -> None:
        worst = self._checked.get(name, (0, float("nan")))[1]
        self._save_verdict(name, False, worst, self._checked.get(name, (0, 0))[0])
        if name == "openvino-int8":
            for suffix in (".xml", ".bin"):  # don't keep a model that will never be used
                with contextlib.suppress(OSError):
                    (self.ctx.cache_dir / f"visual-int8{suffix}").unlink()
        if self.active.name == name:
            self.active = self._next_backend()
            self._say(f"The {name} image encoder was turned off: {why}. Using {self.name}.")
        else:
            self._say(f"The {name} image encoder was not used: {why}. Using {self.name}.")

    def _next_backend(self, prepare: bool = True) -> Backend:
        """Build the next usable backend in line (plain PyTorch always works); without
        `prepare`, one that needs an export or calibration first is deferred to `plan()`."""
        while self._queue:
            name = self._queue.pop(0)
            if name != "pytorch" and self.verdicts.get(name, {}).get("ok") is False:
                log.info("skipping %s: it failed its accuracy check before", name)
                continue
            if name in NEEDS_CALIBRATION and not self._cached("visual-int8.xml"):
                if not prepare:
                    self._deferred.append(name)
                elif self._target is None:
                    self._target = name  # built once enough photos have been seen
                continue
            needs_export = name.startswith("openvino") and name not in NEEDS_CALIBRATION
            if needs_export and not prepare and not self._cached("visual-fp32.xml"):
                self._deferred.append(name)
                continue
            try:
                return BUILDERS[name](self.ctx)
            except Exception as exc:
                log.warning("cannot use the %s image encoder: %s", name, exc, exc_info=True)
                self._say(f"The {name} image encoder could not be prepared: {exc}")
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
        try:
            backend = BUILDERS[name](_with_calibration(self.ctx, calibration))
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
        self._save_verdict(name, True, cos, len(held_out))
        self.active = backend
        self._say(
            f"Switched to the {name} image encoder (cosine {cos:.4f} to full precision).",
            logging.INFO,
        )

    def _verdict_ok(self, name: str) -> bool:
        return self.verdicts.get(name, {}).get("ok") is True

    def _say(self, text: str, level: int = logging.WARNING) -> None:
        log.log(level, "%s", text)
        if self.notify is not None:
            self.notify(text)

    def _load_verdicts(self) -> dict[str, dict]:
        path = self.ctx.cache_dir / _VERDICTS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("versions") != _versions():
            # Different software made these: drop the verdicts and the exports with them.
            with contextlib.suppress(OSError):
                shutil.rmtree(self.ctx.cache_dir)
            return {}
        found = data.get("backends", {})
        return found if isinstance(found, dict) else {}

    def _save_verdict(self, name: str, ok: bool, cosine: float, images: int) -> None:
        self.verdicts[name] = {"ok": ok, "cosine": round(cosine, 5), "images": images}
        path = self.ctx.cache_dir / _VERDICTS
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{_VERDICTS}.{os.getpid()}.{threading.get_ident()}")
            payload = {"versions": _versions(), "backends": self.verdicts}
            tmp.write_text(json.dumps(payload, indent=1, allow_nan=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a read-only data dir: checks simply run again next time
            log.warning("cannot save %s: %s", path, exc)


def _with_calibration(ctx: BuildContext, data: np.ndarray) -> BuildContext:
    return BuildContext(ctx.model, ctx.device, ctx.cache_dir, ctx.image_size, ctx.threads, data)
