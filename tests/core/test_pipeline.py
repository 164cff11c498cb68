"""index_photos: decode pool + batched encode + cache, with the image encoder it plans for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photosorter.core import accel, accel_choice
from photosorter.core.cache import Store
from photosorter.core.engine import Engine
from photosorter.core.pipeline import index_photos


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from photosorter.bench import make_photos

    return make_photos(tmp_path_factory.mktemp("photos"), 10, 200, 150)


def test_small_job_needs_no_export_and_second_run_opens_nothing(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    engine = Engine(tiny_spec, "cpu")  # auto
    with Store(tmp_path / "s.db") as store:
        batches = list(index_photos(photos, engine, store, batch_size=4, workers=2))
        ok = [r for b in batches for r in b.ok]
        assert len(ok) == len(photos) and not any(r.error for b in batches for r in b.results)
        vectors = np.concatenate([b.vectors for b in batches if len(b.ok)])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert not engine.backend.startswith("openvino")  # 10 photos do not pay for an export
        assert not (engine.image_encoder.ctx.cache_dir / "visual-fp32.xml").exists()

        again = list(index_photos(photos, engine, store, batch_size=4))
        assert again[-1].progress.cached == len(photos)


def test_large_job_switches_to_an_accelerated_encoder(
    photos: list[Path], tiny_spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    slow = {"pytorch": 2.0, "torch-bf16": 2.0}  # s/photo: these 10 photos repay an export
    timings = lambda backends, pixels: {n: slow.get(n, 0.01) for n in backends}  # noqa: E731
    monkeypatch.setattr(accel_choice, "time_backends", timings)
    reference = Engine(tiny_spec, "cpu", backend="pytorch")
    engine = Engine(tiny_spec, "cpu")
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        fast = list(index_photos(photos, engine, a, batch_size=8))
        plain = list(index_photos(photos, reference, b, batch_size=8))
    assert engine.backend.startswith("openvino-")
    got = np.concatenate([x.vectors for x in fast if len(x.ok)])
    want = np.concatenate([x.vectors for x in plain if len(x.ok)])
    assert accel.min_cosine(got, want) >= 0.99
