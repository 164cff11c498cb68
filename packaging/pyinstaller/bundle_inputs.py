"""What the PyInstaller spec puts into the bundle, computed with the standard library only.

`photosorter.spec` imports this; tests/test_packaging.py checks every path it names exists,
without PyInstaller. Paths come from the checkout (resources, entry script, icons) and from the
building environment (open_clip's data, NVIDIA's CUDA libraries).
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import importlib.util
import os
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SPEC_DIR = Path(__file__).resolve().parent
REPO = SPEC_DIR.parents[1]
ENTRY = SPEC_DIR / "entry.py"
HOOKS_DIR = SPEC_DIR / "hooks"
RESOURCES = REPO / "resources"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICON_PNGS = tuple(RESOURCES / "icons" / f"photosorter-{size}.png" for size in ICON_SIZES)
ICON_PNG = RESOURCES / "icons" / "photosorter-256.png"

APP_NAME = "PhotoSorter"
APP_ID = "io.github.photosorter.PhotoSorter"
CLI_NAME = "photosorter"  # console executable: the CLI, and the app when run without a command
GUI_NAME = "photosorter-gui"  # windowed executable: no console on Windows; the macOS .app's

# Imported lazily (inside functions) or chosen at run time, so analysis may not see them.
HIDDEN_IMPORTS = [
    "photosorter.resources",
    "torch",
    "torchvision",
    "open_clip",
    "safetensors",
    "safetensors.torch",
    "pillow_heif",
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "watchdog.observers",
    "watchdog.observers.polling",
    *{
        "linux": [
            "watchdog.observers.inotify",
            "watchdog.observers.inotify_c",
            "watchdog.observers.inotify_move_event_grouper",
        ],
        "darwin": ["watchdog.observers.fsevents", "watchdog.observers.kqueue"],
        "win32": ["watchdog.observers.read_directory_changes", "watchdog.observers.winapi"],
    }.get(sys.platform, []),
]

# Big and unused at run time (checked: sort and the GUI run with these unimportable). triton is
# torch.compile's GPU compiler (~0.9 GB); torch runs without it. openvino/nncf (the
# accelerated CPU backend of photosorter.core.model.accel) stay out by default (nncf brings scipy
# and scikit-learn): PHOTOSORTER_BUNDLE_OPENVINO=1 keeps them; without them accel runs PyTorch.
EXCLUDES = [
    "tkinter",
    "_tkinter",
    "matplotlib",
    "IPython",
    "jupyter_client",
    "notebook",
    "tensorboard",
    "torch.utils.tensorboard",
    "triton",
    "pytest",
    "_pytest",
    "pytestqt",
    "ruff",
    "sklearn",
    "scipy",
    "pandas",
    "onnx",
    "onnxruntime",
    "PyQt5",
    "PyQt6",
    "PySide2",
]
OPTIONAL_EXCLUDES = ["openvino", "nncf"]

# NVIDIA libraries nobody loads in this app: profilers, checkpointing, BLAS/FFTW shims,
# multi-GPU solvers, the "alt" NVRTC build. Everything else in the nvidia-* wheels is kept.
CUDA_LIB_DENY = (
    "libnvperf_*",
    "libpcsamplingutil*",
    "libcheckpoint*",
    "libnvblas*",
    "libcufftw*",
    "libcusolverMg*",
    "*.alt.*",
    "*.a",
    "*.bc",
)


def excludes(environ: os._Environ[str] | dict[str, str] = os.environ) -> list[str]:
    """Modules kept out of the bundle (openvino and nncf too, unless asked to keep them)."""
    keep_openvino = environ.get("PHOTOSORTER_BUNDLE_OPENVINO", "") in ("1", "true", "yes")
    return EXCLUDES + ([] if keep_openvino else OPTIONAL_EXCLUDES)


def version() -> str:
    """photosorter.__version__, read from the source (the spec does not import the package)."""
    text = (REPO / "photosorter" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ in photosorter/__init__.py")
    return match.group(1)


def resource_datas() -> list[tuple[str, str]]:
    """(source, bundle folder) for photosorter.resources: pyproject's package-data patterns."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["photosorter.resources"]
    datas: list[tuple[str, str]] = []
    for pattern in patterns:
        for path in sorted(RESOURCES.glob(pattern)):
            rel = path.parent.relative_to(RESOURCES).as_posix()
            dest = "photosorter/resources" + ("" if rel == "." else f"/{rel}")
            datas.append((str(path), dest))
    return datas


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed in {sys.executable}")
    return Path(next(iter(spec.submodule_search_locations)))


def open_clip_datas() -> list[tuple[str, str]]:
    """open_clip's model configs and BPE vocabulary, read next to its modules at run time."""
    root = package_dir("open_clip")
    configs = sorted((root / "model_configs").glob("*.json"))
    if not configs:
        raise RuntimeError(f"no model configs in {root / 'model_configs'}")
    datas = [(str(path), "open_clip/model_configs") for path in configs]
    datas.append((str(root / "bpe_simple_vocab_16e6.txt.gz"), "open_clip"))
    return datas


def torchvision_binaries() -> list[tuple[str, str]]:
    """torchvision's compiled ops (_C_stable, image_stable), found with a FileFinder at import.

    Nothing imports them, so analysis misses them; without _C_stable `import torchvision`
    fails ("operator torchvision::nms does not exist"), and open_clip imports torchvision.
    """
    root = package_dir("torchvision")
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(suffixes))
    if not found:
        raise RuntimeError(f"no compiled extensions in {root}")
    return [(str(path), "torchvision") for path in found]


def cuda_binaries() -> list[tuple[str, str]]:
    """Linux: the NVIDIA CUDA libraries of the nvidia-* wheels a PyPI (CUDA) torch needs.

    libtorch_cuda.so links most of them, so `import torch` fails without them even on a
    machine with no GPU; cuDNN's engines, cuSOLVER and NVRTC's builtins are loaded later, on
    the GPU, and binary analysis alone would miss them. A CPU-only torch has none: empty list.
    """
    if not sys.platform.startswith("linux"):
        return []
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    binaries: list[tuple[str, str]] = []
    for base in map(Path, spec.submodule_search_locations):
        for lib in sorted(base.glob("*/lib/*.so*")):
            if any(fnmatch.fnmatch(lib.name, pattern) for pattern in CUDA_LIB_DENY):
                continue
            binaries.append((str(lib), f"nvidia/{lib.parent.parent.name}/lib"))
    return binaries
