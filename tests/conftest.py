"""Shared fixtures: every test gets its own config/cache/data dirs and no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY_MODEL = REPO / "tests" / "fixtures" / "tiny-clip"
TINY_SPEC = f"local-dir:{TINY_MODEL}"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point every PhotoSorter dir at fresh temp folders; never the user's real ones."""
    base = tmp_path_factory.mktemp("appdirs")
    for name in ("CACHE", "CONFIG", "DATA"):
        folder = base / name.lower()
        folder.mkdir()
        monkeypatch.setenv(f"PHOTOSORTER_{name}_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture(scope="session")
def tiny_spec() -> str:
    """The tiny trained CLIP, loaded through the same local-dir: path a user would use."""
    assert (TINY_MODEL / "open_clip_config.json").is_file(), "tests/fixtures/tiny-clip missing"
    return TINY_SPEC
