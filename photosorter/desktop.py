"""Per-user freedesktop integration: menu entry, icons and AppStream metadata.

Installs into $XDG_DATA_HOME (default ~/.local/share) so the app shows in menus, and adds
"Open with PhotoSorter" for folders and images without becoming their default: the entry
claims no MIME type (a user-level claim outranks every system one, so on desktops that set
no defaults it would take over), and $XDG_CONFIG_HOME/mimeapps.list gets an
[Added Associations] line that keeps the current default ahead of PhotoSorter
(freedesktop "Association between MIME types and applications"). Qt-free; the files come
from `photosorter.resources`.
"""

from __future__ import annotations

import contextlib
import json
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
# What "Open with PhotoSorter" is offered for (the entry itself claims none of them).
MIME_TYPES: tuple[str, ...] = ("inode/directory", "image/jpeg", "image/png", "image/webp",
                               "image/tiff", "image/bmp", "image/gif", "image/heic",
                               "image/heif")  # fmt: skip
MIMEAPPS = "mimeapps.list"
ADDED = "Added Associations"
# Beside the entry: which association entries install added, so uninstall removes just those.
RECORD_FILE = f".{APP_ID}.associations.json"

# Characters that force quoting of an Exec argument (Desktop Entry spec, "The Exec key").
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_TOOL_TIMEOUT_S = 30


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (per the XDG spec)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def config_home() -> Path:
    """$XDG_CONFIG_HOME, or ~/.config when it is unset or not absolute."""
    value = os.environ.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".config"


def install_desktop(prefix: Path | None = None) -> list[Path]:
    """Install the menu entry, icons and metainfo under `prefix` (default: `data_home()`),
    and, for the user's own data home, "Open with" associations in the user's mimeapps.list.

    Returns the paths written. Exec= points at the absolute command that runs this very
    installation, so an entry installed from a virtual environment works without activating it.
    """
    root = Path(prefix) if prefix is not None else data_home()
    written = _install_files(root, launch_command())
    if prefix is None:
        written += _add_associations(root, config_home() / MIMEAPPS)
    _refresh_caches(root)
    return written


def _install_files(root: Path, command: list[str]) -> list[Path]:
    written: list[Path] = []
    for path, name in _plan(root):
        data = _resource(name).read_bytes()
        if name == DESKTOP_FILE:
            data = rewrite_exec(data.decode("utf-8"), command).encode("utf-8")
        _write_atomically(path, data)
        written.append(path)
    return written


def uninstall_desktop(prefix: Path | None = None) -> list[Path]:
    """Remove exactly the files `install_desktop` writes; returns those that were removed.

    Folders stay (they may hold other applications' files); system indexes are refreshed.
    """
    root = Path(prefix) if prefix is not None else data_home()
    removed = _remove_associations(root)
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
        value = match.group(2)
        return f"{match.group(1)}{program}{value[_first_argument(value)[1] :]}"

    return re.sub(r"^(Exec=)(.*)$", replace, entry, flags=re.MULTILINE)


def exec_program(entry: str) -> str | None:
    """The program (first argument) of an entry's Exec= line, unquoted; None if none."""
    match = re.search(r"^Exec=(.*)$", entry, flags=re.MULTILINE)
    return (_first_argument(match.group(1))[0] or None) if match else None


_STRING_ESCAPES = {"\\": "\\", "s": " ", "n": "\n", "t": "\t", "r": "\r"}


def _first_argument(value: str) -> tuple[str, int]:
    """The first argument of a raw Exec= value, unquoted, and how many raw characters it
    spans (the string-value escapes first, then the Exec quoting, as _exec_quote writes)."""
    chars: list[tuple[str, int, int]] = []  # (character, raw start, raw end)
    i = 0
    while i < len(value):
        step = 2 if value[i] == "\\" and value[i + 1 : i + 2] in _STRING_ESCAPES else 1
        chars.append((_STRING_ESCAPES[value[i + 1]] if step == 2 else value[i], i, i + step))
        i += step
    quoted = bool(chars) and chars[0][0] == '"'
    arg: list[str] = []
    k = 1 if quoted else 0
    while k < len(chars):
        char, start, end = chars[k]
        if quoted and char == "\\" and k + 1 < len(chars):
            arg.append(chars[k + 1][0])
            k += 2
            continue
        if (quoted and char == '"') or (not quoted and char == " "):
            return "".join(arg).replace("%%", "%"), end if quoted else start
        arg.append(char)
        k += 1
    return "".join(arg).replace("%%", "%"), len(value)


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
    """Tell menus and icon themes about the change; every tool here is optional.

    Caches are refreshed where they exist (a stale one would still name our entry) but never
    created: uninstall must leave nothing behind that install made."""
    applications = root / "applications"
    if (applications / "mimeinfo.cache").exists():
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


# -- "Open with" without taking over: [Added Associations] in the user's mimeapps.list -------
def _add_associations(root: Path, mimeapps: Path) -> list[Path]:
    """Offer PhotoSorter for MIME_TYPES, each behind the application that opens it now."""
    record_path = root / "applications" / RECORD_FILE
    lines = _read_lines(mimeapps)
    record = _read_record(record_path)  # an earlier install's, when installing again
    created = record.get("created", not mimeapps.exists())
    added: dict[str, list[str]] = record.get("added", {})
    for mime in MIME_TYPES:
        apps = _get(lines, ADDED, mime)
        if apps is not None and DESKTOP_FILE in apps:
            continue  # already offered (installed before, or by the user)
        default = current_default(mime)
        new = [] if apps is not None or default is None else [default]
        new.append(DESKTOP_FILE)
        _set(lines, ADDED, mime, [*(apps or []), *new])
        added[mime] = [*added.get(mime, []), *new]
    _write_lines(mimeapps, lines)
    record = {"mimeapps": str(mimeapps), "created": created, "added": added}
    _write_atomically(record_path, json.dumps(record, indent=1).encode("utf-8"))
    return [mimeapps, record_path]


def _remove_associations(root: Path) -> list[Path]:
    """Take back exactly the association entries `_add_associations` made."""
    record_path = root / "applications" / RECORD_FILE
    record = _read_record(record_path)
    if not record:
        return []
    mimeapps = Path(record["mimeapps"])
    lines = _read_lines(mimeapps)
    for mime, ours in record.get("added", {}).items():
        apps = _get(lines, ADDED, mime)
        if apps is not None:
            _set(lines, ADDED, mime, [a for a in apps if a not in ours])
    _drop_empty_group(lines, ADDED)
    if record.get("created") and not any(line.strip() for line in lines):
        mimeapps.unlink(missing_ok=True)
    elif mimeapps.exists():
        _write_lines(mimeapps, lines)
    record_path.unlink()
    return [mimeapps, record_path]


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def current_default(mime: str) -> str | None:
    """The desktop id that opens `mime` now, other than PhotoSorter, by the spec's order:
    [Default Applications], then [Added Associations], in every mimeapps.list by precedence,
    then the MimeType claims indexed in mimeinfo.cache; None when nothing opens it."""
    for group in ("Default Applications", ADDED):
        for path in _mimeapps_files():
            for app in _get(_read_lines(path), group, mime) or []:
                if app != DESKTOP_FILE and _is_installed(app):
                    return app
    for folder in _application_dirs():
        for app in _get(_read_lines(folder / "mimeinfo.cache"), "MIME Cache", mime) or []:
            if app != DESKTOP_FILE and _is_installed(app):
                return app
    return None


def _search_path(variable: str, default: str) -> list[Path]:
    value = os.environ.get(variable) or default
    return [Path(p) for p in value.split(os.pathsep) if os.path.isabs(p)]


def _application_dirs() -> list[Path]:
    data = [data_home(), *_search_path("XDG_DATA_DIRS", "/usr/local/share:/usr/share")]
    return [d / "applications" for d in data]


def _mimeapps_files() -> list[Path]:
    """Every mimeapps.list by precedence, the current desktop's own ones first in each dir."""
    desktops = [d.lower() for d in os.environ.get("XDG_CURRENT_DESKTOP", "").split(":") if d]
    names = [f"{d}-{MIMEAPPS}" for d in desktops] + [MIMEAPPS]
    dirs = [config_home(), *_search_path("XDG_CONFIG_DIRS", "/etc/xdg"), *_application_dirs()]
    return [d / name for d in dirs for name in names]


def _is_installed(app: str) -> bool:
    """Whether desktop id `app` names an entry ("a-b.desktop" may live in a/b.desktop)."""
    tails = {app, app.replace("-", "/", 1)}
    return any((d / tail).is_file() for d in _application_dirs() for tail in tails)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _write_lines(path: Path, lines: list[str]) -> None:
    _write_atomically(path.resolve(), ("\n".join(lines) + "\n").encode("utf-8"))


def _group_span(lines: list[str], group: str) -> tuple[int, int] | None:
    """(header index, end index) of `[group]` in a key file's lines; None if absent."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"[{group}]")
    except StopIteration:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return start, end


def _key_index(lines: list[str], group: str, key: str) -> int | None:
    span = _group_span(lines, group)
    if span is None:
        return None
    for i in range(span[0] + 1, span[1]):
        name, sep, _ = lines[i].partition("=")
        if sep and name.strip() == key:
            return i
    return None


def _get(lines: list[str], group: str, key: str) -> list[str] | None:
    """The `;`-separated list `key` holds in `[group]`, or None when it is not there."""
    i = _key_index(lines, group, key)
    if i is None:
        return None
    return [app.strip() for app in lines[i].partition("=")[2].split(";") if app.strip()]


def _set(lines: list[str], group: str, key: str, apps: list[str]) -> None:
    """Set (or, with no apps, remove) `key` in `[group]`, leaving every other line as it is."""
    i = _key_index(lines, group, key)
    if not apps:
        if i is not None:
            del lines[i]
        return
    line = f"{key}={';'.join(apps)};"
    if i is not None:
        lines[i] = line
        return
    span = _group_span(lines, group)
    if span is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{group}]", line]
    else:
        lines.insert(span[0] + 1, line)


def _drop_empty_group(lines: list[str], group: str) -> None:
    span = _group_span(lines, group)
    if span and not any(lines[i].strip() for i in range(span[0] + 1, span[1])):
        start, end = span
        if end == len(lines) and start > 0 and not lines[start - 1].strip():
            start -= 1  # the blank line _set put before a group it appended
        del lines[start:end]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# -- a relocated bundle ---------------------------------------------------------------------------
def repoint_entry(prefix: Path | None = None) -> Path | None:
    """Point an installed entry whose program is gone (the folder was moved) at this very
    installation; returns the entry when it was rewritten. An entry whose program still
    exists belongs to an installation in place and is left alone."""
    entry = (Path(prefix) if prefix is not None else data_home()) / "applications" / DESKTOP_FILE
    try:
        text = entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    program = exec_program(text)
    if program is None or Path(program).exists():
        return None
    _write_atomically(entry, rewrite_exec(text, launch_command()).encode("utf-8"))
    return entry
