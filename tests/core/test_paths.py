"""PhotoSorter's own folders unwritable: a plain sentence naming the path, never a traceback."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosorter import cli
from photosorter.core.errors import StorageError
from photosorter.core.library.cache import Store
from photosorter.core.settings import Settings, save_settings


@pytest.fixture
def under_a_file(tmp_path: Path) -> Path:
    """A folder path below a regular file: creating it fails even for root."""
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file" / "photosorter"


@contextlib.contextmanager
def immutable(folder: Path) -> Iterator[Path]:
    """`chattr +i`: nothing can be created in the folder, root included."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr not available")
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode:
        pytest.skip("this filesystem has no immutable flag")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_cli_with_an_unwritable_data_dir_says_so(
    tmp_path: Path, under_a_file: Path, monkeypatch: pytest.MonkeyPatch, capsys, tiny_spec: str
) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "c.toml").write_text('[[category]]\nname = "red"\n', encoding="utf-8")
    monkeypatch.setenv("PHOTOSORTER_DATA_DIR", str(under_a_file))
    code = cli.main(
        ["sort", str(tmp_path / "photos"), "--categories", str(tmp_path / "c.toml"),
         "--model", tiny_spec]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(under_a_file) in err and "Traceback" not in err


def test_a_store_in_a_read_only_folder_is_a_plain_error(tmp_path: Path) -> None:
    with immutable(tmp_path / "data") as folder, pytest.raises(StorageError) as caught:
        Store(folder / "photosorter.sqlite3")
    assert str(folder / "photosorter.sqlite3") in str(caught.value)


def test_settings_that_cannot_be_saved_name_the_file(
    tmp_path: Path, under_a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSORTER_CONFIG_DIR", str(under_a_file))
    with pytest.raises(StorageError, match=str(under_a_file)):
        save_settings(Settings())
    with immutable(tmp_path / "config") as folder, pytest.raises(StorageError) as caught:
        save_settings(Settings(), folder / "settings.toml")
    assert str(folder / "settings.toml") in str(caught.value)
