"""Scanning real folder trees: extensions, hidden entries, symlinks, loops, errors, cancel."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from photosorter.core.errors import PhotoSorterError
from photosorter.core.library.scanner import (
    ScanError,
    check_roots,
    holds_images,
    scan,
    scan_names,
)

needs_symlinks = pytest.mark.skipif(
    sys.platform == "win32", reason="symlinks need privileges on Windows"
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(paths: list[Path], base: Path) -> list[str]:
    return [p.relative_to(base.resolve()).as_posix() for p in paths]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for rel in (
        "b.jpg",
        "a.JPG",
        "c.Png",
        "notes.txt",
        "clip.mp4",
        "noext",
        ".hidden.jpg",
        ".thumbs/inside.jpg",
        "2023/summer/beach.heic",
        "2023/summer/sea.webp",
        "2023/winter/snow.TIFF",
        "2023/z.gif",
        "zz/deep/er/still.bmp",
        "zz/empty_not/readme.md",
    ):
        touch(root / rel)
    (root / "emptydir").mkdir()
    (root / "dir.jpg").mkdir()  # a folder named like an image is a folder
    return root


def test_nested_sorted_and_filtered(tree: Path) -> None:
    found = list(scan([tree]))
    assert all(p.is_absolute() for p in found)
    assert names(found, tree) == [
        "a.JPG",
        "b.jpg",
        "c.Png",
        "2023/z.gif",
        "2023/summer/beach.heic",
        "2023/summer/sea.webp",
        "2023/winter/snow.TIFF",
        "zz/deep/er/still.bmp",
    ]
    assert list(scan([str(tree)])) == found  # deterministic, str or Path
    assert list(scan_names([tree])) == [str(p) for p in found]  # the same, as str


def test_unicode_names(tmp_path: Path) -> None:
    for name in ("été.jpg", "фото.png", "写真.webp", "emoji 🐶.jpeg", "spa ce.jpg"):
        touch(tmp_path / "ü" / name)
    found = scan([tmp_path / "ü"])
    assert sorted(p.name for p in found) == sorted(
        ["été.jpg", "фото.png", "写真.webp", "emoji 🐶.jpeg", "spa ce.jpg"]
    )


def test_file_root_even_if_hidden(tmp_path: Path) -> None:
    photo = touch(tmp_path / ".secret.JPG")
    assert list(scan([photo])) == [photo.resolve()]
    assert check_roots([str(photo)]) == [photo.resolve()]


def test_missing_root_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ScanError, match="nowhere: no such folder or file") as info:
        check_roots([tmp_path, missing])
    assert isinstance(info.value, PhotoSorterError)
    with pytest.raises(ScanError, match="nowhere"):
        list(scan([tmp_path, missing]))


def test_non_image_root_raises(tmp_path: Path) -> None:
    text = touch(tmp_path / "notes.txt")
    with pytest.raises(ScanError, match=r"notes\.txt: not a folder or image file"):
        check_roots([text])


def test_check_roots_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert check_roots(["sub", "./sub/../sub"]) == [(tmp_path / "sub").resolve()] * 2


def test_overlapping_and_duplicate_roots(tree: Path) -> None:
    once = list(scan([tree]))
    for roots in (
        [tree, tree / "2023"],
        [tree / "2023", tree],
        [tree, tree],
        [tree, tree / "b.jpg"],
    ):
        found = list(scan(roots))
        assert sorted(found) == sorted(once)
        assert len(found) == len(set(found))
    assert list(scan([tree / "2023", tree]))[:4] == list(scan([tree / "2023"]))


@needs_symlinks
def test_symlink_loop_finishes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "sub" / "a.jpg")
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    (root / "sub" / "self").symlink_to(root / "sub", target_is_directory=True)
    (root / "loop1").symlink_to(root / "loop2")  # a link cycle that never resolves
    (root / "loop2").symlink_to(root / "loop1")
    assert names(list(scan([root])), root) == ["sub/a.jpg"]


@needs_symlinks
def test_symlink_out_of_root_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    touch(root / "mine.jpg")
    touch(outside / "theirs.jpg")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "linkfile.jpg").symlink_to(outside / "theirs.jpg")
    assert names(list(scan([root])), root) == ["mine.jpg"]
    # Given as a root too, the outside folder counts, once.
    found = list(scan([root, outside]))
    assert sorted(p.name for p in found) == ["mine.jpg", "theirs.jpg"]


@needs_symlinks
def test_symlink_inside_root_not_double_counted(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "real" / "a.jpg")
    touch(root / "real" / "b.png")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "also-a.jpg").symlink_to(root / "real" / "a.jpg")
    (root / "dangling.jpg").symlink_to(root / "gone.jpg")
    found = list(scan([root]))
    assert len(found) == len(set(found)) == 2
    assert sorted(p.name for p in found) == ["a.jpg", "b.png"]
    assert all(p == p.resolve() for p in found)  # canonical paths, not the alias


@needs_symlinks
def test_symlink_to_hidden_folder_inside_root_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / ".stash" / "kept.jpg")
    (root / "visible").symlink_to(root / ".stash", target_is_directory=True)
    assert [p.name for p in scan([root])] == ["kept.jpg"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_subfolder_reported_and_scan_continues(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not block reading")
    root = tmp_path / "root"
    touch(root / "a" / "one.jpg")
    touch(root / "locked" / "secret.jpg")
    touch(root / "z" / "two.jpg")
    (root / "locked").chmod(0)
    errors: list[tuple[Path, str]] = []
    try:
        found = list(scan([root], on_error=lambda p, m: errors.append((p, m))))
    finally:
        (root / "locked").chmod(0o755)
    assert names(found, root) == ["a/one.jpg", "z/two.jpg"]
    assert len(errors) == 1
    path, message = errors[0]
    assert path == (root / "locked").resolve() and message.startswith("cannot read folder: ")


def test_unreadable_subfolder_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path without relying on permissions (works as root too)."""
    root = tmp_path / "root"
    touch(root / "a" / "one.jpg")
    touch(root / "locked" / "secret.jpg")
    real_scandir = os.scandir

    def scandir(path: str):
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("photosorter.core.library.scanner.os.scandir", scandir)
    errors: list[tuple[Path, str]] = []
    found = list(scan([root], on_error=lambda p, m: errors.append((p, m))))
    assert names(found, root) == ["a/one.jpg"]
    assert errors == [((root / "locked").resolve(), "cannot read folder: Permission denied")]
    assert list(scan([root])) == found  # without on_error: silently carries on


def test_cancel_between_folders(tree: Path) -> None:
    cancel = threading.Event()
    found = []
    for path in scan([tree], cancel=cancel):
        found.append(path)
        cancel.set()
    # The root folder's own files come as one listing; nothing after the cancel.
    assert names(found, tree) == ["a.JPG", "b.jpg", "c.Png"]
    cancel.set()
    assert list(scan([tree], cancel=cancel)) == []


def test_holds_images_looks_deep_and_ignores_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "sorted"
    touch(folder / "Red" / "notes.txt")
    touch(folder / ".hidden" / "a.jpg")
    assert not holds_images(folder)
    touch(folder / "Red" / "2024" / "a.jpg")
    assert holds_images(folder)
    assert not holds_images(tmp_path / "gone")
