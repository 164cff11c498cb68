"""RAW camera files: their headers, and their upright picture (which files are RAW and
which pair with a JPEG is decided by name, in formats.py).

A RAW is decoded through LibRaw (rawpy): from its embedded JPEG preview when that is big
enough for the request (no demosaicing: several times cheaper), else from a demosaic at
half size when half is enough. LibRaw's own errors come out as `ImageError`. Beside a
same-stem JPEG (the camera's RAW+JPEG), the RAW is that photo's companion, not a photo.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from PIL import Image

from photosorter.core.errors import ImageError
from photosorter.core.library.decoders import DECODE_ERRORS, reason
from photosorter.core.library.formats import is_decoded_name
from photosorter.core.library.previews import choose_preview

# Headers: TIFF-based RAWs (CR2, NEF, NRW, ARW, DNG, PEF, SRW, 3FR, IIQ) start like any TIFF,
# so those are told from a TIFF by their name; the others have signatures of their own.
_TIFF = (b"II*\0", b"MM\0*")
_OWN_SIGNATURES = (b"FUJIFILMCCD-RAW", b"IIRO", b"IIRS", b"MMOR", b"IIU\0")  # RAF, ORF, RW2
_CR3_BRAND = b"ftypcrx "  # ISO-BMFF at offset 4

# LibRaw's flip -> the transpose that makes its picture upright (0: none).
_FLIPS = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90,
          6: Image.Transpose.ROTATE_270}  # fmt: skip
_EXIF_ORIENTATION = 0x0112

# Given the picture's upright (width, height): the size wanted, or None for full size.
DraftSize = Callable[[int, int], tuple[int, int] | None]
# Decodes a JPEG preview (upright by its own EXIF orientation, if any) for a draft size.
PreviewDecoder = Callable[[BinaryIO, DraftSize], Image.Image]


def is_raw_header(head: bytes) -> bool:
    """Whether a file starting with `head` may be a RAW we decode (TIFF-based ones too)."""
    return head.startswith(_TIFF + _OWN_SIGNATURES) or head[4:12] == _CR3_BRAND


def is_raw(head: bytes, name: str | None) -> bool:
    """Whether a file is a RAW: by its own signature, or a TIFF header under a RAW name."""
    if head.startswith(_OWN_SIGNATURES) or head[4:12] == _CR3_BRAND:
        return True
    return bool(name) and head.startswith(_TIFF) and is_decoded_name(name)


def is_raw_stream(fp: BinaryIO, header_bytes: int) -> bool:
    """`is_raw` for an open file (named by its path when it has one); its position stays."""
    start = fp.tell()
    head = fp.read(header_bytes)
    fp.seek(start)
    name = getattr(fp, "name", None)
    return is_raw(head, name if isinstance(name, str) else None)


def decode_raw(
    fp: BinaryIO, draft_size: DraftSize, decode_preview: PreviewDecoder, max_pixels: int
) -> tuple[Image.Image, int, int]:
    """The upright RGB picture of a RAW file, and its full upright (width, height).

    LibRaw reads an open file itself, through the file's descriptor where the OS names one
    (Linux: /proc/self/fd), so a large RAW is never held whole in memory; bytes, or a file
    without such a name, are read whole (their size was checked when they were opened).
    """
    import rawpy

    try:
        with rawpy.imread(_libraw_source(fp)) as raw:
            sizes = raw.sizes
            if sizes.raw_width * sizes.raw_height > max_pixels:
                raise ImageError(f"image too large: {sizes.raw_width} x {sizes.raw_height} pixels")
            stored = (sizes.width, sizes.height)
            upright = stored[::-1] if sizes.flip in (5, 6) else stored
            request = draft_size(*upright)
            preview = _preview(raw, stored, request)
            if preview is not None:
                image = _from_preview(*preview, sizes.flip, draft_size, decode_preview)
                return image, *upright
            half = request is not None and min(upright) // 2 >= min(request)
            rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageError("not a RAW file LibRaw can read (damaged, or an unknown camera)") from exc
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise ImageError("damaged or truncated RAW file") from exc
    except rawpy.LibRawError as exc:
        raise ImageError(f"unreadable RAW file: {reason(exc)}") from exc
    except MemoryError as exc:
        raise ImageError("RAW file too large to decode") from exc
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB"), *upright  # LibRaw turned it


# --- internals -------------------------------------------------------------------------


def _libraw_source(fp: BinaryIO) -> str | io.BytesIO:
    """What rawpy opens: the very file `fp` is (by its descriptor), else its bytes."""
    try:
        name = f"/proc/self/fd/{fp.fileno()}"
    except (AttributeError, OSError, io.UnsupportedOperation):  # bytes in memory
        return io.BytesIO(fp.read())
    return name if os.path.exists(name) else io.BytesIO(fp.read())


def _preview(
    raw, stored: tuple[int, int], request: tuple[int, int] | None
) -> tuple[bytes, bool] | None:
    """The embedded JPEG when it shows the whole frame at the requested size, and whether
    its own EXIF orientation turns it; else None."""
    import rawpy

    if request is None:  # the full size is wanted: no preview is enough
        return None
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:  # a damaged preview: the raw data may still be fine
        return None
    if thumb.format != rawpy.ThumbFormat.JPEG or not thumb.data.startswith(b"\xff\xd8"):
        return None
    header = _jpeg_header(thumb.data)
    if header is None or choose_preview([header[0]], stored, min(request)) is None:
        return None
    return bytes(thumb.data), header[1]


def _jpeg_header(data: bytes) -> tuple[tuple[int, int], bool] | None:
    """A JPEG's stored (width, height) and whether an EXIF orientation other than 1 turns
    it, from its header only; None when it is no usable JPEG."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            turns = img.getexif().get(_EXIF_ORIENTATION, 1) != 1
            return img.size, turns
    except DECODE_ERRORS:  # not a usable preview
        return None


def _from_preview(
    data: bytes, turns: bool, flip: int, draft_size: DraftSize, decode_preview: PreviewDecoder
) -> Image.Image:
    """Decode the preview; turn it by the RAW's flip unless its own EXIF orientation did."""
    image = decode_preview(io.BytesIO(data), draft_size)
    if flip in _FLIPS and not turns:
        image = image.transpose(_FLIPS[flip])
    return image
