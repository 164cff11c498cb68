"""RAW files (raw.py through images.py): preview or demosaic, orientation, damage, pairs."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosorter.core.errors import ImageError
from photosorter.core.library import images
from photosorter.core.library.formats import (
    is_raw_name,
    paired_raws,
    raw_companions,
    without_paired_raws,
)
from photosorter.core.library.scanner import scan
from tests.fixtures.dng import dng_bytes, write_dng
from tests.fixtures.shapes import COLOURS, draw_scene

FULL = (640, 480)


def scene(colour: str, size: tuple[int, int] = FULL, centre=(0.5, 0.5)) -> Image.Image:
    return draw_scene("circle", colour, random.Random(7), size, busy=False, centre=centre,
                      diameter=(0.3, 0.3))  # fmt: skip


def colour_of(img: Image.Image) -> str:
    """The named colour closest to the mean of the picture's saturated pixels."""
    px = np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1, 3)
    vivid = px[px.max(axis=1) - px.min(axis=1) > 90].mean(axis=0)
    return min(COLOURS, key=lambda c: float(np.linalg.norm(np.subtract(COLOURS[c], vivid))))


def centroid(img: Image.Image) -> tuple[float, float]:
    """Where the saturated pixels are, as fractions of the width and height."""
    px = np.asarray(img.convert("RGB"), dtype=np.int16)
    ys, xs = np.nonzero(px.max(axis=2) - px.min(axis=2) > 90)
    return xs.mean() / img.width, ys.mean() / img.height


def test_preview_is_used_only_when_it_is_big_enough_and_the_same_frame(tmp_path: Path) -> None:
    red = scene("red")
    # Previews showing another colour tell which picture was decoded.
    big = write_dng(tmp_path / "big.dng", red, preview=scene("blue", (320, 240)))
    small = write_dng(tmp_path / "small.dng", red, preview=scene("blue", (80, 60)))
    cropped = write_dng(tmp_path / "cropped.dng", red, preview=scene("blue", (320, 320)))
    bare = write_dng(tmp_path / "bare.dng", red)
    got = {p.name: images.decode_photo(p, min_side=100) for p in (big, small, cropped, bare)}
    assert {n: colour_of(d.image) for n, d in got.items()} == {
        "big.dng": "blue", "small.dng": "red", "cropped.dng": "red", "bare.dng": "red"
    }  # fmt: skip
    assert all((d.width, d.height, d.format) == (*FULL, "RAW") for d in got.values())
    assert min(got["big.dng"].image.size) < 240  # JPEG draft: decoded smaller than stored
    assert got["bare.dng"].image.size == (320, 240)  # half size is enough for 100
    # Half size is not enough for 300: the whole mosaic is demosaiced.
    assert images.decode_photo(bare, min_side=300).image.size == FULL


def test_thumbnail_from_the_preview_when_big_enough(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "a.dng", scene("red"), preview=scene("blue", (320, 240)))
    small = images.thumbnail(path, 128)
    assert small.size == (128, 96) and colour_of(small) == "blue"
    large = images.thumbnail(path, 400)  # the preview is too small for this one
    assert large.size == (400, 300) and colour_of(large) == "red"


# DNG orientation -> where a shape drawn at the top left of the sensor ends up.
@pytest.mark.parametrize(
    ("orientation", "corner"), [(1, (0, 0)), (3, (1, 1)), (6, (1, 0)), (8, (0, 1))]
)
@pytest.mark.parametrize("with_preview", [True, False])
def test_orientation_is_applied_once(
    tmp_path: Path, orientation: int, corner: tuple[int, int], with_preview: bool
) -> None:
    picture = scene("red", centre=(0.2, 0.2))
    preview = picture.resize((320, 240)) if with_preview else None
    path = write_dng(tmp_path / "o.dng", picture, preview, orientation)
    decoded = images.decode_photo(path, min_side=100)
    turned = orientation in (6, 8)
    assert (decoded.width, decoded.height) == (FULL[::-1] if turned else FULL)
    assert (decoded.image.width < decoded.image.height) == turned
    x, y = centroid(decoded.image)
    assert (round(x), round(y)) == corner


def test_a_preview_with_its_own_exif_orientation_is_not_turned_twice(tmp_path: Path) -> None:
    """A camera that writes the preview's orientation into its EXIF: the RAW's flip is the
    same turn, and must not be applied on top of it."""
    picture = scene("red", centre=(0.2, 0.2))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    picture.resize((320, 240)).save(buf, "JPEG", exif=exif)
    path = write_dng(tmp_path / "e.dng", picture, buf.getvalue(), 6)
    decoded = images.decode_photo(path, min_side=100)
    assert decoded.image.width < decoded.image.height
    x, y = centroid(decoded.image)
    assert (round(x), round(y)) == (1, 0)


def test_damaged_raws_are_clear_per_file_errors(tmp_path: Path) -> None:
    data = dng_bytes(scene("red"))
    truncated = tmp_path / "truncated.dng"
    truncated.write_bytes(data[: len(data) // 3])
    garbage = tmp_path / "garbage.nef"
    garbage.write_bytes(data[:8] + random.Random(1).randbytes(4000))
    not_raw = tmp_path / "text.cr2"
    not_raw.write_bytes(b"just some text, not a photo\n" * 10)
    with pytest.raises(ImageError, match="damaged or truncated RAW"):
        images.decode_photo(truncated)
    with pytest.raises(ImageError, match="not a RAW file LibRaw can read"):
        images.decode_photo(garbage)
    with pytest.raises(ImageError, match="not an image file"):
        images.open_image_file(not_raw)


def test_a_big_raw_is_never_held_whole_in_memory(tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big.dng"
    with big.open("wb") as f:  # a TIFF header, then 256 MB (sparse): LibRaw refuses it
        f.write(dng_bytes(scene("red"))[:8])
        f.truncate(256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="RAW"):
            images.decode_photo(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # LibRaw reads the file itself; Python never holds it


@pytest.mark.parametrize(
    "head",
    [b"FUJIFILMCCD-RAW ", b"IIRO\x08\0\0\0", b"IIU\0\x08\0\0\0", b"\0\0\0\x18ftypcrx \0\0\0\x01",
     b"II*\0\x10\0\0\0CR\x02\0"],
)  # fmt: skip
def test_raw_headers_pass_the_header_check(head: bytes) -> None:
    images.check_header(head, 1000)


def test_raw_extensions_are_photos() -> None:
    names = "a.CR2 a.cr3 a.NEF a.nrw a.ARW a.RAF a.orf a.RW2 a.pef a.srw a.DNG a.3fr a.IIQ"
    assert all(images.is_supported(n) for n in names.split())


def test_a_raw_beside_a_jpeg_is_its_companion_not_a_photo(tmp_path: Path) -> None:
    for name in ("IMG_1.JPG", "IMG_1.CR2", "IMG_2.NEF", "IMG_3.jpg", "IMG_3.jpg.xmp", "x.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = [p.name for p in scan([tmp_path])]
    assert found == ["IMG_1.JPG", "IMG_2.NEF", "IMG_3.jpg"]
    assert raw_companions(tmp_path / "IMG_1.JPG", ["IMG_1.CR2", "IMG_1.xmp", "IMG_12.NEF"]) == [
        "IMG_1.CR2"
    ]
    assert raw_companions(tmp_path / "IMG_1.CR2", ["IMG_1.DNG"]) == []  # RAWs don't pair
    pairs = paired_raws(tmp_path / n for n in found)
    assert pairs == {tmp_path / "IMG_1.JPG": [tmp_path / "IMG_1.CR2"]}


def test_paired_raws_look_up_each_folder_once_by_stem(tmp_path: Path) -> None:
    for name in ("a.jpg", "a.NEF", "a.cr2", "a.xmp", "b.jpg", "ab.NEF", "c.NEF", "c.DNG"):
        (tmp_path / name).write_bytes(b"x")
    photos = [tmp_path / n for n in ("a.jpg", "b.jpg", "c.NEF")] + [tmp_path / "gone" / "a.jpg"]
    assert paired_raws(photos) == {tmp_path / "a.jpg": [tmp_path / "a.NEF", tmp_path / "a.cr2"]}


def _pairing_rule(photos: list[str]) -> list[str]:
    """The rule as first written: a RAW goes when a non-RAW of its stem is listed."""
    rendered = {os.path.splitext(p)[0] for p in photos if not is_raw_name(p)}
    return [p for p in photos if not (is_raw_name(p) and os.path.splitext(p)[0] in rendered)]


def test_pairing_on_names_keeps_the_rule_on_a_mixed_folder() -> None:
    folder = "/photos/2024.trip"
    names = [
        "IMG_1.JPG", "IMG_1.CR2", "IMG_2.NEF", "IMG_2.dng", "IMG_3.jpg", "IMG_3.Raw",
        "a.b.png", "a.b.ARW", "a.ARW", "DSC.heic", "DSC.cr3", "x.\u212adc", "x.jpeg",
        "nocr2", ".cr2", "IMG_4.CR2.jpg", "IMG_4.CR2", "IMG_5.tif", "img_5.ORF",
    ]  # fmt: skip
    photos = [f"{folder}/{n}" for n in names]
    kept = without_paired_raws(photos)
    assert kept == _pairing_rule(photos)
    assert [os.path.basename(p) for p in kept if is_raw_name(p)] == [
        "IMG_2.NEF", "IMG_2.dng", "a.ARW", "IMG_4.CR2", "img_5.ORF"
    ]  # fmt: skip
    for i in range(200):  # shuffled subsets: the same answer as the rule, in the same order
        some = random.Random(i).sample(photos, random.Random(-i).randint(0, len(photos)))
        assert without_paired_raws(some) == _pairing_rule(some)
    without_raws = [p for p in photos if not is_raw_name(p)]
    assert without_paired_raws(without_raws) == without_raws
