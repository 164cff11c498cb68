"""Example photos of categories: from the categories file and from the user's corrections.

Example files are indexed through the normal pipeline and cache (each photo is decoded at
most once, ever); manual overrides in the store are examples already embedded. Both become
one `Examples` value that `classifier.with_examples` adapts the category matrix to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from photosorter.core.categories import Category, CategorySet
from photosorter.core.errors import ConfigError, PhotoSorterError
from photosorter.core.library.cache import Store
from photosorter.core.library.pipeline import index_photos
from photosorter.core.library.scanner import scan
from photosorter.core.model.classifier import Examples
from photosorter.core.model.engine import Engine


def load_examples(categories: CategorySet, engine: Engine, store: Store) -> Examples:
    """The categories file's example photos plus the store's manual overrides."""
    return file_examples(categories, engine, store) + override_examples(
        store, engine.model_id, categories.names
    )


def file_examples(categories: CategorySet, engine: Engine, store: Store) -> Examples:
    """Embeddings of every example photo the categories file lists (folders expanded).

    A missing, unreadable or undecodable example raises ConfigError naming the categories
    file, the line of its category and the photo: a silent skip would change the results.
    """
    owner_of: dict[Path, int] = {}
    for k, cat in enumerate(categories.categories):
        for path in _example_files(categories, cat):
            owner_of.setdefault(path, k)
    if not owner_of:
        return Examples.none()
    paths = list(owner_of)
    vectors, owners = [], []
    for batch in index_photos(paths, engine, store):
        for result in batch.results:
            if result.error:
                cat = categories.categories[owner_of[result.path]]
                raise _bad_example(categories, cat, f"example {result.path}: {result.error}")
        vectors.extend(batch.vectors[: len(batch.ok)])
        owners.extend(owner_of[r.path] for r in batch.ok)
    return Examples(np.asarray(vectors, dtype=np.float32), np.asarray(owners, dtype=np.int64))


def override_examples(store: Store, model: str, names: Sequence[str]) -> Examples:
    """The photos the user placed by hand into one of `names`, as examples."""
    index = {name: k for k, name in enumerate(names)}
    rows = [(index[c], v) for _h, c, v in store.override_embeddings(model) if c in index]
    if not rows:
        return Examples.none()
    return Examples(
        np.stack([v for _k, v in rows]).astype(np.float32),
        np.asarray([k for k, _v in rows], dtype=np.int64),
    )


def _example_files(categories: CategorySet, cat: Category) -> list[Path]:
    files: list[Path] = []
    for entry in cat.examples:
        try:
            found = list(scan([entry]))
        except PhotoSorterError as exc:
            raise _bad_example(categories, cat, f"example {exc}") from None
        if not found:
            raise _bad_example(categories, cat, f"example folder {entry} holds no photos")
        files.extend(found)
    return files


def _bad_example(categories: CategorySet, cat: Category, problem: str) -> ConfigError:
    where = str(categories.source) if categories.source else "<categories>"
    line = f", line {cat.line}" if cat.line else ""
    return ConfigError(f"{where}{line}: category {cat.name!r}: {problem}")
