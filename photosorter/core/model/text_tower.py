"""Fast text encoding without torch: the text tower exported once to OpenVINO IR.

A new search query would otherwise pay for `import torch` and a model load (seconds). The
first time a model encodes text with torch here, its text tower is traced, converted to an
fp32 OpenVINO IR, checked against torch (cosine >= MIN_COSINE on sample prompts) and saved
under the data dir per model id; later queries tokenize with the torch-free tokenizer
(photosorter.core.model.tokenizer) and run the IR with OpenVINO alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.core import paths
from photosorter.core.model.accel_backends import _import_openvino, _ov_core, _save_ir
from photosorter.core.model.engine import Engine, ModelSpec
from photosorter.core.model.tokenizer import ClipTokenizer, tokenizer_for

log = logging.getLogger(__name__)

MIN_COSINE = 0.999  # the exported tower must match torch at least this well
IR_NAME = "text-fp32.xml"
VERDICT_NAME = "text-verdict.json"
# Prompts the export is checked on: short, long, punctuation, non-ASCII.
CHECK_PROMPTS = (
    "a photo of a dog.",
    "red",
    "receipts and documents",
    "a blurry photo of a beach at sunset with people walking along the shore",
    "Fotoğraf: café au lait, 写真!",
    "",
)

_export_lock = threading.Lock()


def tower_dir(model_id: str) -> Path:
    """Where the exported text tower of a model lives (under the data dir's accel/)."""
    digest = hashlib.blake2b(model_id.encode(), digest_size=10).hexdigest()
    return paths.data_dir() / "accel" / f"text-{digest}"


class TextTower:
    """An exported text tower: texts -> (N, D) L2-normalised float32, without torch."""

    def __init__(self, xml: Path, tokenizer: ClipTokenizer) -> None:
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            # the compiled model is kept beside the IR: the next process loads it in about
            # half the time a compile takes (the weights are already in the CPU's layout)
            "CACHE_DIR": str(xml.parent / "compiled"),
        }
        self.compiled = _ov_core().compile_model(str(xml), "CPU", config)
        self.tokenizer = tokenizer

    @classmethod
    def open(cls, spec: ModelSpec, model_id: str) -> TextTower | None:
        """The model's exported tower; None when not exported (yet) or not possible."""
        xml = tower_dir(model_id) / IR_NAME
        if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
            return None
        tokenizer = tokenizer_for(spec.kind, spec.name)
        return cls(xml, tokenizer) if tokenizer is not None else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        result = self.compiled({0: self.tokenizer(list(texts))})
        return _normalise(np.asarray(result[0], dtype=np.float32))


def encode_texts(engine: Engine, texts: Sequence[str]) -> np.ndarray:
    """`engine.encode_texts`, by the exported tower when there is one (no torch, no model
    load); otherwise with torch, exporting the tower for next time."""
    tower = TextTower.open(engine.spec, engine.model_id)
    if tower is not None:
        return tower.encode(texts)
    vectors = engine.encode_texts(texts)
    try:
        export_text_tower(engine)
    except Exception as exc:  # an optimisation: torch answered already, it stays in use
        log.warning("text tower export failed: %s", exc)
    return vectors


def export_text_tower(engine: Engine) -> Path | None:
    """Export and check the engine's text tower once (needs torch); the IR, or None when the
    model's tokenizer needs open_clip or the export did not match torch."""
    folder = tower_dir(engine.model_id)
    xml = folder / IR_NAME
    with _export_lock:
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            return xml
        if _rejected(folder):
            return None
        tokenizer = tokenizer_for(engine.spec.kind, engine.spec.name)
        if tokenizer is None:
            return None
        model = engine.torch_model
        if engine.device != "cpu":  # trace a CPU copy: the IR runs on the CPU
            model = copy.deepcopy(model).cpu().float()
        converted = _convert(model, tokenizer.context_length)
        core = _ov_core()
        compiled = core.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        fast = _normalise(np.asarray(compiled({0: tokenizer(CHECK_PROMPTS)})[0], np.float32))
        cosine = float(np.min(np.sum(fast * engine.encode_texts(CHECK_PROMPTS), axis=1)))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VERDICT_NAME).write_text(json.dumps({"min_cosine": cosine}), encoding="utf-8")
        if cosine < MIN_COSINE:
            log.warning("exported text tower rejected: cosine %.5f to torch", cosine)
            return None
        _save_ir(_import_openvino(), converted, xml)
        return xml


def _rejected(folder: Path) -> bool:
    try:
        verdict = json.loads((folder / VERDICT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return float(verdict.get("min_cosine", 1.0)) < MIN_COSINE


def _convert(model: Any, context_length: int) -> Any:
    """Trace `model.encode_text` (token ids -> raw features) into an OpenVINO model."""
    import torch

    ov = _import_openvino()

    class TextTower(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.inner.encode_text(tokens)

    tower = TextTower(model).eval()
    example = torch.ones(2, context_length, dtype=torch.long)
    example[:, -1] = 2  # an end token whose id is the largest (pooled by argmax)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated, still the way in
        traced = torch.jit.trace(tower, example, check_trace=False)
        return ov.convert_model(traced, input=[((-1, context_length), ov.Type.i64)])


def _normalise(feats: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return (feats / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
