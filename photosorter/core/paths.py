"""Where PhotoSorter keeps its files (platformdirs), overridable by env vars for tests."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from photosorter.core.errors import StorageError

APP = "photosorter"


def cache_dir() -> Path:
    """Thumbnails and the benchmark's inputs. `PHOTOSORTER_CACHE_DIR` overrides."""
    return Path(os.environ.get("PHOTOSORTER_CACHE_DIR") or platformdirs.user_cache_dir(APP))


def config_dir() -> Path:
    """Settings. `PHOTOSORTER_CONFIG_DIR` overrides."""
    return Path(os.environ.get("PHOTOSORTER_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """The store and exported/quantised models. `PHOTOSORTER_DATA_DIR` overrides."""
    return Path(os.environ.get("PHOTOSORTER_DATA_DIR") or platformdirs.user_data_dir(APP))


def default_store_path() -> Path:
    """The SQLite store: embeddings, overrides and the file-operation journal.

    In the data dir, not the cache dir: manual overrides and the undo journal are the
    user's data, and system cache cleaners must not take them.
    """
    return data_dir() / "photosorter.sqlite3"


def make_dir(folder: Path) -> Path:
    """Create `folder` (with its parents) for PhotoSorter's own files, or raise a StorageError
    that names it: a plain sentence, not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot create the folder {folder}: {exc.strerror or exc}") from None
    return folder


def writable_dir(folder: Path) -> bool:
    """True when `folder` exists, or could be created, and files can be written in it."""
    try:
        make_dir(folder)
    except StorageError:
        return False
    return os.access(folder, os.W_OK)
