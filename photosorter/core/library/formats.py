"""Which files are photos, by name: what the scanner and the watcher look at.

Kept apart from the decoders (images.py imports Pillow) so that listing and checking a
folder, and a search that finds everything already indexed, never load an image library.
"""

from __future__ import annotations

import os

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".heic",
        ".heif",
        ".hif",
    }
)


def is_supported(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an image extension we decode (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in SUPPORTED_EXTENSIONS
