"""The in-process measurements of `photosorter bench` (see photosorter.bench)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from photosorter.bench.config import Config

CATEGORIES = 20
LIBRARY = 20_000  # the library size the pipeline figure stands for


def _engine(spec: str, backend: str = "auto") -> Any:
    from photosorter.core.model.engine import Engine

    engine = Engine(spec, "cpu", backend=backend)
    engine.load()
    return engine


def _torch_threads(n: int | None) -> int:
    import torch

    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    return old


def decode_figures(photos: list[Path], spec: str, cfg: Config) -> dict:
    """CPU ms per photo, one thread: the pipeline's read + hash + draft decode + preprocess,
    and a full decode + open_clip's own preprocess (what the naive baseline does)."""
    from PIL import Image

    from photosorter.core.library.images import file_digest, load_for_model

    engine = _engine(spec, "pytorch")
    pspec = engine.preprocess_spec
    transform = _open_clip_transform(engine)

    def draft(files: list[Path] = photos) -> None:
        for path in files:
            data = path.read_bytes()
            file_digest(data)
            load_for_model(data, pspec)

    previewed = with_previews(photos, photos[0].parent.parent / "previewed")

    few = photos[:16]  # the slow path: a sample is enough

    def full() -> None:
        for path in few:
            with Image.open(path) as img:
                transform(img.convert("RGB"))

    old = _torch_threads(1)  # single-threaded, torchvision's tensor ops included
    try:
        _, draft_cpu = _timed_cpu(draft, cfg.reps)
        _, preview_cpu = _timed_cpu(lambda: draft(previewed), cfg.reps)
        _, full_cpu = _timed_cpu(full, max(1, cfg.reps // 2))
    finally:
        _torch_threads(old)
    return {
        "draft_cpu_ms": round(draft_cpu / len(photos) * 1e3, 2),
        "preview_cpu_ms": round(preview_cpu / len(photos) * 1e3, 2),
        "full_cpu_ms": round(full_cpu / len(few) * 1e3, 2),
    }


def with_previews(photos: list[Path], folder: Path) -> list[Path]:
    """The photos again, each carrying an MPF preview as cameras write them (1620 pixels on
    the long side), made once and kept beside the photos."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in photos:
        target = folder / path.name
        if not target.exists():
            with Image.open(path) as img:
                img.load()
                scale = 1620 / max(img.size)
                preview = img.resize((round(img.width * scale), round(img.height * scale)))
                img.save(
                    target,
                    "MPO",
                    save_all=True,
                    append_images=[preview],
                    quality=90,
                    exif=img.getexif().tobytes(),
                )
        out.append(target)
    return out


def _timed_cpu(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    from photosorter.bench.config import timed

    return timed(fn, reps)


def _open_clip_transform(engine: Any) -> Any:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = dict(engine.torch_model.visual.preprocess_cfg)
    fields = PreprocessCfg.__dataclass_fields__
    return image_transform_v2(PreprocessCfg(**{k: v for k, v in cfg.items() if k in fields}), False)


def preprocessed(photos: list[Path], engine: Any) -> np.ndarray:
    from photosorter.core.library.images import load_for_model

    return np.stack([load_for_model(p, engine.preprocess_spec) for p in photos])


def backends_figures(
    photos: list[Path], spec: str, cfg: Config, say: Callable[[str], None]
) -> dict:
    """Model-only throughput of each backend on preprocessed photos, interleaved, at the
    pipeline's batch size; cosine similarity of its embeddings to eager fp32."""
    import torch

    from photosorter.core import paths
    from photosorter.core.model.accel import (
        BUILDERS,
        BuildContext,
        available,
        min_cosine,
        native_bf16,
    )

    engine = _engine(spec, "pytorch")
    pixels = preprocessed(photos, engine)
    reps = -(-cfg.batch_size // len(pixels))
    batch = np.ascontiguousarray(np.concatenate([pixels] * reps)[: cfg.batch_size])
    cache = paths.data_dir() / "bench-backends"
    size = engine.preprocess_spec.size
    ctx = BuildContext(engine.torch_model, "cpu", cache, size, torch.get_num_threads())
    names = ["pytorch", "openvino-fp32", "openvino-bf16", "openvino-int8", "torch-bf16"]
    if not native_bf16():
        names = [n for n in names if "bf16" not in n]
    built: dict[str, Any] = {}
    figures: dict[str, dict] = {}
    reference = None
    for name in names:
        if not available(name, "cpu"):
            continue
        say(f"  preparing {name}")
        held = max(1, len(pixels) // 4)
        calib = pixels[:-held] if len(pixels) > held else pixels
        start = time.perf_counter()
        backend = BUILDERS[name](
            BuildContext(ctx.model, ctx.device, ctx.cache_dir, size, ctx.threads, calib)
        )
        prepare = time.perf_counter() - start
        out = np.concatenate([backend(pixels[i : i + 32]) for i in range(0, len(pixels), 32)])
        reference = out if reference is None else reference
        cos = min_cosine(out, reference)
        built[name] = backend
        figures[name] = {"prepare_s": round(prepare, 2), "cosine_min": round(cos, 5)}
    walls: dict[str, list[float]] = {n: [] for n in built}
    cpus: dict[str, list[float]] = {n: [] for n in built}
    for rep in range(cfg.reps + 1):  # interleaved: every backend sees the same conditions
        for name, backend in built.items():
            w, c = time.perf_counter(), time.process_time()
            backend(batch)
            if rep:  # the first round is the warm-up
                walls[name].append(time.perf_counter() - w)
                cpus[name].append(time.process_time() - c)
    for name in built:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        figures[name]["img_per_s"] = round(len(batch) / wall, 2)
        figures[name]["cpu_ms_per_img"] = round(cpu / len(batch) * 1e3, 2)
    return figures


def pipeline_figures(
    photos: list[Path], spec: str, cfg: Config, report: dict, say: Callable[[str], None]
) -> dict:
    """scan -> read + hash -> decode -> preprocess -> encode -> cache, on the JPEGs, with the
    backend the app picks; first the first-run cost (export, calibration, checks)."""
    from photosorter.core.library.cache import Store
    from photosorter.core.library.pipeline import index_photos
    from photosorter.core.library.scanner import scan

    folder = photos[0].parent
    runs = 0
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp_name:
        tmp = Path(tmp_name)

        def one_pass() -> None:
            nonlocal runs
            runs += 1
            with Store(tmp / f"run{runs}.sqlite3") as store:
                found = list(scan([folder]))
                for _ in index_photos(found, engine, store, batch_size=cfg.batch_size):
                    pass
            (tmp / f"run{runs}.sqlite3").unlink()

        start = time.perf_counter()
        engine = _engine(spec, "auto")
        engine.plan_images(LIBRARY)  # prepare as the app would for a large library
        from photosorter.core.model.accel import CALIBRATION_IMAGES, CHECK_IMAGES

        # Until calibration and self-checks are done, as on a first run (on repeated photos).
        one_pass()
        decided = list(engine.image_encoder.decisions)  # made for the library, on batch one
        for _ in range(1 + (CALIBRATION_IMAGES + CHECK_IMAGES) // len(photos)):
            if engine.image_encoder.settled:
                break
            one_pass()
        first_run = time.perf_counter() - start
        say(f"  backend {engine.backend}; first run {first_run:.1f}s")
        wall, cpu = _timed_cpu(one_pass, cfg.reps)
    n = len(photos)
    decode_s = report["decode"]["draft_cpu_ms"] / 1e3
    preview_s = report["decode"]["preview_cpu_ms"] / 1e3
    infer = report["backends"].get(engine.backend, {}).get("cpu_ms_per_img")
    bound = _cores() / (decode_s + infer / 1e3) if infer else None
    # The same bound for a library whose photos carry embedded previews (decoded instead).
    preview_bound = _cores() / (preview_s + infer / 1e3) if infer else None
    ips = n / wall
    return {
        "backend": engine.backend,
        "img_per_s": round(ips, 2),
        "cpu_ms_per_img": round(cpu / n * 1e3, 2),
        "bound_img_per_s": round(bound, 2) if bound else None,
        "bound_with_previews_img_per_s": round(preview_bound, 2) if preview_bound else None,
        "fraction_of_bound": round(ips / bound, 3) if bound else None,
        "first_run_s": round(first_run, 1),
        "notices": list(engine.notices),
        "auto": auto_choice(engine.image_encoder, decided),
    }


def auto_choice(encoder: Any, decided: list) -> dict:
    """Which encoder auto runs and why (its timings on these photos), what it prepared for
    the library, and whether int8 calibration would pay for jobs of a few sizes."""
    from photosorter.core.model.accel_choice import CALIBRATED, preparations

    costs = encoder.costs  # int8 timed once it exists; else estimated from openvino-fp32
    ready = [n for n in costs.per_photo if n != CALIBRATED]
    int8 = {}
    for photos in (400, 2_000, LIBRARY):
        found = preparations([CALIBRATED], ready, costs, photos, exported=True)
        int8[photos] = {"worth": found[0].worth, "why": found[0].why} if found else None
    return {
        "backend": encoder.name,
        "why": encoder.why,
        "ms_per_photo": {k: round(v * 1e3, 2) for k, v in costs.ranked_items()},
        "prepare_s": dict(costs.prepare),
        "library_decisions": [{"worth": d.worth, "why": d.why} for d in decided],
        "int8_for_a_job_of": int8,
    }


def _cores() -> int:
    from photosorter.bench.config import cores

    return cores()


def naive_figure(photos: list[Path], spec: str, cfg: Config) -> dict:
    """Per photo: PIL open + full decode + open_clip preprocess + eager fp32 encode."""
    import torch
    from PIL import Image

    engine = _engine(spec, "pytorch")
    model = engine.torch_model
    transform = _open_clip_transform(engine)
    sample = photos[: 8 if cfg.quick else 16]
    times = []
    with torch.inference_mode():
        for i, path in enumerate([sample[0], *sample]):
            start = time.perf_counter()
            with Image.open(path) as img:
                pixels = transform(img.convert("RGB"))
            model.encode_image(pixels[None])
            if i:
                times.append(time.perf_counter() - start)
    per = statistics.median(times)
    return {"img_per_s": round(1 / per, 2), "ms_per_img": round(per * 1e3, 1), "n": len(times)}


def text_figure(spec: str, cfg: Config) -> dict:
    """Text tower cost per prompt (a batch of category prompts, eager fp32)."""
    engine = _engine(spec, "pytorch")
    prompts = [f"a photo of category number {i}." for i in range(CATEGORIES)]
    wall, _ = _timed_cpu(lambda: engine.encode_texts(prompts), max(1, cfg.reps // 2))
    return {"ms_per_prompt": round(wall / len(prompts) * 1e3, 2), "prompts": len(prompts)}


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 100_000):  # chunked: no float64 temporaries of the whole array
        block = rng.standard_normal((min(100_000, n - i), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[i : i + len(block)] = block
    return out


def rescore_figures(cfg: Config) -> list[dict]:
    """Re-scoring cached embeddings (512-d) against 20 categories after an edit: no image."""
    from photosorter.core.model.classifier import CategoryMatrix, classify
    from photosorter.core.model.engine import ScoringParams

    prompts = unit_vectors(CATEGORIES, 512, 1)
    matrix = CategoryMatrix(prompts, np.arange(CATEGORIES), tuple(f"c{i}" for i in range(20)))
    params = ScoringParams(100.0, None)
    out = []
    for n in cfg.rescore_n:
        emb = unit_vectors(n, 512, 2)
        wall, _ = _timed_cpu(lambda e=emb: classify(e, matrix, params, 0.2, 0.05), cfg.reps)
        out.append({"n": n, "k": CATEGORIES, "seconds": round(wall, 4)})
        del emb
    return out


def rescore_examples_figure(cfg: Config) -> dict:
    """After a drag: learn from 200 example photos, then re-score 100k cached photos x 20
    categories; the per-photo vocabulary bounds are computed once, as the GUI keeps them."""
    from photosorter.core.model.classifier import (
        CategoryMatrix,
        Examples,
        classify,
        vocabulary_bounds,
        with_examples,
    )
    from photosorter.core.model.engine import ScoringParams
    from photosorter.core.model.vocabulary import VOCABULARY

    n, shots = (10_000 if cfg.quick else 100_000), 200
    vocab = unit_vectors(len(VOCABULARY), 512, 4)
    matrix = CategoryMatrix(
        unit_vectors(CATEGORIES, 512, 1),
        np.arange(CATEGORIES),
        tuple(f"c{i}" for i in range(20)),
        vocab,
    )
    examples = Examples(unit_vectors(shots, 512, 5), np.arange(shots) % CATEGORIES)
    params = ScoringParams(100.0, None)
    emb = unit_vectors(n, 512, 2)
    bounds_s, _ = _timed_cpu(lambda: vocabulary_bounds(emb, matrix), 1)
    bounds = vocabulary_bounds(emb, matrix)

    def rescore() -> None:
        classify(emb, with_examples(matrix, examples, params), params, bounds=bounds)

    wall, _ = _timed_cpu(rescore, cfg.reps)
    learn, _ = _timed_cpu(lambda: with_examples(matrix, examples, params), cfg.reps)
    return {
        "n": n,
        "k": CATEGORIES,
        "examples": shots,
        "seconds": round(wall, 4),
        "learn_s": round(learn, 4),
        "vocabulary_bounds_s": round(bounds_s, 4),
        "vocabulary": len(VOCABULARY),
    }


def cache_load_figure(cfg: Config) -> dict:
    """Loading 100k cached embeddings (by content key) from the SQLite store."""
    from photosorter.core.library.cache import Store

    n = 10_000 if cfg.quick else 100_000
    emb = unit_vectors(n, 512, 3)
    keys = [f"{i:032x}" for i in range(n)]
    with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp, Store(Path(tmp) / "s.db") as store:
        start = time.perf_counter()
        store.put_embeddings("bench", zip(keys, emb, strict=True))
        write = time.perf_counter() - start
        wall, _ = _timed_cpu(lambda: store.get_embeddings("bench", keys), cfg.reps)
    return {"n": n, "seconds": round(wall, 3), "write_s": round(write, 2)}
