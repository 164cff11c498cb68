"""Which files are photos, by name: what the scanner and the watcher look at, and which
RAW files pair with a JPEG (a RAW+JPEG pair is one photo).

Kept apart from the decoders (images.py imports Pillow) so that listing and checking a
folder, and a search that finds everything already indexed, never load an image library.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# Every RAW extension a camera writes: these travel with a same-stem JPEG (move, copy, tag).
RAW_EXTENSIONS = frozenset(
    {".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
     ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf",
     ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f"}
)  # fmt: skip

# The RAWs decoded as photos of their own (their headers are checked below).
DECODED_EXTENSIONS = frozenset(
    {".3fr", ".arw", ".cr2", ".cr3", ".dng", ".iiq", ".nef", ".nrw", ".orf", ".pef", ".raf",
     ".rw2", ".srw"}
)  # fmt: skip

SUPPORTED_EXTENSIONS: frozenset[str] = (
    frozenset(
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
            ".avif",
            ".jxl",
        }
    )
    | DECODED_EXTENSIONS
)  # RAW camera files: raw.py decodes them


def is_supported(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an image extension we decode (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in SUPPORTED_EXTENSIONS


def is_raw_name(path: str | os.PathLike[str]) -> bool:
    """True when the name has a RAW extension (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS


def is_decoded_name(path: str | os.PathLike[str]) -> bool:
    """True when the name has the extension of a RAW decoded as a photo."""
    return os.path.splitext(os.fspath(path))[1].lower() in DECODED_EXTENSIONS


def raw_companions(photo: Path, names: Iterable[str]) -> list[str]:
    """Those of `names` (its folder's) that are RAWs of `photo`: same stem, RAW extension.

    A RAW has none: two RAWs of one stem are two photos.
    """
    if is_raw_name(photo.name):
        return []
    stem = photo.stem
    return sorted(n for n in names if os.path.splitext(n)[0] == stem and is_raw_name(n))


def without_paired_raws(photos: list[str]) -> list[str]:
    """`photos` less the RAWs whose JPEG (or other non-RAW photo) is among them: a pair is
    one photo, and its JPEG stands for it (cheaper to decode, and what a camera shows)."""
    if not any(_may_be_raw(p) for p in photos):  # a folder without RAWs: one cheap look each
        return list(photos)
    split = [(os.path.splitext(p)[0], is_raw_name(p)) for p in photos]
    rendered = {stem for stem, raw in split if not raw}
    return [
        p for p, (stem, raw) in zip(photos, split, strict=True) if not (raw and stem in rendered)
    ]


_RAW_SUFFIXES = tuple(RAW_EXTENSIONS)
_RAW_LONGEST = max(map(len, RAW_EXTENSIONS))


def _may_be_raw(name: str) -> bool:
    """False for every name `is_raw_name` rejects for its ending alone (most photos), at a
    fraction of its cost; True leaves the answer to `is_raw_name`."""
    return name[-_RAW_LONGEST:].lower().endswith(_RAW_SUFFIXES)


def paired_raws(photos: Iterable[Path]) -> dict[Path, list[Path]]:
    """Photo -> its RAW companions on disk, for the photos that have any; each folder is
    listed once (an unreadable one has none), its RAWs looked up by stem: a folder of
    thousands of photos is not searched once per photo."""
    raws: dict[Path, dict[str, list[str]]] = {}
    pairs: dict[Path, list[Path]] = {}
    for photo in photos:
        folder = photo.parent
        stems = raws.get(folder)
        if stems is None:
            stems = raws[folder] = _raws_by_stem(folder)
        found = raw_companions(photo, stems.get(photo.stem, ())) if stems else []
        if found:
            pairs[photo] = [folder / n for n in found]
    return pairs


def _raws_by_stem(folder: Path) -> dict[str, list[str]]:
    """The RAW file names in `folder` by stem ({} when it cannot be listed)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    found: dict[str, list[str]] = {}
    for name in names:
        if is_raw_name(name):
            found.setdefault(os.path.splitext(name)[0], []).append(name)
    return found


def is_paired_raw(path: Path) -> bool:
    """Whether `path` is a RAW with a same-stem photo beside it on disk (that photo stands
    for the pair; an unreadable folder pairs nothing)."""
    if not is_raw_name(path.name):
        return False
    try:
        names = os.listdir(path.parent)
    except OSError:
        return False
    stem = path.stem
    return any(
        os.path.splitext(n)[0] == stem and is_supported(n) and not is_raw_name(n) for n in names
    )
