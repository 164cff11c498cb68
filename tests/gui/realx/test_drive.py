"""The real-pointer drive (drive.py) as a test: skipped where Xvfb or xdotool is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.gui.realx.drive import REPO

MISSING = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"needs Xvfb and xdotool; missing {MISSING}")
def test_a_real_pointer_drags_moves_and_undoes(tmp_path) -> None:
    """Drags (one photo, a Ctrl+click selection), Ctrl+Z, Move to Folders confirmed and
    undone, on a real X server: the files and the window agree, nothing is printed."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.gui.realx.drive", "--keep", str(tmp_path / "work")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("passed in ")
