"""Accelerated image encoders: accuracy against fp32, self-check fallback, cached exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from photosorter.core import accel, accel_backends
from photosorter.core.accel import BUILDERS, Backend, ImageEncoder, candidates, min_cosine
from photosorter.core.engine import Engine
from photosorter.core.errors import ModelError


@pytest.fixture(scope="module")
def model_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small random ViT CLIP in a local-dir folder (same loading path as a user's)."""
    from photosorter.bench import make_model

    return make_model(tmp_path_factory.mktemp("model") / "tiny", "tiny")


@pytest.fixture(scope="module")
def pixels(tmp_path_factory: pytest.TempPathFactory, model_spec: str) -> np.ndarray:
    """Preprocessed real-looking photos (textured JPEGs), 24 of them."""
    from photosorter.bench import make_photos
    from photosorter.core.images import load_for_model

    photos = make_photos(tmp_path_factory.mktemp("photos"), 24, 160, 120)
    spec = Engine(model_spec, "cpu", backend="pytorch").preprocess_spec
    return np.stack([load_for_model(p, spec) for p in photos])


@pytest.fixture(scope="module")
def reference(model_spec: str, pixels: np.ndarray) -> np.ndarray:
    engine = Engine(model_spec, "cpu", backend="pytorch")
    return engine.encode_images(pixels)


def _encoder(engine: Engine, **kwargs) -> ImageEncoder:
    engine.load()
    return ImageEncoder(
        engine.torch_model,
        device="cpu",
        cache_dir=accel.cache_dir_for(engine.model_id, engine.preprocess_spec.size),
        image_size=engine.preprocess_spec.size,
        threads=2,
        **kwargs,
    )


class _Bad(Backend):
    """A broken accelerated path: plausible shape, wrong numbers."""

    name = "openvino-fp32"

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return np.random.default_rng(0).standard_normal((len(pixels), 64)).astype(np.float32)


def test_unknown_backend_is_a_user_error(model_spec: str) -> None:
    with pytest.raises(ModelError, match="backend"):
        Engine(model_spec, "cpu", backend="turbo")


def test_candidates_end_with_plain_pytorch() -> None:
    assert candidates("pytorch", "cpu") == ["pytorch"]
    assert candidates("auto", "cuda") == ["torch-fp16", "pytorch"]
    assert candidates("auto", "mps") == ["pytorch"]
    assert candidates("auto", "cpu")[-1] == "pytorch"
    assert candidates("torch-fp16", "cpu") == ["pytorch"]  # not available on the CPU


def test_torch_bf16_matches_fp32(model_spec: str, pixels: np.ndarray, reference: np.ndarray):
    engine = Engine(model_spec, "cpu", backend="torch-bf16")
    out = engine.encode_images(pixels)
    assert engine.backend == "torch-bf16"
    assert min_cosine(out, reference) >= 0.99


def test_openvino_fp32_matches_and_export_is_reused(
    model_spec: str, pixels: np.ndarray, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    engine = Engine(model_spec, "cpu", backend="openvino-fp32")
    out = engine.encode_images(pixels)
    assert engine.backend == "openvino-fp32"
    assert min_cosine(out, reference) >= 0.99
    folder = engine.image_encoder.ctx.cache_dir
    assert (folder / "visual-fp32.xml").is_file()
    assert json.loads((folder / "verdicts.json").read_text())["backends"]["openvino-fp32"]["ok"]

    # A second load reuses the export and the verdict: no tracing, no fp32 check.
    def no_trace(*_a: object, **_k: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr("torch.jit.trace", no_trace)
    again = Engine(model_spec, "cpu", backend="openvino-fp32")
    assert again.image_encoder.settled
    monkeypatch.setattr(accel, "_build_pytorch", no_trace)  # the fp32 reference is not needed
    np.testing.assert_allclose(again.encode_images(pixels[:4]), out[:4], atol=1e-5)


def test_int8_calibrates_on_photos_then_is_cached(
    model_spec: str, pixels: np.ndarray, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    engine = Engine(model_spec, "cpu")
    enc = _encoder(engine, choice="openvino-int8", calibration_images=12, check_images=4)
    assert enc.pending == "openvino-int8" and enc.name == "pytorch"
    first = enc.encode(pixels[:8])  # not enough photos yet: plain PyTorch meanwhile
    assert enc.name == "pytorch"
    enc.encode(pixels[8:16])  # 16 = 12 to calibrate + 4 to check: quantise and switch
    assert enc.name == "openvino-int8" and enc.settled
    out = enc.encode(pixels)
    assert min_cosine(out, reference) >= 0.99
    assert min_cosine(first, reference[:8]) > 0.9999
    assert (enc.ctx.cache_dir / "visual-int8.xml").is_file()

    monkeypatch.setattr(
        accel_backends, "_quantize_openvino", lambda *a: pytest.fail("quantised again")
    )
    again = _encoder(Engine(model_spec, "cpu"), choice="openvino-int8")
    assert again.name == "openvino-int8" and again.settled


def test_bad_backend_falls_back_and_says_so(
    model_spec: str, pixels: np.ndarray, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = []
    monkeypatch.setitem(BUILDERS, "openvino-fp32", lambda ctx: built.append(1) or _Bad())
    monkeypatch.setattr(accel, "available", lambda name, device: True)
    engine = Engine(model_spec, "cpu", backend="openvino-fp32")
    heard: list[str] = []
    engine.on_notice = heard.append
    out = engine.encode_images(pixels[:6])
    assert engine.backend == "pytorch"
    np.testing.assert_allclose(out, reference[:6], atol=1e-5)  # the batch is not lost
    assert heard and "openvino-fp32" in heard[0] and "cosine" in heard[0]
    assert engine.notices == heard
    verdicts = json.loads((engine.image_encoder.ctx.cache_dir / "verdicts.json").read_text())
    assert verdicts["backends"]["openvino-fp32"]["ok"] is False

    # Next time the failed backend is not even built.
    again = Engine(model_spec, "cpu", backend="openvino-fp32")
    assert again.backend == "pytorch" and len(built) == 1


def test_crashing_backend_falls_back(model_spec: str, pixels: np.ndarray, reference: np.ndarray):
    class Crash(Backend):
        name = "torch-bf16"

        def __call__(self, pixels: np.ndarray) -> np.ndarray:
            raise RuntimeError("illegal instruction, say")

    original = BUILDERS["torch-bf16"]
    BUILDERS["torch-bf16"] = lambda ctx: Crash()
    try:
        engine = Engine(model_spec, "cpu", backend="torch-bf16")
        out = engine.encode_images(pixels[:3])
    finally:
        BUILDERS["torch-bf16"] = original
    assert engine.backend == "pytorch"
    np.testing.assert_allclose(out, reference[:3], atol=1e-5)
    assert "illegal instruction" in engine.notices[0]


def test_verdicts_from_other_software_are_dropped(model_spec: str, tmp_path: Path) -> None:
    engine = Engine(model_spec, "cpu", backend="pytorch")
    enc = _encoder(engine)
    folder = enc.ctx.cache_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "visual-int8.xml").write_text("stale")
    payload = {"versions": "torch=0.0", "backends": {"openvino-int8": {"ok": True}}}
    (folder / "verdicts.json").write_text(json.dumps(payload))
    fresh = _encoder(engine)
    assert fresh.verdicts == {}
    assert not (folder / "visual-int8.xml").exists()


def test_auto_prepares_only_for_a_large_job(
    model_spec: str, pixels: np.ndarray, reference: np.ndarray
) -> None:
    pytest.importorskip("openvino")
    engine = Engine(model_spec, "cpu")  # auto
    engine.plan_images(10)  # a handful of photos: not worth an export
    assert engine.backend == "pytorch"
    assert not (engine.image_encoder.ctx.cache_dir / "visual-fp32.xml").exists()
    engine.plan_images(accel.EXPORT_MIN_PHOTOS)
    assert engine.backend.startswith("openvino-")
    assert min_cosine(engine.encode_images(pixels), reference) >= 0.99
    if "openvino-int8" in candidates("auto", "cpu"):
        assert engine.image_encoder.pending is None  # int8 waits for a still larger job
        engine.plan_images(accel.CALIBRATE_MIN_PHOTOS)
        assert engine.image_encoder.pending == "openvino-int8"

    # Once exported, a later small job uses the export straight away.
    again = Engine(model_spec, "cpu")
    assert again.backend.startswith("openvino-") and again.image_encoder.settled


def test_fp16_cast_builder_matches_fp32(model_spec: str, pixels: np.ndarray, reference: np.ndarray):
    """The CUDA path (weights cast to fp16), run on the CPU here: same code, same numbers."""
    engine = Engine(model_spec, "cpu", backend="pytorch")
    enc = _encoder(engine)
    backend = BUILDERS["torch-fp16"](enc.ctx)
    assert backend.name == "torch-fp16"
    assert min_cosine(backend(pixels), reference) >= 0.99


def test_an_unavailable_choice_says_so(model_spec: str) -> None:
    engine = Engine(model_spec, "cpu", backend="torch-fp16")  # fp16 is for CUDA
    assert engine.backend == "pytorch"
    assert "torch-fp16" in engine.notices[0] and "not available" in engine.notices[0]


def test_an_unwritable_cache_dir_means_no_cache_not_no_encoder(
    model_spec: str,
    pixels: np.ndarray,
    reference: np.ndarray,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The data dir cannot be written (here: below a regular file): the fast encoder is
    prepared in a temporary folder and used; one sentence names the folder, no traceback."""
    pytest.importorskip("openvino")
    (tmp_path / "file").write_text("not a folder")
    engine = Engine(model_spec, "cpu", backend="pytorch")
    engine.load()
    folder = tmp_path / "file" / "accel"
    enc = ImageEncoder(
        engine.torch_model,
        device="cpu",
        choice="openvino-fp32",
        cache_dir=folder,
        image_size=engine.preprocess_spec.size,
        threads=2,
    )
    out = enc.encode(pixels)
    assert enc.name == "openvino-fp32" and enc.settled
    assert min_cosine(out, reference) >= 0.99
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and str(folder) in warned[0].getMessage()
    assert warned[0].exc_info is None
