"""AVIF and JPEG XL, and JPEGs over the pixel limit (panoramas, scans) classified scaled down."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from photosorter.bench.inputs import make_dc_jpeg
from photosorter.core.errors import ImageError
from photosorter.core.library import images
from photosorter.core.library.decoders import jxl_size
from photosorter.core.library.images import MAX_PIXELS, decode, decode_photo, thumbnail
from tests.core.library.test_images import png_header

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
pytest.importorskip("pillow_jxl")


def quadrants(w: int, h: int) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = Image.new("RGB", (w, h), WHITE)
    img.paste(RED, (0, 0, w // 2, h // 2))
    img.paste(GREEN, (w // 2, 0, w, h // 2))
    img.paste(BLUE, (0, h // 2, w // 2, h))
    return img


def corners(img: Image.Image) -> list[tuple[int, ...]]:
    w, h = img.size
    return [img.getpixel(xy) for xy in ((4, 4), (w - 5, 4), (4, h - 5), (w - 5, h - 5))]


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def saved(img: Image.Image, fmt: str, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, fmt, quality=90, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize(("ext", "fmt"), [(".avif", "AVIF"), (".jxl", "JXL")])
@pytest.mark.parametrize(
    ("orientation", "colours"), [(1, (RED, GREEN, BLUE, WHITE)), (6, (BLUE, RED, WHITE, GREEN))]
)
def test_avif_and_jxl_decode_upright(
    tmp_path: Path, ext: str, fmt: str, orientation: int, colours: tuple
) -> None:
    assert images.is_supported(f"photo{ext.upper()}")
    path = tmp_path / f"photo{ext}"
    path.write_bytes(saved(quadrants(96, 64), fmt, orientation))
    for source in (path, path.read_bytes()):
        got = decode_photo(source, min_side=32)
        size = (64, 96) if orientation == 6 else (96, 64)
        assert (got.format, got.image.mode, got.image.size) == (fmt, "RGB", size)
        assert (got.width, got.height) == size
        assert all(near(c, e) for c, e in zip(corners(got.image), colours, strict=True))


@pytest.mark.parametrize("fmt", ["AVIF", "JXL"])
def test_damaged_avif_and_jxl_are_per_file_errors(tmp_path: Path, fmt: str) -> None:
    data = saved(quadrants(96, 64), fmt)
    path = tmp_path / "cut.img"
    for variant in (data[: len(data) // 2], data[:40], data[:20] + bytes(len(data) - 20)):
        path.write_bytes(variant)
        with pytest.raises(ImageError, match=r"^(corrupt or truncated image|not an image file)"):
            decode(path)


def test_jxl_size_is_read_before_decoding(tmp_path: Path) -> None:
    for size in ((1, 1), (64, 48), (333, 777), (640, 360), (7000, 3)):
        for exif in (None, Image.Exif().tobytes()):  # a bare codestream, then a container
            buf = io.BytesIO()
            Image.new("RGB", size).save(buf, "JXL", **({"exif": exif} if exif else {}))
            assert jxl_size(io.BytesIO(buf.getvalue())) == size


def test_jxl_declaring_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    # SizeHeader: not small, height selector 3 (30 bits) = 60000, ratio 1 (square)
    value = 0 | (3 << 1) | ((60000 - 1) << 3) | (1 << 33)
    path = tmp_path / "bomb.jxl"
    path.write_bytes(b"\xff\x0a" + value.to_bytes(8, "little") + bytes(64))
    assert jxl_size(io.BytesIO(path.read_bytes())) == (60000, 60000)
    with pytest.raises(ImageError, match=r"^image too large: 60000 x 60000 pixels$"):
        decode(path)


# --- over the pixel limit ----------------------------------------------------------------

PANORAMA = (16000, 11504)  # 184 MP: over MAX_PIXELS (179 MP); 1/8 scale is 2000 x 1438


@pytest.fixture(scope="module")
def panorama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert PANORAMA[0] * PANORAMA[1] > MAX_PIXELS
    path = tmp_path_factory.mktemp("pano") / "pano.jpg"
    return make_dc_jpeg(path, quadrants(2, 2), *PANORAMA)


def test_jpeg_over_the_pixel_limit_is_classified_scaled_down(panorama: Path) -> None:
    got = decode_photo(panorama, min_side=224)
    assert (got.width, got.height, got.format) == (*PANORAMA, "JPEG")
    assert got.image.size == (2000, 1438)
    assert all(
        near(c, e, 2) for c, e in zip(corners(got.image), (RED, GREEN, BLUE, WHITE), strict=True)
    )
    thumb = thumbnail(panorama, 256)
    assert thumb.size == (256, 184) and near(thumb.getpixel((4, 4)), RED, 2)


def test_jpeg_over_the_pixel_limit_is_too_large_at_full_size(panorama: Path) -> None:
    with pytest.raises(ImageError, match=r"^image too large: 16000 x 11504 pixels$"):
        decode(panorama)  # no scaling asked: the whole 184 MP would be decoded
    with pytest.raises(ImageError, match=r"^image too large: 16000 x 11504 pixels$"):
        decode_photo(panorama, min_side=6000)  # only the full scale has a 6000 short side


def test_png_over_the_pixel_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_header(*PANORAMA))  # refused from its header: no need for pixels
    for min_side in (None, 224):
        with pytest.raises(ImageError, match=r"^image too large: 16000 x 11504 pixels$"):
            decode_photo(path, min_side=min_side)
        with pytest.raises(ImageError, match=r"^image too large: 16000 x 11504 pixels$"):
            thumbnail(path, 256)


def test_only_a_baseline_jpeg_may_exceed_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A progressive JPEG holds all its coefficients in memory while decoding: refused."""
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000)  # 400 x 300 is over it, 1/8 is not
    path = tmp_path / "p.jpg"
    quadrants(400, 300).save(path, quality=90)
    assert decode_photo(path, min_side=32).image.size == (50, 38)
    quadrants(400, 300).save(path, quality=90, progressive=True)
    with pytest.raises(ImageError, match=r"^image too large: 400 x 300 pixels \(a progressive"):
        decode_photo(path, min_side=32)
