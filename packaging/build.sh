#!/usr/bin/env bash
# Build the one-folder PhotoSorter app with PyInstaller: dist/photosorter/ (+ PhotoSorter.app
# on macOS). Slow and large with torch (see packaging/README.md), so not part of .ci/run.
#
# Usage: packaging/build.sh [VENV]
#   VENV  the virtual environment with PhotoSorter and its dependencies installed
#         (default: $VIRTUAL_ENV when one is active, else .venv in the repository root).
#         PyInstaller is installed into it when missing.
# Environment:
#   DIST_DIR   where the bundle goes (default: dist in the repository root)
#   WORK_DIR   PyInstaller's work folder (default: build/pyinstaller in the repository root)
#   PHOTOSORTER_BUNDLE_OPENVINO=1   also bundle openvino and nncf, when installed
#   PHOTOSORTER_ICON=FILE           an .ico / .icns to use instead of one made from the PNGs
#   PHOTOSORTER_CODESIGN_IDENTITY, PHOTOSORTER_ENTITLEMENTS   macOS signing (see README)
# Then: dist/photosorter/photosorter --version
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-${VIRTUAL_ENV:-$repo/.venv}}
dist=${DIST_DIR:-$repo/dist}
work=${WORK_DIR:-$repo/build/pyinstaller}

if [ -x "$venv/bin/python" ]; then
  python=$venv/bin/python
elif [ -x "$venv/Scripts/python.exe" ]; then # Windows (Git Bash / MSYS)
  python=$venv/Scripts/python.exe
else
  echo "build.sh: no Python in $venv; create it first: python3 -m venv .venv && .venv/bin/pip install -e ." >&2
  exit 2
fi

if ! "$python" -c "import photosorter, open_clip, torch, PySide6" 2>/dev/null; then
  echo "build.sh: PhotoSorter or its dependencies are missing in $venv: pip install -e $repo" >&2
  exit 2
fi
if ! "$python" -c "import PyInstaller" 2>/dev/null; then
  echo "build.sh: installing PyInstaller into $venv"
  "$python" -m pip install --quiet "pyinstaller>=6.11"
fi

echo "build.sh: $("$python" -m PyInstaller --version | sed 's/^/PyInstaller /'), $("$python" -V)"
echo "build.sh: building into $dist (work folder $work); this takes a while"
start=$(date +%s)
cd "$repo"
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" packaging/pyinstaller/photosorter.spec
elapsed=$(($(date +%s) - start))

bundle=$dist/photosorter
size=$(du -sh "$bundle" | cut -f1)
files=$(find "$bundle" -type f | wc -l | tr -d ' ')
echo "build.sh: built $bundle: $size in $files files, in $((elapsed / 60)) min $((elapsed % 60)) s"
if [ -d "$dist/PhotoSorter.app" ]; then
  echo "build.sh: macOS app: $dist/PhotoSorter.app ($(du -sh "$dist/PhotoSorter.app" | cut -f1))"
fi
echo "build.sh: try it: $bundle/photosorter --version"
