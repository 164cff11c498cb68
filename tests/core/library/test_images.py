"""Decoding real files of every supported format, odd modes, EXIF orientation and failures."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosorter.core.errors import ImageError
from photosorter.core.library import images
from photosorter.core.library.images import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    PreprocessSpec,
    decode,
    file_digest,
    is_supported,
    load_for_model,
    thumbnail,
    to_model_input,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def quadrants(w: int = 64, h: int = 48) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = Image.new("RGB", (w, h), WHITE)
    img.paste(RED, (0, 0, w // 2, h // 2))
    img.paste(GREEN, (w // 2, 0, w, h // 2))
    img.paste(BLUE, (0, h // 2, w // 2, h))
    return img


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=True))


def corners(img: Image.Image) -> tuple[tuple[int, ...], ...]:
    """Colours a few pixels in from each corner: TL, TR, BL, BR."""
    w, h = img.size
    return tuple(img.getpixel(xy) for xy in ((4, 4), (w - 5, 4), (4, h - 5), (w - 5, h - 5)))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny IDAT: a cheap decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(img: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    quadrants(4000, 3000).save(path, quality=90)
    return path


# --- extensions, digest, spec ------------------------------------------------------------


def test_supported_extensions_case_insensitive() -> None:
    assert {".jpg", ".heic", ".hif", ".tiff", ".jfif"} <= SUPPORTED_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in SUPPORTED_EXTENSIONS)
    for name in ("a.JPG", "b.Png", "c.HeIc", Path("d/e.webp"), "f.tar.TIF"):
        assert is_supported(name)
    for name in ("a.txt", "jpg", "noext", ".jpg.txt", "a.jpg.xmp", "movie.mp4"):
        assert not is_supported(name)


def test_file_digest() -> None:
    digest = file_digest(b"hello")
    assert digest == file_digest(b"hello") and len(digest) == 32
    assert digest != file_digest(b"hello!")
    int(digest, 16)


def test_preprocess_spec_validates() -> None:
    with pytest.raises(ValueError, match="resize_mode"):
        PreprocessSpec(224, CLIP_MEAN, CLIP_STD, resize_mode="crop")
    with pytest.raises(ValueError):
        PreprocessSpec(0, CLIP_MEAN, CLIP_STD)


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "fmt"),
    [
        (".jpg", "JPEG"),
        (".png", "PNG"),
        (".webp", "WEBP"),
        (".tiff", "TIFF"),
        (".bmp", "BMP"),
        (".gif", "GIF"),
        (".heic", "HEIF"),
    ],
)
def test_every_format_decodes_to_rgb(tmp_path: Path, ext: str, fmt: str) -> None:
    if fmt == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    path = tmp_path / f"photo{ext}"
    quadrants().save(path, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP", "HEIF") else {}))
    for source in (path, str(path), path.read_bytes()):
        img = decode(source)
        assert img.mode == "RGB" and img.size == (64, 48)
        tl, tr, bl, br = corners(img)
        assert near(tl, RED) and near(tr, GREEN) and near(bl, BLUE) and near(br, WHITE)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (32, 24), c) for c in (RED, GREEN, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 3
    img = decode(path)
    assert img.mode == "RGB" and img.size == (32, 24)
    assert near(img.getpixel((10, 10)), RED, tol=5)


# --- EXIF orientation --------------------------------------------------------------------


def oriented_jpeg(path: Path, orientation: int) -> Path:
    """An 80x40 stored image (red top-left) tagged with an EXIF Orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    quadrants(80, 40).save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize(
    ("orientation", "red_corner"),
    [(1, "TL"), (6, "TR"), (8, "BL"), (3, "BR")],  # 6: rotate 90 CW; 8: 90 CCW; 3: 180
)
def test_exif_orientation(tmp_path: Path, orientation: int, red_corner: str) -> None:
    path = oriented_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    rotated = orientation in (6, 8)
    expected_size = (40, 80) if rotated else (80, 40)
    names = ("TL", "TR", "BL", "BR")
    for img in (decode(path), decode(path.read_bytes(), min_side=40), thumbnail(path, 1000)):
        assert img.size == expected_size
        found = [n for n, c in zip(names, corners(img), strict=True) if near(c, RED)]
        assert found == [red_corner]


def test_thumbnail_applies_exif_and_fits(tmp_path: Path) -> None:
    path = oriented_jpeg(tmp_path / "o6.jpg", 6)
    img = thumbnail(path, 20)
    assert img.mode == "RGB" and img.size == (10, 20)


# --- odd modes ----------------------------------------------------------------------------


def test_palette_with_transparency_on_white(tmp_path: Path) -> None:
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 black, index 1 red
    img.paste(1, (8, 0, 16, 16))
    for name in ("p.png", "p.gif"):
        path = tmp_path / name
        img.save(path, transparency=0)
        out = decode(path)
        assert out.mode == "RGB"
        assert near(out.getpixel((2, 2)), WHITE, tol=2)  # transparent black -> white
        assert near(out.getpixel((12, 2)), RED, tol=2)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_alpha_composited_on_white(tmp_path: Path, mode: str) -> None:
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))  # fully transparent black
    rgba.paste((0, 0, 0, 255), (8, 0, 16, 8))  # opaque black
    rgba.paste((0, 0, 0, 128), (8, 8, 16, 16))  # half-transparent black
    img = rgba.convert(mode)
    assert img.mode == mode
    # PA cannot be saved by Pillow: decode() and to_model_input share the same conversion,
    # so check the file path for RGBA/LA and the in-memory conversion for all.
    if mode != "PA":
        path = tmp_path / f"{mode}.png"
        img.save(path)
        sources = [decode(path), images.to_rgb(img)]
    else:
        sources = [images.to_rgb(img)]
    for out in sources:
        assert out.mode == "RGB"
        assert near(out.getpixel((2, 2)), WHITE, tol=1)
        assert near(out.getpixel((12, 2)), (0, 0, 0), tol=1)
        assert near(out.getpixel((12, 12)), (127, 127, 127), tol=2)


def test_cmyk_jpeg_and_tiff(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    cmyk.paste((0, 0, 0, 255), (8, 0, 16, 16))  # black
    for name in ("c.jpg", "c.tif"):
        path = tmp_path / name
        cmyk.save(path)
        out = decode(path)
        assert out.mode == "RGB"
        assert near(out.getpixel((2, 2)), RED) and near(out.getpixel((12, 2)), (0, 0, 0))


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_sixteen_bit_scaled_not_clipped(tmp_path: Path, mode: str) -> None:
    data = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    img = Image.fromarray(data)
    if mode == "I;16B":
        img = Image.frombytes("I;16B", img.size, data.astype(">u2").tobytes())
    assert img.mode == mode
    sources = [images.to_rgb(img)]
    if mode == "I;16":
        path = tmp_path / "grey16.png"
        img.save(path)
        with Image.open(path) as check:
            assert check.mode.startswith("I")
        sources.append(decode(path))
    for out in sources:
        assert out.mode == "RGB"
        assert [out.getpixel((x, 1))[0] for x in range(4)] == [0, 1, 128, 255]


def test_int32_and_float_modes() -> None:
    as_int = Image.fromarray(np.array([[0, 1000, 65535]], dtype=np.int32), "I")
    assert [images.to_rgb(as_int).getpixel((x, 0))[0] for x in range(3)] == [0, 4, 255]
    small_int = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32), "I")
    assert [images.to_rgb(small_int).getpixel((x, 0))[0] for x in range(3)] == [0, 100, 255]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert [images.to_rgb(unit).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    wild = Image.fromarray(np.array([[-5.0, 0.0, 5.0, np.nan]], dtype=np.float32), "F")
    assert [images.to_rgb(wild).getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 128]


def test_float_tiff_decodes(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32), "F").save(path)
    out = decode(path)
    assert out.mode == "RGB" and [out.getpixel((x, 0))[0] for x in range(3)] == [0, 64, 255]


@pytest.mark.parametrize("mode", ["1", "L"])
def test_bilevel_and_grey(tmp_path: Path, mode: str) -> None:
    img = Image.new("L", (16, 16), 0)
    img.paste(255, (8, 0, 16, 16))
    img = img.convert(mode)
    path = tmp_path / f"{mode}.png"
    img.save(path)
    out = decode(path)
    assert out.mode == "RGB"
    assert out.getpixel((2, 2)) == (0, 0, 0) and out.getpixel((12, 2)) == WHITE


# --- draft mode ---------------------------------------------------------------------------


def test_draft_reduces_decoded_size(big_jpeg: Path) -> None:
    full = decode(big_jpeg)
    assert full.size == (4000, 3000)
    small = decode(big_jpeg, min_side=224)
    assert min(small.size) >= 224
    assert small.size == (500, 375)  # 1/8 DCT scale: the smallest that keeps >= 224
    tl, tr, bl, br = corners(small)
    assert near(tl, RED) and near(tr, GREEN) and near(bl, BLUE) and near(br, WHITE)
    assert min(decode(big_jpeg.read_bytes(), min_side=600).size) >= 600


def test_thumbnail_of_big_jpeg(big_jpeg: Path) -> None:
    img = thumbnail(big_jpeg, 256)
    assert img.mode == "RGB" and img.size == (256, 192)
    small = thumbnail(str(big_jpeg), 8000)  # never enlarged
    assert small.size == (4000, 3000)
    with pytest.raises(ValueError):
        thumbnail(big_jpeg, 0)


def test_thumbnail_of_rgba_png(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGBA", (300, 100), (0, 0, 0, 0)).save(path)
    img = thumbnail(path, 60)
    assert img.mode == "RGB" and img.size == (60, 20)
    assert near(img.getpixel((30, 10)), WHITE, tol=1)


# --- errors -------------------------------------------------------------------------------


def expect_error(source: object, pattern: str) -> ImageError:
    with pytest.raises(ImageError, match=pattern) as info:
        decode(source)  # type: ignore[arg-type]
    assert info.value.__class__ is ImageError
    return info.value


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect_error(path, "^empty file$")
    expect_error(b"", "^empty file$")


def test_random_bytes_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    expect_error(path, "^not an image file$")


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just some text\n")
    expect_error(path, "^not an image file$")


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = jpeg_bytes(quadrants(400, 300))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "^corrupt or truncated image: ")
    expect_error(data[: len(data) // 2], "^corrupt or truncated image: ")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.jpg", "^file not found$")
    expect_error(tmp_path, "^is a folder, not a file$")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_jpg_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO (or a link to one) named like a photo: an error at once, never a hang."""
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(fifo)
    errors: list[str] = []

    def attempt() -> None:
        for path in (fifo, link):
            with pytest.raises(ImageError) as info:
                thumbnail(path, 64)
            errors.append(str(info.value))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=60)
    hung = thread.is_alive()
    while hung:  # let a reader stuck in open() through, so the thread can end
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            break
    thread.join()
    assert not hung, "decoding blocked on a FIFO"
    assert errors == ["is a FIFO (named pipe), not a file"] * 2


def test_image_file_over_the_size_cap_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes(quadrants()))
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    expect_error(path, r"^image file too large: 0 MB \(the limit is 0 MB\)$")
    expect_error(path.read_bytes(), "^image file too large: ")


def test_open_image_file_checks_the_header_before_reading(tmp_path: Path) -> None:
    """A big file that is no image is refused after reading its first bytes only."""
    path = tmp_path / "huge.tif"
    with path.open("wb") as fh:
        fh.truncate(1536 << 20)  # sparse: no disk space used
    with pytest.raises(ImageError, match=r"^not an image file$"):
        images.open_image_file(path)
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(quadrants()))
    fh, st = images.open_image_file(good)
    with fh:
        assert st.st_size == good.stat().st_size and fh.tell() == 0
        assert images.stream_digest(fh) == file_digest(good.read_bytes())
        fh.seek(0)
        assert corners(decode(fh)) == corners(decode(good))


def test_unsupported_format_refused(tmp_path: Path) -> None:
    path = tmp_path / "icon.png"
    Image.new("RGB", (16, 16)).save(path, "ICO")  # Pillow reads ICO, we do not
    expect_error(path, "^not an image file$")


@pytest.mark.parametrize(
    ("width", "height"),
    [(20000, 20000), (13400, 13400)],  # Pillow's error (> 2x its limit) and its warning
)
def test_decompression_bomb(tmp_path: Path, width: int, height: int) -> None:
    assert width * height > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(width, height))
    expect_error(path, f"^image too large: {width} x {height} pixels$")
    with pytest.raises(ImageError, match=r"^image too large"):
        thumbnail(path, 256)


def test_own_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 500)
    path = tmp_path / "small.png"
    Image.new("RGB", (30, 20)).save(path)
    expect_error(path, "^image too large: 30 x 20 pixels$")


def test_bomb_warning_never_leaks_in_a_plain_run(tmp_path: Path) -> None:
    """Without pytest's filters (default warnings), a bomb still becomes an ImageError only."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(13400, 13400))
    code = (
        "import sys\n"
        "from photosorter.core.library.images import decode\n"
        "from photosorter.core.errors import ImageError\n"
        "try:\n"
        "    decode(sys.argv[1])\n"
        "except ImageError as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in ('torch', 'PySide6', 'open_clip') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.splitlines() == ["image too large: 13400 x 13400 pixels", "[]"]
    assert proc.stderr == ""


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_damaged_files_fail_cleanly(fmt: str) -> None:
    """Cut or corrupted files either decode or raise ImageError, never a raw exception."""
    buf = io.BytesIO()
    quadrants(120, 90).save(buf, fmt)
    data = buf.getvalue()
    rng = np.random.default_rng(7)
    variants = [data[:cut] for cut in range(1, len(data), max(1, len(data) // 40))]
    for _ in range(40):
        damaged = bytearray(data)
        for pos in rng.integers(0, len(data), 8):
            damaged[pos] = int(rng.integers(0, 256))
        variants.append(bytes(damaged))
    for variant in variants:
        try:
            img = decode(variant)
        except ImageError:
            continue
        assert img.mode == "RGB"


# --- model input --------------------------------------------------------------------------

SIZES = [(640, 480), (480, 640), (300, 300), (224, 224), (100, 50), (1001, 223), (17, 999)]


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_to_model_input_matches_open_clip(resize_mode: str, interpolation: str) -> None:
    transform_mod = pytest.importorskip("open_clip.transform")
    rng = np.random.default_rng(0)
    for size in (224, 32):
        spec = PreprocessSpec(size, CLIP_MEAN, CLIP_STD, interpolation, resize_mode)
        reference = transform_mod.image_transform(
            spec.size,
            is_train=False,
            mean=spec.mean,
            std=spec.std,
            interpolation=spec.interpolation,
            resize_mode=spec.resize_mode,
        )
        for w, h in SIZES:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
            ours = to_model_input(img, spec)
            theirs = reference(img).numpy()
            assert ours.dtype == np.float32 and ours.shape == (3, size, size)
            assert theirs.shape == ours.shape
            assert float(np.abs(ours - theirs).max()) < 1e-3, (w, h, size)


def test_load_for_model(tmp_path: Path, big_jpeg: Path) -> None:
    spec = PreprocessSpec(224, CLIP_MEAN, CLIP_STD)
    for source in (big_jpeg, big_jpeg.read_bytes()):
        arr = load_for_model(source, spec)
        assert arr.shape == (3, 224, 224) and arr.dtype == np.float32
        assert arr.flags.c_contiguous
    png = tmp_path / "q.png"
    quadrants(300, 200).save(png)
    np.testing.assert_array_equal(load_for_model(png, spec), to_model_input(decode(png), spec))
    # The red top-left quadrant stays red after resize, crop and normalisation.
    red = (np.array(RED) / 255 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    np.testing.assert_allclose(load_for_model(png, spec)[:, 10, 10], red, atol=0.05)


def test_to_model_input_handles_alpha() -> None:
    spec = PreprocessSpec(16, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    arr = to_model_input(Image.new("RGBA", (20, 20), (0, 0, 0, 0)), spec)
    np.testing.assert_allclose(arr, 1.0)  # transparent -> white -> 1.0
