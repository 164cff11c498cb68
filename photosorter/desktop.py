"""Per-user freedesktop integration: menu entry, icons and AppStream metadata.

Installs into $XDG_DATA_HOME (default ~/.local/share) so the app shows in menus and in
"Open with" for folders and images. Qt-free; the files come from `photosorter.resources`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - exercised on 3.10 only
    from importlib.abc import Traversable

APP_ID = "io.github.photosorter.PhotoSorter"
ICON_NAME = APP_ID
ICON_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256, 512)
COMMAND = "photosorter"

DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"

# Characters that force quoting of an Exec argument (Desktop Entry spec, "The Exec key").
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_TOOL_TIMEOUT_S = 30


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (per the XDG spec)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def install_desktop(prefix: Path | None = None) -> list[Path]:
    """Install the menu entry, icons and metainfo under `prefix` (default: `data_home()`).

    Returns the paths written. Exec= points at the absolute command that runs this very
    installation, so an entry installed from a virtual environment works without activating it.
    """
    root = Path(prefix) if prefix is not None else data_home()
    command = launch_command()
    written: list[Path] = []
    for path, name in _plan(root):
        data = _resource(name).read_bytes()
        if name == DESKTOP_FILE:
            data = rewrite_exec(data.decode("utf-8"), command).encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        written.append(path)
    _refresh_caches(root)
    return written


def uninstall_desktop(prefix: Path | None = None) -> list[Path]:
    """Remove exactly the files `install_desktop` writes; returns those that were removed.

    Folders stay (they may hold other applications' files); system indexes are refreshed.
    """
    root = Path(prefix) if prefix is not None else data_home()
    removed: list[Path] = []
    for path in installed_paths(root):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    _refresh_caches(root)
    return removed


def installed_paths(prefix: Path) -> list[Path]:
    """Every path `install_desktop(prefix)` writes, in install order."""
    return [path for path, _ in _plan(Path(prefix))]


def launch_command() -> list[str]:
    """The absolute argv prefix that starts this installation of PhotoSorter."""
    if getattr(sys, "frozen", False):  # PyInstaller and friends: the executable is the app
        return [str(Path(sys.executable).absolute())]
    candidates: list[Path] = []
    argv0 = sys.argv[0] if sys.argv else ""
    if os.sep in argv0 and Path(argv0).stem == COMMAND:  # started as .../bin/photosorter
        candidates.append(Path(argv0))
    scripts = Path(sys.executable).parent
    candidates += [scripts / COMMAND, scripts / f"{COMMAND}.exe"]
    found = shutil.which(COMMAND)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        # absolute() keeps symlinks (e.g. pipx's ~/.local/bin shim survives upgrades)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", COMMAND]


def rewrite_exec(entry: str, command: list[str]) -> str:
    """Replace the program of every Exec= line in `entry` with `command`, keeping its arguments."""
    program = " ".join(_exec_quote(arg) for arg in command)

    def replace(match: re.Match[str]) -> str:
        return f"{match.group(1)}{program}{match.group(2)}"

    return re.sub(r"^(Exec=)\S+(.*)$", replace, entry, flags=re.MULTILINE)


def _exec_quote(arg: str) -> str:
    """Quote one Exec argument, then escape it as a desktop-file string value."""
    if any(ch in _EXEC_RESERVED for ch in arg):
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    arg = arg.replace("%", "%%")
    # String-value escapes apply on top of the Exec quoting rules.
    return arg.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _resource(name: str) -> Traversable:
    """A file of the `photosorter.resources` package; `name` uses "/" between parts."""
    node = files("photosorter.resources")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node


def _plan(root: Path) -> list[tuple[Path, str]]:
    """(destination, resource name) for every file the integration installs."""
    hicolor = root / "icons" / "hicolor"
    plan = [(root / "applications" / DESKTOP_FILE, DESKTOP_FILE)]
    plan += [
        (hicolor / f"{n}x{n}" / "apps" / f"{ICON_NAME}.png", f"icons/{COMMAND}-{n}.png")
        for n in ICON_SIZES
    ]
    plan.append((hicolor / "scalable" / "apps" / f"{ICON_NAME}.svg", f"{COMMAND}.svg"))
    plan.append((root / "metainfo" / METAINFO_FILE, METAINFO_FILE))
    return plan


def _refresh_caches(root: Path) -> None:
    """Tell menus and icon themes about the change; every tool here is optional."""
    applications = root / "applications"
    if applications.is_dir():
        _run_quietly("update-desktop-database", "-q", str(applications))
    hicolor = root / "icons" / "hicolor"
    if hicolor.is_dir():
        with contextlib.suppress(OSError):
            os.utime(hicolor)  # GTK and Qt notice a newer theme folder and rescan it
        # Refresh an existing icon cache (a stale one hides new icons), but never create one:
        # that would leave a file behind that uninstall did not put there.
        if (hicolor / "icon-theme.cache").exists():
            _run_quietly("gtk-update-icon-cache", "-q", "-f", "-t", str(hicolor))


def _run_quietly(*argv: str) -> None:
    exe = shutil.which(argv[0])
    if exe is None:
        return
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [exe, *argv[1:]],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_TOOL_TIMEOUT_S,
        )
