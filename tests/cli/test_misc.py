"""Small CLI entry points: --version, desktop integration, the default command."""

from __future__ import annotations

from pathlib import Path

from photosorter import __version__, cli


def test_version_names_versions(capsys) -> None:
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert f"PhotoSorter {__version__}" in out
    for name in ("default model:", "torch:", "open_clip:", "PySide6:"):
        assert name in out


def test_install_and_uninstall_desktop(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert cli.main(["--install-desktop"]) == 0
    entry = tmp_path / "applications" / "io.github.photosorter.PhotoSorter.desktop"
    assert entry.is_file()
    assert "Installed" in capsys.readouterr().out
    assert cli.main(["--uninstall-desktop"]) == 0
    assert not entry.exists()


def test_bare_paths_open_the_gui(monkeypatch) -> None:
    seen = {}
    monkeypatch.setitem(cli.COMMAND_FUNCS, "gui", lambda args: seen.setdefault("args", args) and 0)
    cli.main(["/some/folder"])
    assert seen["args"].paths == [Path("/some/folder")]
