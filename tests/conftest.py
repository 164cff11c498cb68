"""Shared fixtures: every test gets its own config/cache/data dirs and no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# PHOTOSORTER_TEST_MODEL points the suite at another local model folder (e.g. a retrain).
TINY_MODEL = Path(os.environ.get("PHOTOSORTER_TEST_MODEL") or REPO / "tests/fixtures/tiny-clip")
TINY_SPEC = f"local-dir:{TINY_MODEL}"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point every PhotoSorter dir at fresh temp folders; never the user's real ones. The
    desktop's thumbnails ($XDG_CACHE_HOME/thumbnails) too."""
    base = tmp_path_factory.mktemp("appdirs")
    for name in ("CACHE", "CONFIG", "DATA"):
        folder = base / name.lower()
        folder.mkdir()
        monkeypatch.setenv(f"PHOTOSORTER_{name}_DIR", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture
def trash_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A freedesktop trash under tmp_path (never the user's): $XDG_DATA_HOME/Trash, with
    $HOME beside it so send2trash takes the home trash for files under tmp_path."""
    from send2trash import plat_other

    data = tmp_path / "xdg-data"
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("HOME", str(home))
    # send2trash reads $XDG_DATA_HOME once, when it is imported
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data / "Trash"))
    return data / "Trash"


@pytest.fixture(scope="session")
def tiny_spec() -> str:
    """The tiny trained CLIP, loaded through the same local-dir: path a user would use."""
    assert (TINY_MODEL / "open_clip_config.json").is_file(), "tests/fixtures/tiny-clip missing"
    return TINY_SPEC


@pytest.fixture(scope="session")
def exiftool_keywords():
    """Read keywords back with exiftool, the third-party reader our sidecars must satisfy.

    Returns read(path) -> {"subject": [...], "hierarchical": [...], "tags": [...]}.
    """
    import json
    import shutil
    import subprocess

    exe = shutil.which("exiftool")
    if exe is None:
        pytest.fail("exiftool not found: install the Debian package libimage-exiftool-perl")

    def read(path: Path) -> dict[str, list[str]]:
        out = subprocess.run(
            [exe, "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject",
             "-XMP-digiKam:TagsList", "-XMP-xmp:Rating", "-XMP-dc:Title", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        data = json.loads(out)[0]

        def values(key: str) -> list[str]:
            v = data.get(key, [])
            return [str(x) for x in (v if isinstance(v, list) else [v])]

        return {"subject": values("Subject"), "hierarchical": values("HierarchicalSubject"),
                "tags": values("TagsList"), "rating": values("Rating"),
                "title": values("Title")}  # fmt: skip

    return read
