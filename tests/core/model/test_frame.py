"""The whole frame reaches the model: subjects at the edges are seen, and vectors made with
another framing are never served from the cache."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosorter.core.categories import parse_categories
from photosorter.core.library.cache import Store
from photosorter.core.library.images import file_digest, to_model_input
from photosorter.core.library.pipeline import index_photos
from photosorter.core.model import engine as engine_mod
from photosorter.core.model.classifier import build_matrix, classify
from photosorter.core.model.engine import Engine
from tests.fixtures.shapes import COLOURS, SHAPES, draw_scene

RED, BLUE = (220, 20, 30), (25, 60, 225)


@pytest.fixture(scope="module")
def engine(tiny_spec: str, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The tiny model, its config naming open_clip's centre crop as most CLIP models' do."""
    folder = tmp_path_factory.mktemp("model") / "centre-crop-clip"
    shutil.copytree(tiny_spec.removeprefix("local-dir:"), folder)
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["preprocess_cfg"]["resize_mode"] = "shortest"
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    return Engine(f"local-dir:{folder}", "cpu", backend="pytorch")


def test_the_model_input_holds_the_whole_frame(engine: Engine) -> None:
    # 4:3, a red band on the left and a blue one on the right: a centre crop drops both.
    img = Image.new("RGB", (400, 300), (255, 255, 255))
    img.paste(RED, (0, 0, 40, 300))
    img.paste(BLUE, (360, 0, 400, 300))
    spec = engine.preprocess_spec
    arr = to_model_input(img, spec)
    mean, std = np.array(spec.mean), np.array(spec.std)
    for column, colour in ((0, RED), (spec.size - 1, BLUE)):
        want = (np.array(colour) / 255 - mean) / std
        np.testing.assert_allclose(arr[:, :, column].mean(axis=1), want, atol=0.05)


def edge_photos(folder: Path, count: int) -> dict[Path, tuple[str, str]]:
    """16:9 and 9:16 photos, each shape wholly in a side band, outside the centre square."""
    rng = random.Random(2024)
    labels = {}
    for i in range(count):
        shape, colour = SHAPES[i % len(SHAPES)], list(COLOURS)[i % len(COLOURS)]
        along = 0.11 if i % 2 else 0.89  # the band's middle, 35 of 320 px from the edge
        across = rng.uniform(0.2, 0.8)
        wide = i % 4 < 2
        size, centre = ((320, 180), (along, across)) if wide else ((180, 320), (across, along))
        path = folder / f"edge {i:02d}.png"
        draw_scene(shape, colour, rng, size, diameter=(0.38, 0.38), centre=centre).save(path)
        labels[path] = shape, colour
    return labels


def categories_for(names: list[str]):
    return parse_categories("".join(f'[[category]]\nname = "{n}"\n' for n in names))


def test_subjects_at_the_edges_are_classified(engine: Engine, tmp_path: Path) -> None:
    labels = edge_photos(tmp_path, 48)
    with Store(tmp_path / "s.db") as store:
        batches = list(index_photos(list(labels), engine, store, batch_size=16, workers=2))
        ok = [r.path for b in batches for r in b.ok]
        vectors = np.concatenate([b.vectors for b in batches if len(b.ok)])
        assert len(ok) == len(labels)
        # Before: the centre crop held no shape, only the busy background.
        for names, field, least in ((list(SHAPES), 0, 0.8), (list(COLOURS), 1, 0.98)):
            matrix = build_matrix(engine, store, categories_for(names))
            found = classify(vectors, matrix, engine.scoring_params)
            got = [names[k] for k in found.index]
            right = sum(g == labels[p][field] for g, p in zip(got, ok, strict=True))
            assert right >= least * len(ok), (names, right)


def test_vectors_of_another_framing_are_not_served(engine: Engine, tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    draw_scene("star", "red", random.Random(1), (320, 240), centre=(0.1, 0.5)).save(photo)
    stale = np.full(64, 1 / 8, dtype=np.float32)  # as if made with the centre crop
    with Store(tmp_path / "s.db") as store:
        store.put_embeddings(engine.spec.model_id(), [(file_digest(photo.read_bytes()), stale)])
        [batch] = list(index_photos([photo], engine, store))
    assert batch.progress.cached == 0
    assert not np.allclose(batch.vectors[0], stale)


def test_the_cache_key_names_the_framing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine.preprocess_spec.resize_mode == engine_mod.FRAMING
    monkeypatch.setattr(engine_mod, "FRAMING", "shortest")
    assert Engine(engine.spec, "cpu").model_id != engine.model_id
