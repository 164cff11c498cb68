"""core stays Qt-free and torch-free at import time (DESIGN.md boundaries)."""

import pkgutil
import subprocess
import sys

import photosorter.core


def test_core_imports_neither_qt_nor_torch() -> None:
    modules = [
        m.name for m in pkgutil.walk_packages(photosorter.core.__path__, "photosorter.core.")
    ]
    assert "photosorter.core.model.engine" in modules
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "import photosorter.cli\n"
        "bad = [m for m in ('PySide6', 'torch', 'open_clip') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
