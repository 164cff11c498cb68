"""Let PyInstaller find `photosorter.resources`, which lives in the top-level resources/ folder.

pyproject.toml maps it there with `package-dir`; PyInstaller does not run setuptools' editable
finder, so the package's search path gets the repository root as well: `photosorter.resources`
then resolves to <repo>/resources/__init__.py, as it does in an installed wheel.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def pre_safe_import_module(api) -> None:
    api.append_package_path(str(REPO))
