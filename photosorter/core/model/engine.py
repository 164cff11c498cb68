"""OpenCLIP wrapper: a ModelSpec names a model; an Engine loads it lazily and encodes.

torch and open_clip are imported inside methods only, so importing this module is cheap
and the GUI window can appear before the multi-second torch import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from photosorter.core.errors import ModelDownloadError, ModelError
from photosorter.core.filehashes import cached_file_hash
from photosorter.core.model import BACKENDS, DEFAULT_ARCH, DEFAULT_MODEL, DEFAULT_TAG  # noqa: F401 - re-exported

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from photosorter.core.library.images import PreprocessSpec

log = logging.getLogger(__name__)

LOCAL_PREFIX = "local-dir:"
HUB_PREFIX = "hf-hub:"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")

# How a photo is framed for the model, whatever the model's own eval transform does: the
# whole frame squashed to the model's square, so a subject near the edge is seen (open_clip's
# default crops the centre square). Part of every cache key: see `embedding_model_id`.
FRAMING = "squash"

OFFLINE_HINT = (
    "Connect to the internet once so it can be downloaded, or point PhotoSorter at a local "
    "model folder (one holding open_clip_config.json and the weights) with "
    "--model local-dir:PATH or in Settings > Model."
)


@dataclass(frozen=True)
class ModelSpec:
    """Names a model: `ARCH:TAG` (open_clip pretrained), `hf-hub:ORG/NAME` or `local-dir:PATH`."""

    kind: str  # "pretrained" | "hf-hub" | "local-dir"
    name: str  # architecture, hub repo id, or absolute folder path
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        text = text.strip()
        if not text:
            raise ModelError("empty model name")
        if text.startswith(LOCAL_PREFIX):
            folder = text[len(LOCAL_PREFIX) :].strip()
            if not folder:
                raise ModelError("local-dir: needs a folder path, e.g. local-dir:/models/my-clip")
            return cls("local-dir", str(Path(folder).expanduser().resolve()))
        if text.startswith(HUB_PREFIX):
            repo = text[len(HUB_PREFIX) :].strip()
            if repo.count("/") != 1:
                raise ModelError(f"hf-hub: needs ORG/NAME, got {repo!r}")
            return cls("hf-hub", repo)
        arch, _, tag = text.partition(":")
        return cls("pretrained", arch.strip(), tag.strip() or None)

    def __str__(self) -> str:
        if self.kind == "local-dir":
            return LOCAL_PREFIX + self.name
        if self.kind == "hf-hub":
            return HUB_PREFIX + self.name
        return f"{self.name}:{self.tag}" if self.tag else self.name

    @property
    def open_clip_name(self) -> str:
        return str(self) if self.kind != "pretrained" else self.name

    def model_id(self) -> str:
        """A stable id for cache keys; for a local folder it changes when the weights do."""
        if self.kind != "local-dir":
            return str(self)
        folder = Path(self.name)
        digest = hashlib.blake2b(digest_size=12)
        for path in (folder / "open_clip_config.json", find_weights(folder)):
            if path is not None and path.is_file():  # every byte: a tensor updated in place
                digest.update(f"{path.name}:{cached_file_hash(path)}".encode())
        return f"local:{folder.name}:{digest.hexdigest()}"


def embedding_model_id(weights_id: str) -> str:
    """The store's key for a model's vectors: its weights and how photos are framed for it,
    so vectors made with another framing are never served."""
    return f"{weights_id}|{FRAMING}"


def find_weights(folder: Path) -> Path | None:
    """The checkpoint open_clip would pick in a local model folder (safetensors first)."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    files.sort(key=lambda p: (p.suffix != ".safetensors", not p.name.startswith("open_clip")))
    return files[0] if files else None


def pick_device(requested: str | None = None) -> str:
    """CUDA > MPS > CPU unless the user asked for one."""
    if requested and requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


@dataclass(frozen=True)
class ScoringParams:
    """What the classifier needs from a model; cached so a re-sort needs no model load."""

    logit_scale: float
    logit_bias: float | None  # SigLIP models have one: scores use sigmoid, not softmax

    @property
    def is_sigmoid(self) -> bool:
        return self.logit_bias is not None


class Engine:
    """Owns one open_clip model. Thread-safe for one user at a time (a lock guards it)."""

    def __init__(
        self, spec: ModelSpec | str, device: str | None = None, backend: str = "auto"
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"Unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
        self.spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
        self.requested_device = device
        self.requested_backend = backend
        self.notices: list[str] = []  # plain-words news about the image encoder (fallbacks)
        self.on_notice: Callable[[str], None] | None = None
        self._encoder: Any = None
        self.device: str | None = None
        self.model_id = embedding_model_id(self.spec.model_id())
        self._model: Any = None
        self._tokenizer: Any = None
        self._preprocess: PreprocessSpec | None = None
        self._params: ScoringParams | None = None
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, status: Callable[[str], None] | None = None) -> None:
        """Import torch, fetch weights if needed, build the model. Idempotent."""
        with self._lock:
            if self._model is not None:
                return
            self._validate()
            if status:
                status("Loading PyTorch…")
            import open_clip
            import torch

            self.device = pick_device(self.requested_device)
            if self.device == "cpu":
                torch.set_num_threads(max(1, os.cpu_count() or 1))
            if self.spec.kind != "local-dir":
                self._prefetch(status)
            if status:
                status(f"Loading model {self.spec}…")
            try:
                model, _, _ = open_clip.create_model_and_transforms(
                    self.spec.open_clip_name,
                    pretrained=self.spec.tag if self.spec.kind == "pretrained" else None,
                    device=self.device,
                    weights_only=True,
                )
                tokenizer = open_clip.get_tokenizer(self.spec.open_clip_name)
            except Exception as exc:
                raise self._explain(exc) from exc
            model.eval()
            self._model, self._tokenizer = model, tokenizer
            from photosorter.core.library.images import PreprocessSpec

            cfg = model.visual.preprocess_cfg
            size = cfg["size"]
            self._preprocess = PreprocessSpec(
                size=int(size if isinstance(size, int) else size[0]),
                mean=tuple(float(v) for v in cfg["mean"]),
                std=tuple(float(v) for v in cfg["std"]),
                interpolation=cfg.get("interpolation", "bicubic"),
                resize_mode=FRAMING,
            )
            bias = getattr(model, "logit_bias", None)
            self._params = ScoringParams(
                logit_scale=float(model.logit_scale.exp().item()),
                logit_bias=float(bias.item()) if bias is not None else None,
            )

    def _prefetch(self, status: Callable[[str], None] | None) -> None:
        """Download the weights with progress in MB (a no-op when they are cached); without a
        connection, say so after one short attempt instead of open_clip's minute of retries."""
        from photosorter.core.model.download import is_network_error, prefetch_weights

        last = [-1]

        def report(done: int, total: int | None) -> None:
            mb = done >> 20
            if status is None or mb == last[0]:
                return
            last[0] = mb
            if total is None and not done:
                status(f"Downloading model {self.spec}…")
                return
            of = f" of {total >> 20}" if total else ""
            status(f"Downloading model {self.spec}: {mb}{of} MB…")

        try:
            prefetch_weights(self.spec.kind, self.spec.name, self.spec.tag, report)
        except Exception as exc:
            if is_network_error(exc):
                raise self._offline() from exc
            raise

    def _validate(self) -> None:
        spec = self.spec
        if spec.kind == "local-dir":
            folder = Path(spec.name)
            if not folder.is_dir():
                raise ModelError(f"Model folder not found: {folder}")
            if not (folder / "open_clip_config.json").is_file():
                raise ModelError(
                    f"{folder} is not an open_clip model folder: no open_clip_config.json"
                )
            if find_weights(folder) is None:
                raise ModelError(f"{folder} holds no weights (.safetensors, .bin or .pth)")
            try:
                json.loads((folder / "open_clip_config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"{folder}/open_clip_config.json is not valid JSON: {exc}"
                ) from None
        elif spec.kind == "pretrained":
            import open_clip

            if spec.name not in open_clip.list_models():
                raise ModelError(
                    f"Unknown model architecture {spec.name!r}. "
                    "Run `photosorter models` to list the available ones."
                )
            tags = open_clip.list_pretrained_tags_by_model(spec.name)
            if not spec.tag:
                raise ModelError(
                    f"Model {spec.name!r} needs pretrained weights: use {spec.name}:TAG "
                    f"with TAG one of {', '.join(tags) or '(none available)'}"
                )
            if spec.tag not in tags:
                raise ModelError(
                    f"Unknown weights {spec.tag!r} for {spec.name}; "
                    f"available: {', '.join(tags) or '(none)'}"
                )

    def _explain(self, exc: Exception) -> ModelError:
        """Turn open_clip/huggingface failures into one plain sentence a user can act on."""
        if self.spec.kind == "local-dir":
            return ModelError(f"Could not load the model in {self.spec.name}: {exc}")
        from photosorter.core.model.download import is_network_error

        if is_network_error(exc):
            return self._offline()
        return ModelError(f"Could not load the model {self.spec}: {exc}")

    def _offline(self) -> ModelDownloadError:
        return ModelDownloadError(
            f"The model {self.spec} could not be downloaded: no connection to the internet "
            "(or to the Hugging Face hub). " + OFFLINE_HINT
        )

    # -- what callers need -----------------------------------------------------------
    @property
    def preprocess_spec(self) -> PreprocessSpec:
        self.load()
        assert self._preprocess is not None
        return self._preprocess

    @property
    def scoring_params(self) -> ScoringParams:
        self.load()
        assert self._params is not None
        return self._params

    @property
    def torch_model(self) -> Any:
        self.load()
        return self._model

    @property
    def backend(self) -> str:
        """The image encoder in use now (builds it: may export a model the first time)."""
        with self._lock:
            return self.image_encoder.name

    @property
    def image_encoder(self) -> Any:
        """The self-checking accelerated image encoder (photosorter.core.model.accel)."""
        with self._lock:
            if self._encoder is None:
                import torch

                from photosorter.core.model.accel import ImageEncoder, cache_dir_for

                model = self.torch_model
                size = self.preprocess_spec.size
                self._encoder = ImageEncoder(
                    model,
                    device=self.device or "cpu",
                    choice=self.requested_backend,
                    cache_dir=cache_dir_for(self.model_id, size),
                    image_size=size,
                    threads=torch.get_num_threads(),
                    notify=self._notice,
                )
            return self._encoder

    def plan_images(self, count: int) -> None:
        """Announce a job of about `count` new photos: a large one pays for preparing a faster
        image encoder once (an export, an int8 calibration), cached for every later job."""
        with self._lock:
            self.image_encoder.plan(count)

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        if self.on_notice is not None:
            self.on_notice(text)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 preprocessed pixels -> (N, D) L2-normalised float32."""
        with self._lock:
            feats = self.image_encoder.encode(np.ascontiguousarray(batch, dtype=np.float32))
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return (feats / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Texts -> (N, D) L2-normalised float32 text embeddings."""
        import torch

        out = []
        with self._lock, torch.inference_mode():
            model = self.torch_model
            for i in range(0, len(texts), batch_size):
                tokens = self._tokenizer(list(texts[i : i + batch_size])).to(self.device)
                out.append(_normalise(model.encode_text(tokens)))
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(out)


def _normalise(feats: torch.Tensor) -> np.ndarray:
    feats = feats.float()
    feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return feats.cpu().numpy().astype(np.float32, copy=False)
