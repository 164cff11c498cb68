"""What the GUI and its workers send each other: requests and results, each a frozen
dataclass carrying the generation id of its request, so stale results can be dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photosorter.core.categories import CategorySet
from photosorter.core.find.duplicates import DuplicateGroup, Failed
from photosorter.core.library.catalogue import Listing
from photosorter.core.library.pipeline import CancelToken, IndexBatch
from photosorter.core.model.classifier import DEFAULT_MIN_FIT, CategoryMatrix, Examples
from photosorter.core.model.engine import ScoringParams
from photosorter.gui.scoring import Placement, Scoring


@dataclass(frozen=True)
class ModelChoice:
    """The model a job runs on: its spec, the device and the image encoder asked for."""

    model: str
    device: str | None
    backend: str = "auto"


@dataclass(frozen=True)
class IndexRequest:
    """Scan `roots`, build the matrix for `categories`, then index every photo."""

    generation: int
    scoring_generation: int
    roots: tuple[Path, ...]
    categories: CategorySet
    engine: ModelChoice
    batch_size: int = 32
    show_stored: bool = False  # first list what the store knows under `roots`, then check
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)
    cluster: str = ""  # a Ray cluster's address to encode new photos on; "": this machine
    threshold: float = 0.0  # the settings' minimum score and min_fit, to place stored photos
    min_fit: float = DEFAULT_MIN_FIT


@dataclass(frozen=True)
class MatrixRequest:
    """Encode the prompts of `categories` (only those not cached) into a category matrix."""

    scoring_generation: int
    categories: CategorySet
    engine: ModelChoice


@dataclass(frozen=True)
class ScoringReady:
    """The zero-shot matrix, the categories file's example photos, and the model's id."""

    scoring_generation: int
    categories: CategorySet
    matrix: CategoryMatrix
    params: ScoringParams
    file_examples: Examples = field(default_factory=Examples.none)
    model_id: str = ""
    placed: Placement | None = None  # the stored photos placed already, off the GUI thread

    def scoring(self, threshold: float, min_fit: float) -> Scoring:
        """What placing photos needs, with the settings' `threshold` and `min_fit`."""
        return Scoring(
            self.categories, self.matrix, self.params, threshold, min_fit,
            self.file_examples, self.model_id,
        )  # fmt: skip


@dataclass(frozen=True)
class QueryRequest:
    """Embed the words `text` with the model in use (cached in the store after once)."""

    generation: int
    text: str
    engine: ModelChoice


@dataclass(frozen=True)
class QueryReady:
    generation: int
    text: str
    vector: np.ndarray


@dataclass(frozen=True)
class IndexedPhoto:
    """A photo in the result set, as `photos_with_info` needs it."""

    path: Path
    key: str | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class DuplicatesRequest:
    """Group `photos` (their embeddings in `vectors`, row by row) that are the same picture."""

    generation: int
    photos: tuple[IndexedPhoto, ...]
    vectors: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class DuplicatesReady:
    generation: int
    groups: tuple[DuplicateGroup, ...]
    failed: tuple[Failed, ...] = ()


@dataclass(frozen=True)
class BatchReady:
    generation: int
    batch: IndexBatch
    raws: frozenset[Path] = frozenset()  # its photos with a RAW beside them (RAW+JPEG pairs)


@dataclass(frozen=True)
class StoredListed:
    """The photos the store knows under the roots, before the disk is walked."""

    generation: int
    listing: Listing
    has_raw: np.ndarray  # per photo: a RAW beside it
    names: np.ndarray  # per photo: `columns.sort_names`
    paths: frozenset[str]  # listing.paths, for looking up


@dataclass(frozen=True)
class StoredVectors:
    """Their embeddings: `vectors[i]` is the listing's photo i where `has[i]` (spare rows
    follow, room for new photos)."""

    generation: int
    vectors: np.ndarray
    has: np.ndarray
    bounds: np.ndarray | None = None  # per listed photo: for `matrix`'s vocabulary
    matrix: CategoryMatrix | None = None


@dataclass(frozen=True)
class StoredGone:
    """Listed photos the disk no longer has as stored (deleted, changed, unembedded)."""

    generation: int
    paths: tuple[str, ...]


@dataclass(frozen=True)
class JobStatus:
    """A busy message ("Loading model…") for the status bar; `text` empty when done."""

    generation: int
    text: str


@dataclass(frozen=True)
class JobProgress:
    generation: int
    done: int
    total: int
    eta_s: float | None


@dataclass(frozen=True)
class JobFinished:
    generation: int
    cancelled: bool
    total: int
    failed: int
    elapsed_s: float


@dataclass(frozen=True)
class JobFailed:
    """A job stopped. `user_error`: plain message, no traceback (a PhotoSorterError)."""

    generation: int
    message: str
    user_error: bool
    offline: bool = False
    details: str = ""
    model: bool = False  # the model could not be loaded (a working one clears the notice)
