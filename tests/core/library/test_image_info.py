"""Indexing keeps each photo's full size, format and perceptual hash in the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from photosorter.core.library.cache import MIGRATIONS, ImageInfo, Store
from photosorter.core.library.images import decode_photo
from photosorter.core.library.perceptual import hamming, perceptual_hash
from photosorter.core.library.pipeline import index_photos
from photosorter.core.model.engine import Engine
from tests.fixtures.duplicates import make_scene, render


def test_image_info_round_trips_and_old_stores_migrate(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    for step, script in enumerate(MIGRATIONS[:3]):  # a store made before image_info
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {step + 1}")
    conn.execute(
        "INSERT INTO embeddings VALUES ('h0', 'm', ?)", (np.ones(3, np.float32).tobytes(),)
    )
    conn.commit()
    conn.close()
    with Store(path) as store:
        high = (1 << 64) - 5  # the top bit set: stored as a negative int64
        store.put_image_info([("h1", ImageInfo(4000, 3000, "JPEG", high))])
        assert store.get_image_info(["h1", "h2"]) == {"h1": ImageInfo(4000, 3000, "JPEG", high)}
        store.put_embeddings("m", [("h1", np.full(3, 2, np.float32))])
        hashes, matrix = store.all_embeddings("m")
        assert hashes == ["h0", "h1"] and matrix.tolist() == [[1, 1, 1], [2, 2, 2]]
        assert store.all_embeddings("other")[1].shape == (0, 0)


def test_indexing_stores_full_size_format_and_hash(tmp_path: Path, tiny_spec: str) -> None:
    import random

    img = render(make_scene(random.Random(1), 1), (800, 600))
    jpeg, png, turned = tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "turned.jpg"
    img.save(jpeg, "JPEG", quality=90)
    img.save(png, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.rotate(90, expand=True).save(turned, "JPEG", quality=90, exif=exif)
    with Store(tmp_path / "s.db") as store:
        batches = list(index_photos([jpeg, png, turned], Engine(tiny_spec, "cpu"), store))
        keys = {r.path: r.key for b in batches for r in b.ok}
        info = store.get_image_info(list(keys.values()))
    got = {p.name: info[k] for p, k in keys.items()}
    # the model needs 64 px: the JPEG decodes at 1/8 scale, yet the full size is stored
    assert (got["a.jpg"].width, got["a.jpg"].height, got["a.jpg"].format) == (800, 600, "JPEG")
    assert (got["a.png"].width, got["a.png"].height, got["a.png"].format) == (800, 600, "PNG")
    assert (got["turned.jpg"].width, got["turned.jpg"].height) == (800, 600)  # upright
    hashes = np.array([got[n].phash for n in ("a.jpg", "a.png", "turned.jpg")], np.uint64)
    assert hamming(hashes[:1], hashes).max() <= 2
    full = perceptual_hash(decode_photo(png).image)  # a full decode hashes the same
    assert hamming(np.array([full], np.uint64), hashes[1:2])[0] <= 2
