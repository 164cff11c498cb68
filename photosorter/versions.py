"""Versions of PhotoSorter and what it runs on, for --version and the About dialog."""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

from photosorter import __version__

# (label, distribution name, module to import when the metadata is missing, e.g. frozen)
_COMPONENTS = (
    ("torch", "torch", "torch"),
    ("open_clip", "open_clip_torch", "open_clip"),
    ("PySide6", "PySide6-Essentials", "PySide6"),
    ("Pillow", "pillow", "PIL"),
    ("numpy", "numpy", "numpy"),
)


def component_versions() -> dict[str, str]:
    """Label -> version; read from package metadata so torch is not imported for it."""
    found = {"PhotoSorter": __version__}
    for label, dist, module in _COMPONENTS:
        try:
            found[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            try:
                found[label] = getattr(importlib.import_module(module), "__version__", "?")
            except ImportError:
                found[label] = "not installed"
    found["Python"] = sys.version.split()[0]
    return found
