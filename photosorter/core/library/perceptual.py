"""A 64-bit perceptual hash (pHash) of a decoded photo, and Hamming distances between them.

pHash: greyscale, 32 x 32, 2-D DCT, the 8 x 8 lowest frequencies compared with their
median. Re-encoding, resizing and format changes move a few bits; another shot of the same
subject (moved, reframed) changes the low frequencies and so many bits. Computed from the
image indexing already decoded for the model (upright: EXIF rotation applied), so it costs
no second decode.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from photosorter.core.library.cache import ImageInfo
from photosorter.core.library.images import Decoded

_SIDE = 32  # the image is reduced to _SIDE x _SIDE before the DCT
_KEEP = 8  # _KEEP x _KEEP lowest frequencies: 64 bits
BITS = _KEEP * _KEEP


def _dct_rows(n: int, keep: int) -> np.ndarray:
    """The first `keep` rows of the orthonormal-free DCT-II matrix (keep, n)."""
    k = np.arange(keep)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_rows(_SIDE, _KEEP)
_WEIGHTS = (1 << np.arange(BITS, dtype=np.uint64)[::-1]).astype(np.uint64)


def perceptual_hash(img: Image.Image) -> int:
    """The pHash of an image as an unsigned 64-bit int (bit 63 = lowest frequency)."""
    grey = img.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    low = _DCT @ pixels @ _DCT.T  # (8, 8): only the frequencies the hash keeps
    bits = (low > np.median(low)).ravel()
    return int(np.sum(_WEIGHTS[bits], dtype=np.uint64))


def image_info(decoded: Decoded) -> ImageInfo:
    """What the store keeps of a decoded photo: full size, format, perceptual hash."""
    return ImageInfo(decoded.width, decoded.height, decoded.format, perceptual_hash(decoded.image))


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between matching entries of two uint64 arrays."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x).astype(np.int64)
    by_byte = _BYTE_BITS[np.ascontiguousarray(x).view(np.uint8)].reshape(*x.shape, 8)
    return by_byte.sum(axis=-1, dtype=np.int64)
