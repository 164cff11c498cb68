"""Search: ranking by a query vector, combined queries, words with the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photosorter.core.find.search import combine, rank, text_query
from photosorter.core.library.cache import Store
from photosorter.core.library.pipeline import index_photos
from photosorter.core.model.engine import Engine
from tests.fixtures.photoset import make_photoset


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def test_rank_orders_best_first_and_limits() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng.standard_normal((500, 16)))
    query = vectors[7]
    full = rank(vectors, query)
    expected = np.argsort(-(vectors @ query), kind="stable")
    assert full.index.tolist() == expected.tolist()
    assert np.all(np.diff(full.score) <= 0)
    top = rank(vectors, query, limit=10)
    assert top.index.tolist() == expected[:10].tolist()
    assert top.index[0] == 7 and top.score[0] == pytest.approx(1.0)
    assert len(rank(vectors, query, limit=1000)) == 500
    assert len(rank(vectors[:0], query, limit=5)) == 0


def test_rank_breaks_ties_by_row() -> None:
    vectors = _unit(np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32))
    assert rank(vectors, np.array([1, 0], np.float32), limit=2).index.tolist() == [0, 2]


def test_combined_query_weighs_each_part_on_its_own_scale() -> None:
    """Words spread similarities narrowly, a photo widely: each still counts as much."""
    rng = np.random.default_rng(1)
    dim = 64
    words, photo = np.eye(dim, dtype=np.float32)[0], np.eye(dim, dtype=np.float32)[1]
    # photos: a narrow spread along `words` (0.1 wide), a wide one along `photo` (0.8 wide)
    a = rng.uniform(0.0, 0.1, 1000)
    b = rng.uniform(0.0, 0.8, 1000)
    rest = rng.standard_normal((1000, dim - 2)) * 0.05
    vectors = _unit(np.column_stack([a, b, rest]))
    q = combine([words, photo], vectors)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    scores = vectors @ q
    # a photo's standing on each part moves its combined score about equally
    gain_words = np.corrcoef(scores, (vectors @ words))[0, 1]
    gain_photo = np.corrcoef(scores, (vectors @ photo))[0, 1]
    assert gain_words == pytest.approx(gain_photo, abs=0.15)
    # the plain sum of unit vectors would let the photo part decide alone
    plain = vectors @ _unit(words + photo)
    assert np.corrcoef(plain, vectors @ words)[0, 1] < gain_words - 0.3
    assert combine([photo], vectors) == pytest.approx(photo)
    with pytest.raises(ValueError):
        combine([], vectors)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_spec: str):
    folder = tmp_path_factory.mktemp("photos")
    photoset = make_photoset(folder, n=48, bad_files=False)
    store = Store(tmp_path_factory.mktemp("store") / "s.db")
    engine = Engine(tiny_spec, "cpu")
    batches = list(index_photos(sorted(photoset.labels), engine, store))
    photos = [r for b in batches for r in b.ok]
    vectors = np.concatenate([b.vectors for b in batches if b.ok])
    yield engine, store, photoset, photos, vectors
    store.close()


@pytest.mark.parametrize("colour", ["red", "blue", "green"])
def test_words_rank_matching_photos_first(indexed, colour: str) -> None:
    engine, store, photoset, photos, vectors = indexed
    found = rank(vectors, text_query(engine, store, colour), limit=8)
    best = [photoset.colour_of(photos[i].path) for i in found.index]
    n_colour = sum(1 for label in photoset.labels.values() if label[1] == colour)
    assert best[:n_colour] == [colour] * n_colour


def test_text_query_is_stored_and_served_without_the_model(indexed, monkeypatch) -> None:
    engine, store, *_ = indexed
    first = text_query(engine, store, "a yellow star")
    assert "a yellow star" in store.get_text_embeddings(engine.model_id, ["a yellow star"])
    fresh = Engine(engine.spec, "cpu")
    monkeypatch.setattr(fresh, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    np.testing.assert_array_equal(text_query(fresh, store, "a yellow star"), first)


def test_words_and_photo_find_photos_like_both(indexed) -> None:
    """ "red" + a blue circle: red circles first, not blue ones nor other red shapes."""
    engine, store, photoset, photos, vectors = indexed
    like = next(i for i, r in enumerate(photos) if photoset.labels[r.path] == ("circle", "blue"))
    query = combine([text_query(engine, store, "red"), vectors[like]], vectors)
    found = rank(vectors, query, limit=3)
    labels = [photoset.labels[photos[i].path] for i in found.index if i != like]
    assert labels[:2] == [("circle", "red")] * 2, labels
    alone = rank(vectors, vectors[like], limit=3)
    assert photoset.labels[photos[alone.index[1]].path] == ("circle", "blue")
    assert isinstance(photos[0].path, Path)
