"""Accelerated image encoders: accuracy against fp32, self-check fallback, cached exports."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.errors import ModelError
from photosorter.core.model import accel, accel_backends, accel_choice
from photosorter.core.model.accel import BUILDERS, Backend, ImageEncoder, candidates, min_cosine
from photosorter.core.model.accel_choice import CostTable, preparations
from photosorter.core.model.engine import Engine


@pytest.fixture(scope="module")
def model_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small random ViT CLIP in a local-dir folder (same loading path as a user's)."""
    from photosorter.bench.inputs import make_model

    return make_model(tmp_path_factory.mktemp("model") / "tiny", "tiny")


@pytest.fixture(scope="module")
def pixels(tmp_path_factory: pytest.TempPathFactory, model_spec: str) -> np.ndarray:
    """Preprocessed real-looking photos (textured JPEGs), 24 of them."""
    from photosorter.bench.inputs import make_photos
    from photosorter.core.library.images import load_for_model

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
    assert fresh.record.verdicts == {}
    assert not (folder / "visual-int8.xml").exists()


def test_auto_prepares_only_for_a_large_job(
    model_spec: str, pixels: np.ndarray, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is made when the timings say it pays for the photos waiting (timings are
    injected: eager 50 ms/photo here, so OpenVINO would save ~27 ms/photo against a 3 s export)."""
    pytest.importorskip("openvino")
    monkeypatch.setattr(accel_choice, "time_backends", _fake_timings({"pytorch": 0.050}))
    engine = Engine(model_spec, "cpu")  # auto
    engine.plan_images(10)  # a handful of photos: not worth an export
    engine.encode_images(pixels[:8])
    assert not (engine.image_encoder.ctx.cache_dir / "visual-fp32.xml").exists()
    assert not any(p.worth for p in engine.image_encoder.decisions)
    engine.plan_images(1000)
    engine.encode_images(pixels[:8])
    assert (engine.image_encoder.ctx.cache_dir / "visual-fp32.xml").is_file()
    assert engine.backend.startswith("openvino-")  # timed at 20 ms/photo: the fastest
    assert min_cosine(engine.encode_images(pixels), reference) >= 0.99

    # Once exported and timed, a later small job uses the export straight away.
    again = Engine(model_spec, "cpu")
    assert again.backend.startswith("openvino-")


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
    caplog.set_level(logging.WARNING, logger="photosorter")  # whatever logging others set up
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


# -- auto: measured costs, not CPU flags (timings injected: nothing real is timed) ----------
XEON = {"pytorch": 0.110, "openvino-fp32": 0.066, "openvino-bf16": 0.110, "torch-bf16": 0.120}
EPYC = {"pytorch": 0.084, "openvino-fp32": 0.039, "openvino-bf16": 0.019, "torch-bf16": 0.023}


def _fake_timings(table: dict[str, float], calls: list[list[str]] | None = None):
    """A stand-in for accel_choice.time_backends: the table's seconds, others at 20 ms."""

    def timings(backends, pixels):
        if calls is not None:
            calls.append(sorted(backends))
        return {name: table.get(name, 0.020) for name in backends}

    return timings


class _Renamed(Backend):
    """An accurate stand-in for an accelerated backend: eager fp32 under another name."""

    def __init__(self, name: str, inner: Backend) -> None:
        self.name, self.inner = name, inner

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.inner(pixels)


@pytest.fixture
def fake_accelerated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every accelerated backend is available, exported and accurate (eager fp32 renamed)."""
    built: list[str] = []
    for name in ("openvino-int8", "openvino-bf16", "openvino-fp32", "torch-bf16"):

        def build(ctx, name=name):
            built.append(name)
            return _Renamed(name, accel._build_pytorch(ctx))

        monkeypatch.setitem(BUILDERS, name, build)
    monkeypatch.setattr(accel, "available", lambda name, device: True)
    monkeypatch.setattr(accel, "native_bf16", lambda: True)
    monkeypatch.setattr(accel, "_x86", lambda: True)
    return built


def _exported(engine: Engine, *files: str) -> None:
    folder = accel.cache_dir_for(engine.model_id, engine.preprocess_spec.size)
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file).write_text("cached")


@pytest.mark.parametrize(("table", "fastest"), [(XEON, "openvino-fp32"), (EPYC, "openvino-bf16")])
def test_auto_runs_the_fastest_measured_not_what_the_flags_suggest(
    model_spec: str, pixels: np.ndarray, fake_accelerated, table, fastest
) -> None:
    """AVX512-BF16 without AMX (the Xeon): bf16 is slower there, so fp32 runs; on the EPYC
    bf16 is the faster one. The same CPU flags, different measurements, different picks."""
    engine = Engine(model_spec, "cpu")
    engine.load()
    _exported(engine, "visual-fp32.xml")
    enc = _encoder(engine, costs=CostTable(dict(table)))
    assert enc.name == fastest
    enc.encode(pixels)  # proven against fp32 on these photos, then kept
    assert enc.name == fastest and enc.settled
    assert fastest in enc.why and "ms/photo" in enc.why


def test_timings_are_measured_once_per_model_and_machine(
    model_spec: str, pixels: np.ndarray, fake_accelerated, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(accel_choice, "time_backends", _fake_timings(XEON, calls))
    engine = Engine(model_spec, "cpu")
    engine.load()
    _exported(engine, "visual-fp32.xml")
    enc = _encoder(engine)
    enc.encode(pixels[:4])  # too few photos to time by
    assert calls == []
    enc.encode(pixels[:12])
    assert calls == [["openvino-bf16", "openvino-fp32", "pytorch", "torch-bf16"]]
    assert enc.name == "openvino-fp32"
    saved = json.loads((enc.ctx.cache_dir / "verdicts.json").read_text())["costs"]
    assert saved["per_photo"]["openvino-bf16"] == XEON["openvino-bf16"]
    assert saved["machine"] == accel_choice.machine_id()

    again = _encoder(engine)  # a later run: the saved timings, no new timing
    again.encode(pixels[:12])
    assert len(calls) == 1 and again.name == "openvino-fp32"

    monkeypatch.setattr(accel_choice, "machine_id", lambda: "another machine")
    elsewhere = _encoder(engine)  # the data dir moved to another machine: timed again
    elsewhere.encode(pixels[:12])
    assert len(calls) == 2


def test_the_fastest_that_fails_its_check_gives_way_to_the_next(
    model_spec: str, pixels: np.ndarray, fake_accelerated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BUILDERS, "openvino-bf16", lambda ctx: _Bad())
    _Bad.name = "openvino-bf16"
    try:
        engine = Engine(model_spec, "cpu")
        engine.load()
        _exported(engine, "visual-fp32.xml")
        enc = _encoder(engine, costs=CostTable(dict(EPYC)))
        assert enc.name == "openvino-bf16"
        enc.encode(pixels[:8])
    finally:
        _Bad.name = "openvino-fp32"
    assert enc.name == "torch-bf16"  # the next fastest measured (23 ms against 39)


def test_int8_calibration_is_decided_by_photos_waiting() -> None:
    """int8 is not timed before it is calibrated: its cost is estimated from openvino-fp32,
    and calibration is worth it only when the photos waiting repay it."""
    costs = CostTable(dict(XEON), {"export": 3.0})
    ready = ["openvino-fp32", "openvino-bf16", "pytorch", "torch-bf16"]
    candidates = ["openvino-int8", *ready]

    def int8(photos: int):
        found = preparations(candidates, ready, costs, photos, exported=True)
        return next(p for p in found if p.name == "openvino-int8")

    # 66 ms/photo measured, int8 about 19 ms: ~47 ms saved per photo vs ~20 s calibration.
    assert not int8(400).worth
    assert int8(1000).worth
    assert "1000 photos" in int8(1000).why
    costs.prepare["openvino-int8"] = 5.0  # timed once: a cheaper calibration than guessed
    assert int8(400).worth
    # Nothing to prepare for what is ready already; nothing decided before any timing.
    assert all(p.name == "openvino-int8" for p in preparations(candidates, ready, costs, 10, True))
    assert preparations(candidates, ready, CostTable(), 10_000, True) == []


def test_a_made_calibration_serves_every_later_job(
    model_spec: str, pixels: np.ndarray, fake_accelerated
) -> None:
    engine = Engine(model_spec, "cpu")
    engine.load()
    _exported(engine, "visual-fp32.xml", "visual-int8.xml")
    table = dict(XEON, **{"openvino-int8": 0.020})
    enc = _encoder(engine, costs=CostTable(table))
    enc.plan(3)  # a tiny job: int8 is ready, so it runs
    assert enc.name == "openvino-int8" and enc.pending is None


def test_auto_calibrates_when_the_job_repays_it(
    model_spec: str, pixels: np.ndarray, fake_accelerated
) -> None:
    engine = Engine(model_spec, "cpu")
    engine.load()
    _exported(engine, "visual-fp32.xml")
    enc = _encoder(engine, costs=CostTable(dict(XEON)), calibration_images=12, check_images=4)
    enc.plan(400)
    assert enc.pending is None and enc.name == "openvino-fp32"
    enc.plan(5000)
    assert enc.pending == "openvino-int8"
