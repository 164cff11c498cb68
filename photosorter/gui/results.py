"""The current result set: photos, their embeddings in memory, and where each one goes.

Qt-free. Keeping the (N, D) vectors here is what makes a category edit instant: a new
category matrix plus one `classify` call re-places every photo without reading an image.
Each photo's vocabulary bounds (the open-set evidence) are kept beside its vector, so a
re-score only compares photos with the categories. Example photos (the categories file's
and the user's corrections) adapt the matrix first (`with_examples`). Manual overrides win
over the model, exactly as in `core.pipeline.assign`. What placing needs, and placing
itself, are in scoring.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from photosorter.core.categories import UNCATEGORIZED
from photosorter.core.find.search import best_of, similarities
from photosorter.core.library.catalogue import Listing
from photosorter.core.library.pipeline import IndexBatch
from photosorter.core.model.classifier import (
    Assignments,
    CategoryMatrix,
    Examples,
    review_order,
    vocabulary_bounds,
    with_examples,
)
from photosorter.gui.columns import Column, PathColumn, sort_names
from photosorter.gui.scoring import Placement, Scoring, place, same

UNCATEGORIZED_INDEX = -1
ERROR_INDEX = -2
GONE_INDEX = -3  # the file was deleted: the row stays (indexes are stable) but never shows
_PLACE_ROWS = 65_536  # photos placed per step: their vectors are gathered (copied) at once


class ResultSet:
    """Photos in arrival order; row i has a path, a content key or an error, a placement."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.paths = PathColumn()
        self.keys: list[str | None] = []
        self._key_rows: dict[str, list[int]] | None = None  # built when first asked
        self.errors: list[str | None] = []
        self._vec_row = Column(np.int64, -1)
        self._category = Column(np.int32, ERROR_INDEX)
        self._score = Column(np.float32, 0.0)
        self._manual = Column(np.bool_, False)
        self._margin = Column(np.float32, 0.0)
        self._size = Column(np.int64, 0)  # bytes, for sorting by size
        self._raw = Column(np.bool_, False)  # a RAW+JPEG pair (the row is its JPEG)
        self._mtime = Column(np.float64, 0.0)  # seconds, for sorting by file date
        self._name = Column(np.bytes_, b"")  # lower-cased file names, for sorting by name
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._n_vectors = 0
        self._bounds = np.zeros((0, 2), dtype=np.float32)  # per vector row: vocabulary low/high
        self._n_bounds = 0  # vector rows whose bounds are computed (for `_vocabulary`)
        self._vocabulary: np.ndarray | None = None
        self.scoring: Scoring | None = None
        self._matrix: CategoryMatrix | None = None  # scoring.matrix adapted to the examples
        self.examples = Examples.none()  # the file's and the user's, as the matrix learned
        self._corrections = Examples.none()
        self.overrides: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.paths)

    # -- filling ------------------------------------------------------------------------
    def add_batch(self, batch: IndexBatch, raws: frozenset[Path] = frozenset()) -> range:
        """Append a batch from the indexer (`raws`: its photos with a RAW companion);
        returns the new rows."""
        start = len(self.paths)
        vec_of = {id(r): i for i, r in enumerate(batch.ok)}
        rows_ok = []
        rows_unsorted = []  # found, no error, no embedding (yet): no model to sort them
        vec_rows = []
        for r in batch.results:
            row = len(self.paths)
            self.paths.append(r.path)
            self.keys.append(r.key)
            i = vec_of.get(id(r))
            self.errors.append(r.error if i is None else None)
            vec_rows.append(-1 if i is None else self._n_vectors + i)
            if i is not None:
                rows_ok.append(row)
            elif r.error is None:
                rows_unsorted.append(row)
        self._append_vectors(batch.vectors if batch.ok else None)
        n = len(self.paths) - start
        self._vec_row.extend(np.asarray(vec_rows, dtype=np.int64))
        self._category.extend(np.full(n, ERROR_INDEX, dtype=np.int32))
        self._score.extend(np.zeros(n, dtype=np.float32))
        self._manual.extend(np.zeros(n, dtype=np.bool_))
        self._margin.extend(np.zeros(n, dtype=np.float32))
        self._size.extend(np.asarray([r.size for r in batch.results], dtype=np.int64))
        self._raw.extend(np.asarray([r.path in raws for r in batch.results], dtype=np.bool_))
        self._mtime.extend(np.asarray([r.mtime_ns / 1e9 for r in batch.results]))
        self._name.extend(sort_names(os.fspath(r.path) for r in batch.results))
        self._category.data[rows_unsorted] = UNCATEGORIZED_INDEX
        self._index_keys(start)
        self._place(np.asarray(rows_ok, dtype=np.int64))
        return range(start, len(self.paths))

    def add_listing(
        self, listing: Listing, has_raw: np.ndarray | None = None, names: np.ndarray | None = None
    ) -> range:
        """Append the photos the store knows (no embeddings yet: Uncategorized); `has_raw`:
        which have a RAW beside them, `names`: their `sort_names` (given: worked out off the
        GUI thread). Returns the new rows. Columns only: no object per photo besides its
        path and key strings."""
        start, n = len(self.paths), len(listing)
        self.paths.raw.extend(listing.paths)
        self.keys.extend(listing.keys)
        self.errors.extend([None] * n)
        self._vec_row.extend(np.full(n, -1, dtype=np.int64))
        self._category.extend(np.full(n, UNCATEGORIZED_INDEX, dtype=np.int32))
        self._score.extend(np.zeros(n, dtype=np.float32))
        self._manual.extend(np.zeros(n, dtype=np.bool_))
        self._margin.extend(np.zeros(n, dtype=np.float32))
        self._size.extend(listing.sizes)
        self._raw.extend(np.zeros(n, dtype=np.bool_) if has_raw is None else has_raw)
        self._mtime.extend(listing.mtimes_ns / 1e9)
        self._name.extend(sort_names(listing.paths) if names is None else names)
        self._index_keys(start)
        return range(start, start + n)

    def attach_vectors(
        self,
        rows: range,
        vectors: np.ndarray,
        has: np.ndarray,
        bounds: np.ndarray | None = None,
        vocabulary: np.ndarray | None = None,
    ) -> None:
        """The embeddings of listed `rows` (`vectors[i]` for rows[i] where `has[i]`), then
        place them. Into an empty set the matrix is taken as it is, spare rows included: a
        million embeddings are never copied; so are their vocabulary `bounds` when given."""
        n = len(rows)
        if not n or not vectors.size:
            return
        base = self._n_vectors
        if base == 0:
            self._vectors, self._n_vectors = vectors, n
            if bounds is not None and vocabulary is not None:
                self._bounds, self._n_bounds, self._vocabulary = bounds, n, vocabulary
        else:
            self._append_vectors(vectors[:n])
        self._vec_row.data[rows.start : rows.stop] = np.where(has, base + np.arange(n), -1)
        self._place(np.arange(rows.start, rows.stop)[has])

    @property
    def _rows_of_key(self) -> dict[str, list[int]]:
        """content key -> its rows (copies of a photo share one), built on first use."""
        if self._key_rows is None:
            self._key_rows = {}
            self._index_keys(0)
        return self._key_rows  # type: ignore[return-value]

    def _index_keys(self, start: int) -> None:
        """Add rows from `start` on to the key index, when it is built."""
        if self._key_rows is None:
            return
        for row in range(start, len(self.keys)):
            key = self.keys[row]
            if key is not None:
                self._key_rows.setdefault(key, []).append(row)

    def _append_vectors(self, vectors: np.ndarray | None) -> None:
        if vectors is None or not len(vectors):
            return
        need = self._n_vectors + len(vectors)
        if self._vectors.shape[1] != vectors.shape[1] or need > len(self._vectors):
            room = max(need, len(self._vectors) * 5 // 4, 64)  # not 2x: 1M x 512 floats is 2 GB
            grown = np.zeros((room, vectors.shape[1]), np.float32)
            if self._n_vectors:
                grown[: self._n_vectors] = self._vectors[: self._n_vectors]
            self._vectors = grown
        self._vectors[self._n_vectors : need] = vectors
        self._n_vectors = need

    # -- placing ------------------------------------------------------------------------
    def set_scoring(
        self,
        scoring: Scoring,
        corrections: Examples | None = None,
        placed: Placement | None = None,
    ) -> None:
        """New categories, options or examples: re-place every photo from the vectors in
        memory. `corrections`: the user's manual placements as examples (None: the same);
        `placed`: the placement worked out already (taken if it fits, else placed here)."""
        if corrections is None:
            corrections = self._corrections
        self.scoring, self._corrections = scoring, corrections
        self.examples = scoring.file_examples + corrections
        self._matrix = with_examples(scoring.matrix, self.examples, scoring.params)
        if not same(self._vocabulary, scoring.matrix.vocabulary):  # a new model
            self._vocabulary, self._n_bounds = scoring.matrix.vocabulary, 0
        if placed is not None and placed.fits(scoring, self.examples, self._vectors):
            self._take(placed.found)
        else:
            self.rescore()

    def example_counts(self) -> dict[str, int]:
        """Example photos per category name (the categories file's and the user's)."""
        counts = np.bincount(self.examples.owner, minlength=len(self.names))
        return {name: int(counts[k]) for k, name in enumerate(self.names)}

    def rescore(self) -> None:
        vec_rows = self._vec_row.view
        self._place(np.flatnonzero(vec_rows >= 0))

    def set_overrides(self, overrides: dict[str, str]) -> None:
        self.overrides = dict(overrides)
        self.rescore()

    def pin(self, keys: Iterable[str], category: str | None) -> list[int]:
        """Record a manual placement (None: back to automatic); returns the changed rows."""
        keys = set(keys)
        for key in keys:
            if category is None:
                self.overrides.pop(key, None)
            else:
                self.overrides[key] = category
        vec_rows = self._vec_row.data
        found = sorted(r for k in keys for r in self._rows_of_key.get(k, ()) if vec_rows[r] >= 0)
        rows = np.asarray(found, dtype=np.int64)
        self._place(rows)
        return found

    def _take(self, found: Assignments) -> None:
        """Every photo with an embedding placed as `found` says for its vector row (those
        past it placed here), then the manual placements."""
        rows = np.flatnonzero(self._vec_row.view >= 0)
        vec_rows = self._vec_row.view[rows]
        known = vec_rows < len(found.index)
        taken, vec_rows = rows[known], vec_rows[known]
        self._category.data[taken] = found.index[vec_rows]
        self._score.data[taken] = found.score[vec_rows]
        self._margin.data[taken] = found.margin[vec_rows]
        self._manual.data[taken] = False
        self._place(rows[~known])
        self._pin_rows(taken)

    def _place(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        category, score, manual = self._category.data, self._score.data, self._manual.data
        if self.scoring is None or self._matrix is None or not self._n_vectors:
            category[rows], score[rows], manual[rows] = UNCATEGORIZED_INDEX, 0.0, False
        else:
            for start in range(0, len(rows), _PLACE_ROWS):
                self._classify(rows[start : start + _PLACE_ROWS], self.scoring, self._matrix)
        self._pin_rows(rows)

    def _pin_rows(self, rows: np.ndarray) -> None:
        """Of `rows`, those the user placed by hand go where the user put them."""
        if not self.overrides or not len(rows):
            return
        category, score, manual = self._category.data, self._score.data, self._manual.data
        index_of = {n: i for i, n in enumerate(self.scoring.names if self.scoring else ())}
        index_of[UNCATEGORIZED] = UNCATEGORIZED_INDEX
        placing = np.zeros(len(self.paths), dtype=np.bool_)
        placing[rows] = True
        for key, chosen in self.overrides.items():  # a few, not one per photo
            for row in self._rows_of_key.get(key, ()):
                if placing[row] and chosen in index_of:
                    category[row], manual[row] = index_of[chosen], True
                    score[row] = 0.0 if chosen == UNCATEGORIZED else 1.0

    def _classify(self, rows: np.ndarray, s: Scoring, matrix: CategoryMatrix) -> None:
        """Place `rows` (each with an embedding) by the model."""
        vec_rows = self._vec_row.data[rows]
        found = place(self._vectors[vec_rows], self._bounds_of(vec_rows), s, matrix)
        self._category.data[rows] = found.index
        self._score.data[rows] = found.score
        self._margin.data[rows] = found.margin
        self._manual.data[rows] = False

    def _bounds_of(self, vec_rows: np.ndarray) -> np.ndarray:
        """The vocabulary bounds of these vector rows, computing only those not known yet
        (new photos, or every photo after a new model)."""
        if self._n_bounds < self._n_vectors and self._matrix is not None:
            if len(self._bounds) < len(self._vectors):
                grown = np.zeros((len(self._vectors), 2), dtype=np.float32)
                grown[: self._n_bounds] = self._bounds[: self._n_bounds]
                self._bounds = grown
            new = slice(self._n_bounds, self._n_vectors)
            self._bounds[new] = vocabulary_bounds(self._vectors[new], self._matrix)
            self._n_bounds = self._n_vectors
        return self._bounds[vec_rows]

    # -- reading ------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return self.scoring.names if self.scoring else ()

    @property
    def category_index(self) -> np.ndarray:
        """Per row: category index, -1 Uncategorized, -2 error, -3 deleted."""
        return self._category.view

    @property
    def scores(self) -> np.ndarray:
        return self._score.view

    @property
    def manual(self) -> np.ndarray:
        return self._manual.view

    @property
    def margins(self) -> np.ndarray:
        """Per row: the score minus the runner-up's (small: the model was unsure)."""
        return self._margin.view

    @property
    def has_raw(self) -> np.ndarray:
        """Per row: whether the photo is a RAW+JPEG pair."""
        return self._raw.view

    @property
    def sizes(self) -> np.ndarray:
        """Per row: the file's size in bytes (0 when it could not be read)."""
        return self._size.view

    @property
    def sort_names(self) -> np.ndarray:
        """Per row: the file's name, lower-cased, as UTF-8 bytes (`columns.sort_names`)."""
        return self._name.view

    @property
    def mtimes(self) -> np.ndarray:
        """Per row: the file's modification time in seconds (0 when unknown)."""
        return self._mtime.view

    def vector(self, row: int) -> np.ndarray | None:
        """The embedding of a row (None: not read, failed, or deleted)."""
        i = int(self._vec_row.data[row])
        return self._vectors[i] if i >= 0 else None

    def embedded_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows with an embedding (not deleted) and those embeddings, row by row."""
        rows = np.flatnonzero(self._vec_row.view >= 0)
        return rows, self._vectors[self._vec_row.view[rows]]

    def ranked(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every row with an embedding, most similar to `query` first, and its cosine: the
        embeddings are scored where they lie (gathering them first copied 2 GB at 1M)."""
        rows = np.flatnonzero(self._vec_row.view >= 0)
        scores = similarities(self._vectors[: self._n_vectors], query)
        found = best_of(rows, scores[self._vec_row.view[rows]])
        return found.index, found.score

    def review_rows(self) -> np.ndarray:
        """Photos the model placed, least sure first (smallest margin to the runner-up);
        photos placed by hand are not listed."""
        cats = self._category.view
        automatic = np.where((cats >= 0) & ~self._manual.view, cats, UNCATEGORIZED_INDEX)
        found = Assignments(automatic, self._score.view, self._margin.view, self._score.view)
        return review_order(found)

    def category_of(self, row: int) -> str | None:
        """The category name of a row; None for Uncategorized and for errors."""
        idx = int(self._category.data[row])
        names = self.names
        return names[idx] if 0 <= idx < len(names) else None

    def counts(self) -> dict[str, int]:
        """Photos per category name (plus UNCATEGORIZED); errors are not counted."""
        names = self.names
        cats = self._category.view
        counts = np.bincount(cats[cats >= 0], minlength=len(names))
        out = {name: int(counts[i]) for i, name in enumerate(names)}
        out[UNCATEGORIZED] = int(np.count_nonzero(cats == UNCATEGORIZED_INDEX))
        return out

    @property
    def sorted_count(self) -> int:
        """Photos placed in a category (what Move, Copy and Tag act on)."""
        return int(np.count_nonzero(self._category.view >= 0))

    @property
    def error_count(self) -> int:
        return int(np.count_nonzero(self._category.view == ERROR_INDEX))

    def rows_in(self, category: str | None) -> np.ndarray:
        """Rows placed in `category` (UNCATEGORIZED for the rest); None: every photo."""
        cats = self._category.view
        if category is None:
            return np.flatnonzero(cats >= UNCATEGORIZED_INDEX)
        if category == UNCATEGORIZED:
            return np.flatnonzero(cats == UNCATEGORIZED_INDEX)
        names = self.names
        if category not in names:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(cats == names.index(category))

    def placed_items(self, rows: Sequence[int] | None = None) -> list[tuple[Path, str]]:
        """(path, category name) for photos in a real category: what file actions act on."""
        rows = range(len(self.paths)) if rows is None else rows
        out = []
        for row in rows:
            name = self.category_of(row)
            if name is not None:
                out.append((self.paths[row], name))
        return out

    def forget(self, gone: Iterable[os.PathLike[str] | str]) -> list[int]:
        """Photos deleted from disk: hide their rows for good; returns those rows."""
        names = {os.fspath(p) for p in gone}
        if not names:
            return []
        rows = [r for r, p in enumerate(self.paths.raw) if p in names]
        for row in rows:
            self._category.data[row] = GONE_INDEX
            self._vec_row.data[row] = -1  # never placed again by a re-score or a pin
        return rows

    def live_rows(self) -> dict[Path, int]:
        """path -> row of every photo not deleted (the newest row when a path repeats)."""
        live = np.flatnonzero(self._category.view != GONE_INDEX).tolist()
        raw = self.paths.raw
        return {Path(raw[r]): r for r in live}

    def rename_paths(self, moved: dict[Path, Path]) -> list[int]:
        """Photos now at a new location (after a move or its undo); returns changed rows."""
        by_name = {os.fspath(old): new for old, new in moved.items()}
        changed = [r for r, p in enumerate(self.paths.raw) if p in by_name]
        for row in changed:
            self.paths[row] = by_name[self.paths.raw[row]]
        self._name.assign(changed, sort_names(self.paths.raw[r] for r in changed))
        return changed
