"""Whole-file hashes of big files that seldom change (model weights), cached by identity.

Hashing a 600 MB checkpoint costs about a second, on every start. The hash is kept in a
small JSON file in the data dir, keyed by path and (size, mtime_ns, ctime_ns), so it is
computed again only when the file changes. An unwritable data dir just means no cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from photosorter.core import paths
from photosorter.core.userfiles import hash_stream, open_regular

CACHE_NAME = "file-hashes.json"
_lock = threading.Lock()  # one read-modify-write of the cache file at a time


def cached_file_hash(path: str | os.PathLike[str]) -> str:
    """blake2b-128 of the whole file at `path`, from the cache while the file is unchanged."""
    name = os.path.abspath(path)
    with open_regular(name) as fh:
        st = os.fstat(fh.fileno())
        ident = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        entry = _load().get(name)
        if isinstance(entry, dict) and entry.get("ident") == ident:
            return str(entry["hash"])
        digest = hash_stream(fh)
    _remember(name, {"ident": ident, "hash": digest})
    return digest


def _cache_path() -> Path:
    return paths.data_dir() / CACHE_NAME


def _load() -> dict:
    try:
        with open_regular(_cache_path()) as fh:
            data = json.load(fh)
    except (OSError, ValueError):  # none yet, unreadable or damaged: start afresh
        return {}
    return data if isinstance(data, dict) else {}


def _remember(name: str, entry: dict) -> None:
    """Add an entry, dropping those of files that are gone; skipped if the dir is unwritable."""
    with _lock:
        entries = {k: v for k, v in _load().items() if os.path.exists(k)}
        entries[name] = entry
        path = _cache_path()
        tmp = path.with_name(f".{CACHE_NAME}.{os.getpid()}.{threading.get_ident()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # a read-only data dir: the hash is computed again next time
            with contextlib.suppress(OSError):
                tmp.unlink()
