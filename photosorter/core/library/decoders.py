"""What decoding needs to know about image formats: the errors their decoders raise, which
decoders are installed, and sizes read from the header of a format whose decoder decodes
on open.

pillow-jxl decodes a JPEG XL file completely in Image.open(), before anyone can look at its
size: a small file declaring 100,000 x 100,000 pixels would be decoded (or exhaust memory)
before the pixel limit could refuse it. Its size is read here from the codestream's
SizeHeader first (JPEG XL, ISO/IEC 18181-1, section D.2).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import struct
from typing import BinaryIO

# What a broken file can make Pillow (or a plugin) raise while parsing or decoding; Warning
# too, for when the caller's filters turn Pillow's warnings into errors (as pytest's do);
# RuntimeError is what pillow-jxl raises for a damaged JPEG XL file.
DECODE_ERRORS = (
    RuntimeError,
    Warning,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)


# Pillow (its build decides AVIF), HEIC/HEIF, JPEG XL, RAW: what can read a file that failed.
_DECODERS = ("PIL", "pillow_heif", "pillow_jxl", "rawpy")


@functools.cache
def installed() -> str:
    """Which decoders are installed, and which build: a file that no decoder could read is
    tried again once this changes (pillow-heif installed, Pillow upgraded). Found without
    importing them (1 ms, not the 0.1 s of reading package metadata); an install or upgrade
    rewrites the package, so its modification time names the build."""
    parts = []
    for name in _DECODERS:
        spec = importlib.util.find_spec(name)
        try:
            stamp = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else "-"
        except OSError:
            stamp = "-"
        parts.append(f"{name}:{stamp}")
    return " ".join(parts)


def reason(exc: BaseException) -> str:
    """A decoder's error as a short message (LibRaw's come as bytes)."""
    args = exc.args
    raw = len(args) == 1 and isinstance(args[0], bytes)
    text = (args[0].decode("utf-8", "replace") if raw else str(exc)).strip()
    text = text or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


_CODESTREAM = b"\xff\x0a"
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_MAX_BOXES = 64  # boxes looked at before the codestream (ftyp, jxll, Exif, xml, jumb, ...)
# SizeHeader ratio: width = height * num / den (0: the width is stored).
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def jxl_size(fp: BinaryIO) -> tuple[int, int] | None:
    """(width, height) of a JPEG XL file read from its start; None when it is not one or
    its header cannot be found. Leaves fp at an undefined position."""
    fp.seek(0)
    head = fp.read(len(_CONTAINER))
    if head[:2] == _CODESTREAM:
        return _size_header(head[2:] + fp.read(16))
    if head != _CONTAINER:
        return None
    for _ in range(_MAX_BOXES):
        box = fp.read(8)
        if len(box) < 8:
            return None
        size, kind = struct.unpack(">I4s", box)
        header = 8
        if size == 1:
            size = struct.unpack(">Q", fp.read(8))[0]
            header = 16
        if kind == b"jxlc":
            return _size_header(fp.read(16)[2:])
        if kind == b"jxlp":  # a partial codestream: a 4-byte index, then the codestream
            return _size_header(fp.read(20)[6:])
        if size < header:  # 0 (to the end of file) or broken: no codestream follows
            return None
        fp.seek(size - header, 1)
    return None


def _size_header(data: bytes) -> tuple[int, int] | None:
    """Decode a SizeHeader (the bytes after the codestream's FF 0A signature)."""
    bits = _Bits(data)
    try:
        small = bits.read(1)
        height = (bits.read(5) + 1) * 8 if small else bits.u32()
        ratio = bits.read(3)
        if ratio:
            num, den = _RATIOS[ratio]
            width = height * num // den
        else:
            width = (bits.read(5) + 1) * 8 if small else bits.u32()
    except IndexError:
        return None
    return width, height


class _Bits:
    """Least-significant-bit-first reader, as JPEG XL stores its fields."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "little")
        self._left = len(data) * 8

    def read(self, n: int) -> int:
        if n > self._left:
            raise IndexError("header cut short")
        out = self._value & ((1 << n) - 1)
        self._value >>= n
        self._left -= n
        return out

    def u32(self) -> int:
        """A dimension: 2 bits choose 9, 13, 18 or 30 bits for the value minus one."""
        return self.read((9, 13, 18, 30)[self.read(2)]) + 1
