"""The PyInstaller spec's inputs exist and its entry script runs; fast, no bundle is built.

packaging/build.sh builds the real bundle (minutes, gigabytes): see packaging/README.md.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import runpy
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC_DIR = REPO / "packaging" / "pyinstaller"
SPEC = SPEC_DIR / "photosorter.spec"
BUILD_SH = REPO / "packaging" / "build.sh"


@pytest.fixture(scope="module")
def inputs() -> ModuleType:
    """packaging/pyinstaller/bundle_inputs.py, the spec's list of what goes in."""
    spec = importlib.util.spec_from_file_location("bundle_inputs", SPEC_DIR / "bundle_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_is_python_and_uses_only_known_inputs(inputs: ModuleType) -> None:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "inp"
    }
    assert {
        "ENTRY",
        "REPO",
        "HOOKS_DIR",
        "resource_datas",
        "open_clip_datas",
        "torchvision_binaries",
        "cuda_binaries",
    } <= used
    assert not [name for name in used if not hasattr(inputs, name)]
    assert 'collect_submodules("photosorter")' in SPEC.read_text(encoding="utf-8")


def test_spec_paths_exist(inputs: ModuleType) -> None:
    assert inputs.REPO == REPO
    assert inputs.ENTRY.is_file()
    assert (inputs.HOOKS_DIR / "pre_safe_import_module" / "hook-photosorter.py").is_file()
    assert inputs.ICON_PNG.is_file()
    assert inputs.ICON_PNG in inputs.ICON_PNGS
    assert all(png.is_file() for png in inputs.ICON_PNGS)
    assert inputs.version() == __import__("photosorter").__version__


def test_bundled_resources_are_what_the_package_ships(inputs: ModuleType) -> None:
    datas = inputs.resource_datas()
    assert all(Path(src).is_file() for src, _ in datas)
    bundled = {f"{dest}/{Path(src).name}" for src, dest in datas}
    shipped = set()
    root = files("photosorter.resources")
    for item in root.iterdir():
        children = item.iterdir() if item.is_dir() else [item]
        for child in children:
            if child.name.endswith((".py", ".pyc")) or child.name == "__pycache__":
                continue
            prefix = "" if child is item else f"{item.name}/"
            shipped.add(f"photosorter/resources/{prefix}{child.name}")
    assert bundled == shipped
    for name in (
        "default_categories.toml",
        "io.github.photosorter.PhotoSorter.desktop",
        "io.github.photosorter.PhotoSorter.metainfo.xml",
        "icons/photosorter-256.png",
    ):
        assert f"photosorter/resources/{name}" in bundled


def test_open_clip_data_is_found(inputs: ModuleType) -> None:
    datas = inputs.open_clip_datas()
    assert all(Path(src).is_file() for src, _ in datas)
    names = {Path(src).name: dest for src, dest in datas}
    assert names["bpe_simple_vocab_16e6.txt.gz"] == "open_clip"
    assert names["ViT-B-32.json"] == "open_clip/model_configs"  # the default model's config


def test_torchvision_ops_are_collected(inputs: ModuleType) -> None:
    binaries = inputs.torchvision_binaries()
    assert all(Path(src).is_file() and dest == "torchvision" for src, dest in binaries)
    assert any(Path(src).name.startswith("_C") for src, _ in binaries)  # open_clip needs it


def test_cuda_libraries_exist(inputs: ModuleType) -> None:
    binaries = inputs.cuda_binaries()
    assert all(Path(src).is_file() for src, _ in binaries)
    assert all(dest.startswith("nvidia/") and dest.endswith("/lib") for _, dest in binaries)
    names = {Path(src).name for src, _ in binaries}
    if sys.platform.startswith("linux") and importlib.util.find_spec("nvidia") is not None:
        # a CUDA torch: its runtime and cuDNN's dlopen()ed engines must go in
        assert any(n.startswith("libcudart.so") for n in names)
        assert any(n.startswith("libcudnn_engines_precompiled") for n in names)
    assert not [n for n in names if n.startswith(("libnvperf_", "libcusolverMg")) or ".alt." in n]


def test_hidden_imports_resolve(inputs: ModuleType) -> None:
    missing = [name for name in inputs.HIDDEN_IMPORTS if importlib.util.find_spec(name) is None]
    assert missing == []


def test_nothing_photosorter_imports_is_excluded(inputs: ModuleType) -> None:
    """Every module the app imports must reach the bundle (openvino/nncf are optional)."""
    imported: set[str] = set()
    for path in (REPO / "photosorter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    excluded = set(inputs.EXCLUDES)
    clash = {m for m in imported if m in excluded or m.split(".")[0] in excluded}
    assert clash == set()
    assert set(inputs.OPTIONAL_EXCLUDES) <= set(inputs.excludes({}))
    assert not set(inputs.OPTIONAL_EXCLUDES) & set(
        inputs.excludes({"PHOTOSORTER_BUNDLE_OPENVINO": "1"})
    )


def test_entry_script_runs_the_cli() -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, str(SPEC_DIR / "entry.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sort" in proc.stdout and "photosorter" in proc.stdout


@pytest.mark.parametrize(
    ("argv0", "expected"), [("/opt/x/photosorter", "cli"), ("/opt/x/photosorter-gui", "gui")]
)
def test_entry_script_dispatches_on_executable_name(
    monkeypatch: pytest.MonkeyPatch, argv0: str, expected: str
) -> None:
    import photosorter.cli

    namespace = runpy.run_path(str(SPEC_DIR / "entry.py"), run_name="entry")  # guard: no main()
    monkeypatch.setattr(photosorter.cli, "main", lambda: "cli")
    monkeypatch.setattr(photosorter.cli, "gui_main", lambda: "gui")
    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setattr(sys, "stdout", None)  # a windowed executable has no console
    assert namespace["run"]() == expected
    assert sys.stdout is not None
    sys.stdout.close()


def test_build_script_is_valid_bash() -> None:
    text = BUILD_SH.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "packaging/pyinstaller/photosorter.spec" in text
    assert os.access(BUILD_SH, os.X_OK)
    subprocess.run(["bash", "-n", str(BUILD_SH)], check=True)
