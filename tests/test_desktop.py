"""Shipped resources (categories, icons, desktop entry, metainfo) and desktop integration."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from importlib.resources import as_file, files
from pathlib import Path

import pytest
from PIL import Image

from photosorter import desktop
from photosorter.core.categories import load_categories

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging" / "linux"
RESOURCES = files("photosorter.resources")


@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installing never touches the real ~/.config or ~/.local/share; no system defaults."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "system"))
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)


def _tool(name: str, package: str) -> str:
    """The path of a validator; missing tools fail loudly rather than skip silently."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package {package} (apt-get install {package})"
        )
    return path


def _validate_desktop(path: Path) -> None:
    exe = _tool("desktop-file-validate", "desktop-file-utils")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and not out.strip(), out


def test_default_categories_parse() -> None:
    with as_file(RESOURCES / "default_categories.toml") as path:
        cats = load_categories(path)
    assert 8 <= len(cats.categories) <= 12
    for cat in cats.categories:
        assert 1 <= len(cat.prompts) <= 4, cat.name
        assert all(p.strip() for p in cat.prompts), cat.name
    assert len({c.folder_name.casefold() for c in cats.categories}) == len(cats.categories)


@pytest.mark.parametrize("size", desktop.ICON_SIZES)
def test_icon_png_has_its_size(size: int) -> None:
    with as_file(RESOURCES / "icons" / f"photosorter-{size}.png") as path, Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (size, size)
        assert im.mode == "RGBA"
        assert im.getpixel((0, 0))[3] == 0  # transparent corner: a rounded tile, not a square


def test_svg_icon_is_square() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring((RESOURCES / "photosorter.svg").read_bytes())
    assert root.tag.endswith("svg")
    assert root.get("viewBox") == "0 0 512 512"


@pytest.mark.parametrize("name", [desktop.DESKTOP_FILE, desktop.METAINFO_FILE])
def test_resource_copies_match_packaging(name: str) -> None:
    canonical = PACKAGING / name
    assert (RESOURCES / name).read_bytes() == canonical.read_bytes(), (
        f"resources/{name} differs from the canonical packaging/linux/{name}; "
        f"run: cp packaging/linux/{name} resources/{name}"
    )


def test_desktop_file_validates() -> None:
    _validate_desktop(PACKAGING / desktop.DESKTOP_FILE)


def test_metainfo_validates() -> None:
    exe = _tool("appstreamcli", "appstream")
    path = PACKAGING / desktop.METAINFO_FILE
    proc = subprocess.run(
        [exe, "validate", "--no-net", "--no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    problems = [line for line in out.splitlines() if line.startswith(("E:", "W:"))]
    assert not problems, out


def test_desktop_entry_matches_install_code() -> None:
    text = (PACKAGING / desktop.DESKTOP_FILE).read_text(encoding="utf-8")
    assert f"Icon={desktop.ICON_NAME}\n" in text
    assert f"Exec={desktop.COMMAND} gui " in text
    assert "MimeType=" not in text  # a user-level claim would make it the default: see desktop.py
    meta = (PACKAGING / desktop.METAINFO_FILE).read_text(encoding="utf-8")
    assert f"<id>{desktop.APP_ID}</id>" in meta
    assert f">{desktop.DESKTOP_FILE}</launchable>" in meta


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def test_install_and_uninstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    unrelated = [
        data / "applications" / "org.example.Other.desktop",
        data / "icons" / "hicolor" / "48x48" / "apps" / "org.example.Other.png",
        data / "metainfo" / "org.example.Other.metainfo.xml",
    ]
    for path in unrelated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not ours\n")
    before = _tree(data)

    written = desktop.install_desktop()

    expected = set(desktop.installed_paths(data))
    mimeapps = tmp_path / "config" / "mimeapps.list"
    record = data / "applications" / desktop.RECORD_FILE
    assert set(written) == expected | {mimeapps, record} and len(written) == len(expected) + 2
    assert data / "applications" / desktop.DESKTOP_FILE in expected
    assert data / "metainfo" / desktop.METAINFO_FILE in expected
    hicolor = data / "icons" / "hicolor"
    for size in desktop.ICON_SIZES:
        icon = hicolor / f"{size}x{size}" / "apps" / f"{desktop.ICON_NAME}.png"
        assert icon in expected
        with Image.open(icon) as im:
            assert im.size == (size, size)
    assert (hicolor / "scalable" / "apps" / f"{desktop.ICON_NAME}.svg").is_file()
    assert all(p.is_file() for p in written)

    entry = data / "applications" / desktop.DESKTOP_FILE
    exec_line = next(x for x in entry.read_text().splitlines() if x.startswith("Exec="))
    program = exec_line.removeprefix("Exec=").split(" ")[0]
    assert Path(program).is_absolute() and Path(program).is_file(), exec_line
    assert exec_line.endswith(" gui %F"), exec_line
    _validate_desktop(entry)

    desktop.install_desktop()  # idempotent: installing twice is fine
    removed = desktop.uninstall_desktop()

    assert set(removed) == expected | {mimeapps, record}
    assert not any(p.exists() for p in expected)
    assert all(p.read_text() == "not ours\n" for p in unrelated)
    assert _tree(data) == before  # no index (mimeinfo.cache) or record left behind
    assert not (tmp_path / "config").exists() or not _tree(tmp_path / "config")
    assert desktop.uninstall_desktop() == []  # nothing left to remove


def test_install_into_explicit_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "unused"))
    written = desktop.install_desktop(tmp_path / "prefix")
    assert written and all(p.is_relative_to(tmp_path / "prefix") for p in written)
    assert not (tmp_path / "unused").exists()
    assert not (tmp_path / "config").exists()  # a staging prefix: the user's choices untouched
    assert set(desktop.uninstall_desktop(tmp_path / "prefix")) == set(written)


def test_data_home_ignores_relative_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    assert desktop.data_home() == tmp_path / ".local" / "share"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert desktop.data_home() == tmp_path / ".local" / "share"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/usr/bin/photosorter"], "Exec=/usr/bin/photosorter gui %F"),
        (["/opt/My Apps/photosorter"], 'Exec="/opt/My Apps/photosorter" gui %F'),
        (["/v/bin/python3", "-m", "photosorter"], "Exec=/v/bin/python3 -m photosorter gui %F"),
        (["/a $b/100%/x"], 'Exec="/a \\\\$b/100%%/x" gui %F'),
        (["/a\\b c/x"], 'Exec="/a\\\\\\\\b c/x" gui %F'),
    ],
)
def test_rewrite_exec_quotes(command: list[str], expected: str, tmp_path: Path) -> None:
    original = (PACKAGING / desktop.DESKTOP_FILE).read_text(encoding="utf-8")
    rewritten = desktop.rewrite_exec(original, command)
    assert expected in rewritten.splitlines()
    entry = tmp_path / desktop.DESKTOP_FILE
    entry.write_text(rewritten, encoding="utf-8")
    _validate_desktop(entry)


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_launch_command_prefers_the_running_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _executable(tmp_path / "venv" / "bin" / "photosorter")
    monkeypatch.setattr(sys, "argv", [str(script), "--install-desktop"])
    assert desktop.launch_command() == [str(script)]


def test_launch_command_finds_script_beside_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _executable(tmp_path / "venv" / "bin" / "photosorter")
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    assert desktop.launch_command() == [str(script)]


def test_launch_command_falls_back_to_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "bin" / "python"
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert desktop.launch_command() == [str(python), "-m", "photosorter"]


def test_launch_command_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = tmp_path / "PhotoSorter" / "photosorter"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    assert desktop.launch_command() == [str(app)]


def test_desktop_module_is_qt_free() -> None:
    code = "import sys, photosorter.desktop; sys.exit('PySide6' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


# -- "Open with" without taking over, checked with GIO itself ---------------------------------
def _entry(folder: Path, name: str, mime: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        f"[Desktop Entry]\nType=Application\nName={name}\nExec=/bin/true %U\nMimeType={mime};\n"
    )
    exe = _tool("update-desktop-database", "desktop-file-utils")
    subprocess.run([exe, "-q", str(folder)], check=True)


def _gio_mime(mime: str) -> tuple[str | None, list[str]]:
    """(the default application, every registered one) as GIO answers for `mime`."""
    exe = _tool("gio", "libglib2.0-bin")
    out = subprocess.run(
        [exe, "mime", mime], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    default = out[0].rsplit(": ", 1)[1] if out and out[0].startswith("Default") else None
    start = out.index("Registered applications:") + 1 if "Registered applications:" in out else 0
    registered = []
    for line in out[start:] if start else []:
        if not line.startswith("\t"):
            break
        registered.append(line.strip())
    return default, registered


def test_open_with_does_not_take_over_folders_or_photos(tmp_path: Path) -> None:
    """A desktop that sets no defaults (LXDE, i3): the file manager and viewer stay the
    defaults, PhotoSorter is offered beside them, and uninstall takes back only its own."""
    system = tmp_path / "system" / "applications"
    _entry(system, "fm.desktop", "inode/directory")
    _entry(system, "viewer.desktop", "image/jpeg")
    mimeapps = tmp_path / "config" / "mimeapps.list"
    mimeapps.parent.mkdir(parents=True)
    mine = "# my choices\n[Default Applications]\ntext/plain=viewer.desktop;\n"
    mimeapps.write_text(mine)

    desktop.install_desktop()

    assert _gio_mime("inode/directory") == ("fm.desktop", ["fm.desktop", desktop.DESKTOP_FILE])
    assert _gio_mime("image/jpeg") == ("viewer.desktop", ["viewer.desktop", desktop.DESKTOP_FILE])
    assert _gio_mime("image/png") == (desktop.DESKTOP_FILE, [desktop.DESKTOP_FILE])  # no other
    desktop.install_desktop()  # again: nothing doubles
    assert mimeapps.read_text().count(desktop.DESKTOP_FILE) == len(desktop.MIME_TYPES)

    desktop.uninstall_desktop()

    assert mimeapps.read_text() == mine
    assert _gio_mime("inode/directory") == ("fm.desktop", ["fm.desktop"])


def test_open_with_keeps_the_users_own_associations(tmp_path: Path) -> None:
    mimeapps = tmp_path / "config" / "mimeapps.list"
    mimeapps.parent.mkdir(parents=True)
    mine = "[Added Associations]\nimage/jpeg=gimp.desktop;\n"
    mimeapps.write_text(mine)
    desktop.install_desktop()
    assert "image/jpeg=gimp.desktop;io.github.photosorter.PhotoSorter.desktop;\n" in (
        mimeapps.read_text()
    )
    desktop.uninstall_desktop()
    assert mimeapps.read_text() == mine


# -- a relocated bundle ----------------------------------------------------------------------------
def test_moved_bundle_repoints_its_menu_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _executable(tmp_path / "old place" / "PhotoSorter" / "photosorter")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(old))
    desktop.install_desktop()
    entry = tmp_path / "data" / "applications" / desktop.DESKTOP_FILE
    assert desktop.repoint_entry() is None  # in place: left alone

    new = tmp_path / "new place"
    old.parent.parent.rename(new)  # the user moves the unpacked bundle's folder
    new = new / "PhotoSorter"
    monkeypatch.setattr(sys, "executable", str(new / "photosorter"))
    assert desktop.repoint_entry() == entry

    assert desktop.exec_program(entry.read_text()) == str(new / "photosorter")
    _validate_desktop(entry)
    assert desktop.repoint_entry() is None  # done once


@pytest.mark.parametrize(
    "program", ["/usr/bin/photosorter", "/opt/My Apps/photosorter", "/a $b/100%/x", "/a\\b c/x"]
)
def test_exec_program_reads_back_what_rewrite_exec_wrote(program: str) -> None:
    original = (PACKAGING / desktop.DESKTOP_FILE).read_text(encoding="utf-8")
    assert desktop.exec_program(desktop.rewrite_exec(original, [program])) == program
