"""The freedesktop.org thumbnail cache: names, text keys, validity, permissions, failures."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from photosorter.core.library import desktop_thumbnails as dt


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(path, "JPEG")
    return path


def thumbs() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "thumbnails"


def png_text(path: Path) -> dict[str, str]:
    with Image.open(path) as img:
        img.load()
        return dict(img.text)


def write_png(path: Path, img: Image.Image, text: dict[str, str]) -> None:
    """A thumbnail as another tool (a file manager) would leave it."""
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG", pnginfo=info)


def test_uris_and_names_are_glibs():
    expected = "file:///tmp/a%20b/%C3%A9t%C3%A9.jpg"  # g_filename_to_uri("/tmp/a b/été.jpg")
    assert dt.file_uri("/tmp/a b/été.jpg") == expected
    found = dt.Original(dt.file_uri("/tmp/a b/été.jpg"), 0, 0).name
    assert found == hashlib.md5(expected.encode()).hexdigest() + ".png"
    # `gio info` said so for this one: GLib keeps !$&'()*+,:=@~ and escapes the rest
    odd = "/tmp/x/a b(c)[d]#e;f?g~h!i$j&k'l+m,n=o@p:q/%20*.jpg"
    glib = "file:///tmp/x/a%20b(c)%5Bd%5D%23e%3Bf%3Fg~h!i$j&k'l+m,n=o@p:q/%2520*.jpg"
    assert dt.file_uri(odd) == glib
    # the standard's own example
    me = dt.Original(dt.file_uri("/home/jens/photos/me.png"), 0, 0)
    assert me.name == "c6ee772d9e49320e97ec29a7eb5b1697.png"


def test_relative_and_dotted_paths_name_the_absolute_file(photo: Path, monkeypatch):
    monkeypatch.chdir(photo.parent)
    assert dt.file_uri("photo.jpg") == dt.file_uri(photo)
    assert dt.file_uri(photo.parent / "." / "x" / ".." / "photo.jpg") == dt.file_uri(photo)


def test_the_folder_is_xdg_cache_home_or_home_cache(tmp_path: Path, monkeypatch):
    assert dt.thumbnails_root() == thumbs()
    monkeypatch.setenv("HOME", str(tmp_path))
    for ignored in ("", " ", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert dt.thumbnails_root() == tmp_path / ".cache" / "thumbnails"


def test_a_written_thumbnail_follows_the_standard(photo: Path):
    shot = dt.original(photo)
    assert shot is not None
    with Image.open(photo) as img:
        written = dt.save(shot, img.convert("RGB"), 200)
    uri = "file://" + str(photo)  # tmp paths hold no character that needs escaping
    name = hashlib.md5(uri.encode()).hexdigest() + ".png"
    assert written == thumbs() / "large" / name
    text = png_text(written)
    st = photo.stat()
    assert text["Thumb::URI"] == uri
    assert text["Thumb::MTime"] == str(int(st.st_mtime))
    assert text["Thumb::Size"] == str(st.st_size)
    assert text["Software"].startswith("PhotoSorter ")
    with Image.open(written) as img:
        assert img.format == "PNG" and img.mode == "RGBA" and img.size == (256, 192)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    for folder in (thumbs(), thumbs() / "large"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p.name for p in written.parent.iterdir()] == [name]  # no temporary file left
    found = dt.find(shot, 200)
    assert found is not None and found.mode == "RGB" and found.size == (256, 192)
    assert found.getpixel((128, 96))[0] > 150


def test_small_sides_use_the_normal_folder_and_fall_back_to_larger(photo: Path):
    shot = dt.original(photo)
    with Image.open(photo) as img:
        written = dt.save(shot, img.convert("RGB"), 100)
    assert written.parent.name == "normal"
    with Image.open(written) as img:
        assert max(img.size) == 128
    assert dt.find(shot, 100) is not None
    assert dt.find(shot, 129) is None  # a 128 px thumbnail is too small for 129
    (thumbs() / "x-large").mkdir(mode=0o700)
    written.rename(thumbs() / "x-large" / written.name)
    assert dt.find(shot, 100) is not None  # a larger folder serves a smaller side


def test_a_stale_thumbnail_is_ignored_and_replaced(photo: Path):
    shot = dt.original(photo)
    with Image.open(photo) as img:
        written = dt.save(shot, img.convert("RGB"), 256)
    st = photo.stat()
    os.utime(photo, (st.st_atime, st.st_mtime + 5))
    changed = dt.original(photo)
    assert changed is not None and changed.name == shot.name and changed != shot
    assert dt.find(changed, 256) is None
    dt.save(changed, Image.new("RGB", (256, 256), (0, 0, 255)), 256)
    assert png_text(written)["Thumb::MTime"] == str(int(st.st_mtime) + 5)
    assert dt.find(changed, 256).getpixel((5, 5)) == (0, 0, 255)


def test_another_tools_thumbnail_is_used_when_it_matches(photo: Path):
    shot = dt.original(photo)
    where = thumbs() / "large" / shot.name
    green = Image.new("RGBA", (200, 100), (0, 255, 0, 255))
    write_png(where, green, {"Thumb::URI": shot.uri, "Thumb::MTime": str(shot.mtime)})
    assert dt.find(shot, 256).getpixel((0, 0)) == (0, 255, 0)  # no Thumb::Size: fine
    write_png(where, green, {"Thumb::URI": shot.uri, "Thumb::MTime": str(shot.mtime),
                             "Thumb::Size": str(shot.size + 1)})  # fmt: skip
    assert dt.find(shot, 256) is None  # a size that differs: stale


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p, s: p.write_bytes(b"\x89PNG\r\n\x1a\n garbage"), id="not-a-png"),
        pytest.param(lambda p, s: p.write_bytes(b""), id="empty"),
        pytest.param(
            lambda p, s: write_png(p, Image.new("RGB", (300, 10)), s), id="too-large-for-folder"
        ),
        pytest.param(
            lambda p, s: write_png(p, Image.new("RGB", (9, 9)), {"Thumb::URI": s["Thumb::URI"]}),
            id="no-mtime",
        ),
        pytest.param(
            lambda p, s: write_png(p, Image.new("RGB", (9, 9)), s | {"Thumb::URI": "file:///x"}),
            id="another-uri",
        ),
        pytest.param(
            lambda p, s: write_png(p, Image.new("RGB", (9, 9)), s | {"Thumb::MTime": "soon"}),
            id="mtime-not-a-number",
        ),
        pytest.param(lambda p, s: _oversized_file(p, s), id="too-many-bytes"),
        pytest.param(lambda p, s: os.mkfifo(p), id="fifo"),
    ],
)
def test_a_doubtful_thumbnail_is_a_miss(photo: Path, make):
    shot = dt.original(photo)
    where = thumbs() / "normal" / shot.name
    where.parent.mkdir(parents=True, exist_ok=True)
    make(where, {"Thumb::URI": shot.uri, "Thumb::MTime": str(shot.mtime)})
    assert dt.find(shot, 128) is None


def _oversized_file(path: Path, text: dict[str, str]) -> None:
    write_png(path, Image.new("RGB", (9, 9)), text)
    with open(path, "ab") as fh:  # trailing bytes after IEND: a PNG reader ignores them
        fh.truncate(dt.MAX_THUMBNAIL_BYTES + 1)


def test_a_symlinked_thumbnail_is_a_miss(photo: Path):
    shot = dt.original(photo)
    with Image.open(photo) as img:
        written = dt.save(shot, img.convert("RGB"), 128)
    assert dt.find(shot, 128) is not None
    elsewhere = written.rename(photo.parent / "elsewhere.png")
    written.symlink_to(elsewhere)
    assert dt.find(shot, 128) is None


def test_a_failure_is_recorded_until_the_file_changes(photo: Path):
    shot = dt.original(photo)
    assert dt.failure(shot) is None
    written = dt.record_failure(shot, photo, "corrupt or truncated image: é")
    assert written == thumbs() / "fail" / "photosorter-0.1.0" / shot.name
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(written.parent.parent.stat().st_mode) == 0o700
    text = png_text(written)
    assert text["Thumb::URI"] == shot.uri and text["Thumb::MTime"] == str(shot.mtime)
    assert dt.failure(shot) == "corrupt or truncated image: é"
    assert dt.find(shot, 128) is None  # a failure is no thumbnail
    os.utime(photo, (shot.mtime + 9, shot.mtime + 9))
    assert dt.failure(dt.original(photo)) is None


def test_a_failure_is_not_recorded_for_a_file_that_changed_meanwhile(photo: Path):
    shot = dt.original(photo)
    photo.write_bytes(b"something else")
    assert dt.record_failure(shot, photo, "not an image file") is None
    assert not (thumbs() / "fail").exists()


def test_files_inside_the_thumbnails_folder_are_left_alone(photo: Path):
    inside = thumbs() / "normal" / "photo.jpg"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(photo.read_bytes())
    assert dt.original(inside) is None
    link = photo.parent / "link.jpg"
    link.symlink_to(inside)
    assert dt.original(link) is None  # not through a link either
    assert dt.original(photo.parent) is None  # a folder
    assert dt.original(photo.parent / "missing.jpg") is None


def test_a_read_only_cache_costs_only_the_thumbnail(photo: Path, monkeypatch):
    blocker = photo.parent / "not-a-folder"
    blocker.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    shot = dt.original(photo)
    assert dt.save(shot, Image.new("RGB", (9, 9)), 128) is None
    assert dt.record_failure(shot, photo, "x") is None
    assert blocker.read_bytes() == b""


def test_writes_are_whole_png_files_even_with_text_in_any_script(photo: Path):
    shot = dt.original(photo)
    written = dt.record_failure(shot, photo, "日本語")
    data = written.read_bytes()
    assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == (1, 1)
