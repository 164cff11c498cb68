"""Fast, safe image decoding: JPEG draft mode, EXIF orientation, RGB, size limits.

Only Pillow, pillow-heif and numpy: this module never imports torch or Qt. Every decode
failure comes out as an `ImageError` with a short message; no raw Pillow exception escapes.
A file is opened only if it is a regular file, and its header and size are checked before
the rest of it is read.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from photosorter.core.errors import ImageError
from photosorter.core.library import raw
from photosorter.core.library.decoders import DECODE_ERRORS, jxl_size, reason
from photosorter.core.library.formats import SUPPORTED_EXTENSIONS, is_supported  # noqa: F401
from photosorter.core.library.previews import use_preview
from photosorter.core.userfiles import (
    NotRegularFileError,
    hash_bytes,
    hash_stream,
    open_regular,
)

# Pillow's own hard limit (2 x its default MAX_IMAGE_PIXELS). Larger images are refused.
MAX_PIXELS = 178_956_970

# A bigger file is refused before it is read: a 179 MP 8-bit RGB TIFF stored uncompressed
# is 537 MB, and a decode of a file this size takes seconds and its size in memory.
MAX_FILE_BYTES = 1 << 30

# What `check_header` looks at: Image.open's own prefix, the one its formats' accept() see.
HEADER_BYTES = 16

# The formats Pillow may identify a file as. Anything else (EPS, PSD, ...) is refused even
# when it is named .jpg: fewer decoders, less attack surface, no Ghostscript.
_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "HEIF", "AVIF", "JXL")

_ORIENTATION = 0x0112  # EXIF tag
# How to turn a stored image upright, by EXIF orientation (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = frozenset({5, 6, 7, 8})

_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})

# Pillow warns above MAX_IMAGE_PIXELS (default 89 MP, below many camera sensors) and raises
# above twice that. Warn only above our own limit, and make that warning an exception so
# decode() can turn it into an ImageError: catch_warnings() is not thread-safe.
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# Pillow's other UserWarnings are about damaged metadata in a user's file ("Corrupt EXIF
# data", "Truncated File Read" in a TIFF tag): the pixels still decode, nobody reads stderr.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

# Given an image's stored (width, height): the size to ask JPEG draft mode for, or None.
_DraftSize = Callable[[int, int], tuple[int, int] | None]

_setup_lock = threading.Lock()
_open_formats: tuple[str, ...] | None = None


def _formats() -> tuple[str, ...]:
    """Load Pillow's plugins and pillow-heif once, on first use; the formats open() may use."""
    global _open_formats
    if _open_formats is None:
        with _setup_lock:
            if _open_formats is None:
                Image.init()
                try:
                    import pillow_heif

                    pillow_heif.register_heif_opener()
                except ImportError:  # optional at runtime: HEIC files then fail per file
                    pass
                with contextlib.suppress(ImportError):  # the same for JPEG XL
                    import pillow_jxl  # noqa: F401  (registers its plugin)
                _open_formats = tuple(f for f in _FORMATS if f in Image.OPEN)
    return _open_formats


@dataclass(frozen=True)
class PreprocessSpec:
    """How photos become a model's input; fields as in open_clip's `preprocess_cfg`.

    `resize_mode`: "shortest" crops the centre square (open_clip's default), "longest" pads
    to a square (letterbox), "squash" resizes the whole frame to the square.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"preprocess size must be positive, got {self.size}")
        if self.resize_mode not in ("shortest", "longest", "squash"):
            raise ValueError(f"unknown resize_mode {self.resize_mode!r}")


# A photo: its path, its bytes, or a file opened (and checked) by open_image_file.
ImageSource = bytes | str | os.PathLike[str] | BinaryIO


# The content hash (the embedding cache key) lives in userfiles, shared with file operations.
file_digest = hash_bytes
stream_digest = hash_stream


def check_header(head: bytes, size: int) -> None:
    """Refuse, before the rest is read, a file that is empty, no known image, or too big.

    `head` is the file's first HEADER_BYTES; a known image starts with the signature of one
    of the formats we decode (as Pillow recognises them).
    """
    if size == 0 or not head:
        raise ImageError("empty file")
    if not (raw.is_raw_header(head) or any(_accepts(fmt, head) for fmt in _formats())):
        raise ImageError("not an image file")
    if size > MAX_FILE_BYTES:
        raise ImageError(
            f"image file too large: {size >> 20} MB (the limit is {MAX_FILE_BYTES >> 20} MB)"
        )


def open_image_file(path: str | os.PathLike[str]) -> tuple[BinaryIO, os.stat_result]:
    """Open a photo for reading, positioned at its start, once `check_header` accepts it.

    Regular files only, never blocking (userfiles.open_regular); OSError (including
    NotRegularFileError) or ImageError otherwise. The caller closes the file.
    """
    fh = open_regular(path)
    try:
        st = os.fstat(fh.fileno())
        check_header(fh.read(HEADER_BYTES), st.st_size)
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    return fh, st


@dataclass(frozen=True)
class Decoded:
    """A decoded photo: the upright RGB image (maybe scaled down, maybe the file's embedded
    preview), and the file's format and main image's full pixel size (upright)."""

    image: Image.Image
    width: int
    height: int
    format: str


def decode(source: ImageSource, min_side: int | None = None) -> Image.Image:
    """Decode to an upright RGB image; JPEGs decode at the smallest DCT scale >= min_side."""
    return decode_photo(source, min_side).image


def decode_photo(source: ImageSource, min_side: int | None = None) -> Decoded:
    """`decode`, also telling the photo's format and full size (for free: no second open).
    With min_side, an embedded preview whose short side is at least that may be decoded."""
    size = (min_side, min_side) if min_side else None
    return _decode(source, lambda _w, _h: size)


def thumbnail(source: ImageSource, max_side: int) -> Image.Image:
    """An upright RGB image that fits in max_side x max_side, decoded as cheaply as possible."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    gap = 2.0  # same reducing_gap as Image.thumbnail: decode at least 2x the final size

    def draft_size(w: int, h: int) -> tuple[int, int] | None:
        scale = max_side / max(w, h)
        if scale >= 1:
            return None
        return max(1, math.ceil(w * scale * gap)), max(1, math.ceil(h * scale * gap))

    img = _decode(source, draft_size).image
    try:
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=gap)
    except DECODE_ERRORS as exc:  # already loaded; only a resampling failure could land here
        raise ImageError(f"cannot resize image: {exc}") from exc
    return img


def to_model_input(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """float32 (3, size, size): the same math as open_clip's eval `image_transform`."""
    img = to_rgb(img)
    size = spec.size
    resample = (
        Image.Resampling.BILINEAR if spec.interpolation == "bilinear" else Image.Resampling.BICUBIC
    )
    w, h = img.size
    if spec.resize_mode == "squash":
        new_w, new_h = size, size
    elif spec.resize_mode == "longest":  # timm's ResizeKeepRatio(longest=1)
        ratio = max(w / size, h / size)
        new_w, new_h = max(1, round(w / ratio)), max(1, round(h / ratio))
    else:  # torchvision Resize(int): shorter side to size, longer side truncated
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), resample)
    if (new_w, new_h) != (size, size):  # torchvision center_crop / open_clip center_crop_or_pad
        left = (size - new_w) // 2 if new_w < size else -round((new_w - size) / 2.0)
        top = (size - new_h) // 2 if new_h < size else -round((new_h - size) / 2.0)
        canvas = Image.new("RGB", (size, size), (0, 0, 0))
        canvas.paste(img, (left, top))
        img = canvas
    arr = np.asarray(img, dtype=np.float32)
    arr /= np.float32(255.0)
    arr -= np.asarray(spec.mean, dtype=np.float32)
    arr /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_for_model(source: ImageSource, spec: PreprocessSpec) -> np.ndarray:
    """Decode (only as large as the model needs) and preprocess for the model."""
    return to_model_input(decode(source, min_side=spec.size), spec)


# --- internals -------------------------------------------------------------------------


def _decode(source: ImageSource, draft_size: _DraftSize) -> Decoded:
    """Open, size-check, draft (JPEG), load, orient and convert one image to RGB."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_header(bytes(source[:HEADER_BYTES]), len(source))
        return _decode_stream(io.BytesIO(source), draft_size)
    if not isinstance(source, (str, os.PathLike)):  # open_image_file checked it
        return _decode_stream(source, draft_size)
    try:
        fp, _ = open_image_file(source)
    except FileNotFoundError as exc:
        raise ImageError("file not found") from exc
    except NotRegularFileError as exc:  # a folder, FIFO, device: nothing was read
        raise ImageError(exc.strerror) from exc
    except OSError as exc:  # permission denied, I/O error while opening
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
    with fp:
        return _decode_stream(fp, draft_size)


def _decode_stream(fp: BinaryIO, draft_size: _DraftSize) -> Decoded:
    if raw.is_raw_stream(fp, HEADER_BYTES):
        preview = lambda f, size: _decode_stream(f, size).image  # noqa: E731
        return Decoded(*raw.decode_raw(fp, draft_size, preview, MAX_PIXELS), "RAW")
    img = _open(fp)
    with img:  # leaving detaches the image from fp (which the caller closes)
        w, h = img.size
        fmt = img.format or ""
        request = draft_size(w, h)
        orientation = _orientation(img)  # the main image's: it applies to a preview too
        try:
            preview = bool(request) and w * h <= MAX_PIXELS and use_preview(img, fp, min(request))
            if isinstance(img, JpegImagePlugin.JpegImageFile):
                drafted = draft_size(*img.size)
                if drafted:
                    img.draft("RGB", drafted)
            if not preview:
                _check_pixels(img, w, h)
            img.load()  # the full decode happens here: truncation is detected now
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large(exc) from exc
        except MemoryError as exc:
            raise ImageError(f"image too large to decode: {w} x {h} pixels") from exc
        except DECODE_ERRORS as exc:
            raise ImageError(f"corrupt or truncated image: {reason(exc)}") from exc
        upright = _upright(img, orientation)
        if orientation in _QUARTER_TURNS:  # turned a quarter: so is the full size
            w, h = h, w
        try:
            return Decoded(to_rgb(upright), w, h, fmt)
        except DECODE_ERRORS as exc:
            raise ImageError(f"unsupported image mode {img.mode}") from exc


def _open(fp: BinaryIO) -> Image.Image:
    """Image.open, with its pixel limit lifted for a JPEG (its decode may be scaled down,
    `_check_pixels` decides) and a JPEG XL's size checked before pillow-jxl decodes it."""
    try:
        if "JXL" in _formats() and _accepts("JXL", _head(fp)):
            _check_jxl_size(fp)
        return Image.open(fp, formats=_formats())
    except UnidentifiedImageError as exc:
        raise ImageError("not an image file") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if not _accepts("JPEG", _head(fp)):
            raise _too_large(exc) from exc
    except DECODE_ERRORS as exc:
        raise ImageError(f"corrupt or truncated image: {reason(exc)}") from exc
    fp.seek(0)
    try:
        return JpegImagePlugin.jpeg_factory(fp)  # Image.open without its size check
    except DECODE_ERRORS as exc:
        raise ImageError(f"corrupt or truncated image: {reason(exc)}") from exc


def _head(fp: BinaryIO) -> bytes:
    fp.seek(0)
    return fp.read(HEADER_BYTES)


def _check_jxl_size(fp: BinaryIO) -> None:
    size = jxl_size(fp)
    if size is None:
        raise ImageError("corrupt or truncated image: no JPEG XL size header")
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"image too large: {size[0]} x {size[1]} pixels")
    fp.seek(0)


def _check_pixels(img: Image.Image, w: int, h: int) -> None:
    """Refuse a main image over MAX_PIXELS, unless it is a baseline JPEG whose DCT-scaled
    decode is within it: libjpeg then holds a strip of rows and the scaled output only (a
    progressive JPEG needs its whole coefficient buffer, 2 bytes per sample, so not that)."""
    dw, dh = img.size  # after draft: the size the decode will produce
    if w * h <= MAX_PIXELS:
        return
    if dw * dh > MAX_PIXELS or not isinstance(img, JpegImagePlugin.JpegImageFile):
        raise ImageError(f"image too large: {w} x {h} pixels")
    if img.info.get("progressive"):
        raise ImageError(f"image too large: {w} x {h} pixels (a progressive JPEG)")


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when absent or unreadable."""
    try:
        value = img.getexif().get(_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not lose the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return img if method is None else img.transpose(method)


def _accepts(fmt: str, head: bytes) -> bool:
    """Whether Pillow's format `fmt` recognises `head` as the start of one of its files."""
    accept = Image.OPEN[fmt][1]
    if accept is None:  # no signature check: Pillow would try it; so may we
        return True
    try:
        return bool(accept(head))
    except DECODE_ERRORS:  # a check that needs more bytes than a tiny file has
        return False


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha composited on white, high bit depths scaled."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(img), mode), "L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16/32-bit integer or float greyscale array to 0..255."""
    if mode.startswith("I;16"):
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    data = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:  # normalised float image
        scaled = data * 255.0
    elif lo >= 0.0 and hi <= 255.0:  # already 8-bit values
        scaled = data
    elif lo >= 0.0 and hi <= 65535.0:  # 16-bit values in a 32-bit container
        scaled = data * (255.0 / 65535.0)
    else:  # arbitrary range: stretch
        scaled = (data - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


_PIXELS_RE = re.compile(r"\((\d+) pixels\)")


def _too_large(exc: Exception) -> ImageError:
    """ImageError for Pillow's decompression-bomb check, with W x H when it can be found."""
    tb = exc.__traceback__
    while tb is not None:  # Pillow's check has the size as its first argument
        frame = tb.tb_frame
        if frame.f_code.co_name == "_decompression_bomb_check":
            size = frame.f_locals.get("size")
            if isinstance(size, tuple) and len(size) == 2:
                return ImageError(f"image too large: {size[0]} x {size[1]} pixels")
        tb = tb.tb_next
    found = _PIXELS_RE.search(str(exc))
    return ImageError(f"image too large: {found.group(1)} pixels" if found else "image too large")
