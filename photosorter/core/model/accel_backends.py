"""Image-encoder backends for photosorter.core.model.accel: eager/cast PyTorch and OpenVINO.

Each builder turns the fp32 open_clip model into a callable (N, 3, S, S) -> (N, D) float32;
OpenVINO exports and int8 models are written atomically under the model's cache folder.
torch, openvino and nncf are imported lazily; openvino's telemetry is kept off.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import platform
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class Backend:
    """Runs an image tower: (N, 3, S, S) float32 pixels -> (N, D) float32 raw features."""

    name = "?"

    def __call__(self, pixels: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class TorchBackend(Backend):
    """Eager PyTorch, with the given module and weight dtype."""

    def __init__(self, name: str, module: Any, device: str, dtype: Any) -> None:
        self.name, self.module, self.device, self.dtype = name, module, device, dtype

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(pixels).to(self.device, self.dtype)
            return _first(self.module(x)).float().cpu().numpy()


class OpenVINOBackend(Backend):
    """An OpenVINO IR compiled for the CPU as single-threaded streams, one per thread.

    A batch is split across the streams, which run side by side without synchronising: a
    stream preempted by a decode thread (or another program) stalls no other.
    """

    def __init__(self, name: str, xml: Path, precision: str, threads: int) -> None:
        core = _ov_core()
        streams = max(1, int(threads))
        config = {
            "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY",
            "NUM_STREAMS": streams,
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": int(threads),
        }
        self.name = name
        self.compiled = core.compile_model(core.read_model(str(xml)), "CPU", config)
        self.requests = [self.compiled.create_infer_request() for _ in range(streams)]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        parts = np.array_split(pixels, min(len(self.requests), max(1, len(pixels))))
        busy = list(zip(self.requests, parts, strict=False))  # fewer parts than streams
        for request, part in busy:
            request.start_async({0: part}, share_inputs=True)
        for request, _ in busy:
            request.wait()
        out = [np.array(r.get_output_tensor(0).data, dtype=np.float32) for r, _ in busy]
        return np.concatenate(out) if len(out) > 1 else out[0]


@dataclass
class BuildContext:
    """What a backend builder may use: the fp32 torch model, where to cache, what to run on."""

    model: Any  # the open_clip model, fp32, eval mode
    device: str
    cache_dir: Path
    image_size: int
    threads: int
    calibration: np.ndarray | None = None  # the user's photos, preprocessed (int8 only)


Builder = Callable[[BuildContext], Backend]


# -- what this machine can do -----------------------------------------------------------
def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags (Linux /proc/cpuinfo); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16() -> bool:
    """True when the CPU computes bf16 natively (else bf16 is slower than fp32)."""
    if _importable("openvino"):
        with contextlib.suppress(Exception):
            return "BF16" in _ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def available(name: str, device: str) -> bool:
    """Whether backend `name` can run here at all (installed packages, device)."""
    if name == "pytorch":
        return True
    if name == "torch-fp16":
        return device == "cuda"
    if name == "torch-bf16":
        return device == "cpu"
    if name.startswith("openvino"):
        ok = device == "cpu" and _importable("openvino")
        return ok and (name != "openvino-int8" or _importable("nncf"))
    return name in BUILDERS


# -- builders ----------------------------------------------------------------------------
def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _build_pytorch(ctx: BuildContext) -> Backend:
    import torch

    return TorchBackend("pytorch", _ImageTower.wrap(ctx.model), ctx.device, torch.float32)


def _build_torch_cast(name: str, dtype_name: str) -> Builder:
    def build(ctx: BuildContext) -> Backend:
        import torch

        dtype = getattr(torch, dtype_name)
        # A cast copy of the tower: autocast would be slower (MHA loses its fast path).
        module = copy.deepcopy(ctx.model.visual).to(ctx.device, dtype).eval()
        return TorchBackend(name, module, ctx.device, dtype)

    return build


def _build_openvino(name: str, precision: str) -> Builder:
    def build(ctx: BuildContext) -> Backend:
        xml = _export_openvino(ctx)
        return OpenVINOBackend(name, xml, precision, ctx.threads)

    return build


def _build_openvino_int8(ctx: BuildContext) -> Backend:
    xml = ctx.cache_dir / "visual-int8.xml"
    if not xml.is_file():
        if ctx.calibration is None:
            raise RuntimeError("int8 quantisation needs calibration photos")
        _quantize_openvino(ctx, _export_openvino(ctx), xml)
    precision = "bf16" if native_bf16() else "f32"
    return OpenVINOBackend("openvino-int8", xml, precision, ctx.threads)


BUILDERS: dict[str, Builder] = {
    "pytorch": _build_pytorch,
    "torch-bf16": _build_torch_cast("torch-bf16", "bfloat16"),
    "torch-fp16": _build_torch_cast("torch-fp16", "float16"),
    "openvino-fp32": _build_openvino("openvino-fp32", "f32"),
    "openvino-bf16": _build_openvino("openvino-bf16", "bf16"),
    "openvino-int8": _build_openvino_int8,
}


class _ImageTower:
    """Wraps `model.encode_image` as a module (so exports trace exactly what encode runs)."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        class ImageTower(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return _first(self.inner.encode_image(x))

        return ImageTower(model).eval()


_export_lock = threading.Lock()


def _export_openvino(ctx: BuildContext) -> Path:
    """The image tower as an fp32 OpenVINO IR, exported once per model (then cached)."""
    xml = ctx.cache_dir / "visual-fp32.xml"
    with _export_lock:
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            return xml
        import torch

        ov = _import_openvino()
        tower = _ImageTower.wrap(ctx.model).cpu()
        example = torch.zeros(2, 3, ctx.image_size, ctx.image_size)
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.trace is deprecated, still the way in
            traced = torch.jit.trace(tower, example, check_trace=False)
            converted = ov.convert_model(traced, input=[(-1, 3, ctx.image_size, ctx.image_size)])
        _save_ir(ov, converted, xml)
        return xml


def _quantize_openvino(ctx: BuildContext, fp32_xml: Path, out: Path) -> None:
    """Static int8 (NNCF post-training quantisation) calibrated on the user's photos."""
    assert ctx.calibration is not None
    ov = _import_openvino()
    nncf = _import_nncf()
    import rich

    data = ctx.calibration
    batches = [data[i : i + 1] for i in range(len(data))]
    model = _ov_core().read_model(str(fp32_xml))
    console = rich.get_console()
    quiet, console.quiet = console.quiet, True  # nncf draws progress bars on the terminal
    try:
        quantized = nncf.quantize(
            model,
            nncf.Dataset(batches),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(batches),
        )
    finally:
        console.quiet = quiet
    _save_ir(ov, quantized, out)


def _save_ir(ov: Any, model: Any, xml: Path) -> None:
    """Write an IR atomically: readers see the old one, nothing, or the whole new one."""
    xml.parent.mkdir(parents=True, exist_ok=True)
    tmp = xml.with_name(f".{xml.stem}.{os.getpid()}.{threading.get_ident()}.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
    os.replace(tmp, xml)


_ov_lock = threading.Lock()
_ov_core_obj: Any = None


def _import_openvino() -> Any:
    """openvino, with its telemetry switched off: nothing of the user's leaves the machine."""
    _block_telemetry()
    import openvino

    return openvino


class _DropNoCuda(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No CUDA runtime is found" not in record.getMessage()


def _import_nncf() -> Any:
    _block_telemetry()
    import nncf

    nncf.set_log_level(logging.ERROR)
    return nncf


def _block_telemetry() -> None:
    # openvino's converter and nncf send usage statistics unless the user opted out; both
    # fall back to a stub when openvino_telemetry cannot be imported.
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
    # Both import torch.utils.cpp_extension, which warns on every CPU-only machine.
    cpp_log = logging.getLogger("torch.utils.cpp_extension")
    if not any(isinstance(f, _DropNoCuda) for f in cpp_log.filters):
        cpp_log.addFilter(_DropNoCuda())


def _ov_core() -> Any:
    global _ov_core_obj
    with _ov_lock:
        if _ov_core_obj is None:
            _ov_core_obj = _import_openvino().Core()
        return _ov_core_obj
