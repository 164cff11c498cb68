"""Which picture a file carries of itself is good enough to classify instead of the photo.

Phones' HEICs, cameras' JPEGs (MPF) and RAW files store smaller pictures of themselves.
Decoding one of those instead of the main image is several times cheaper, and the model
sees no difference as long as the preview shows the same frame at the model's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from PIL import Image, MpoImagePlugin

from photosorter.core.library.decoders import DECODE_ERRORS

# A preview whose aspect ratio differs more than this from the main image's shows another
# frame: the photo was cropped (or rotated) after the preview was made.
ASPECT_TOLERANCE = 0.01


def choose_preview(
    candidates: Sequence[tuple[int, int]], full: tuple[int, int], min_side: int
) -> int | None:
    """Index of the largest candidate (width, height) that shows the whole frame of `full`
    (aspect ratio within 1%) with its short side at least `min_side`; None when none does.

    Sizes are compared as stored: a preview and its main image share an orientation tag.
    """
    fw, fh = full
    if fw <= 0 or fh <= 0:
        return None
    full_ratio = fw / fh
    best: int | None = None
    for i, (w, h) in enumerate(candidates):
        if w <= 0 or h <= 0 or min(w, h) < min_side:
            continue
        if abs(w / h - full_ratio) > ASPECT_TOLERANCE * full_ratio:
            continue
        if best is None or w * h > candidates[best][0] * candidates[best][1]:
            best = i
    return best


def use_preview(img: Image.Image, fp: BinaryIO, min_side: int) -> bool:
    """Point `img` (opened, not loaded) at its best embedded preview, by `choose_preview`:
    a camera JPEG's MPF preview frame or a HEIF's thumbnail. True when it now shows one;
    False (still the main image) when none is good enough or a preview is damaged."""
    try:
        if isinstance(img, MpoImagePlugin.MpoImageFile):
            return _mpo_preview(img, min_side)
        if img.format == "HEIF":
            return _heif_thumbnail(img, fp, min_side)
    except DECODE_ERRORS:
        if isinstance(img, MpoImagePlugin.MpoImageFile):
            img.seek(0)  # a broken preview frame: back to the main image
    return False


def _mpo_preview(img: MpoImagePlugin.MpoImageFile, min_side: int) -> bool:
    """Seek to the MPF frame chosen; frames as large as the main image (the other view of
    a stereo pair) are no previews."""
    full = img.size
    sizes = []
    for frame in range(1, img.n_frames):
        img.seek(frame)  # parses the frame's header only
        w, h = img.size
        sizes.append((w, h) if w * h < full[0] * full[1] else (0, 0))
    best = choose_preview(sizes, full, min_side)
    img.seek(0 if best is None else best + 1)
    return best is not None


def _heif_thumbnail(img: Image.Image, fp: BinaryIO, min_side: int) -> bool:
    """Have pillow-heif decode the thumbnail chosen (its `draft` also checks that the
    thumbnail has the main image's rotation, crop and colour profile)."""
    import pillow_heif

    fp.seek(0)
    primary = pillow_heif.open_heif(fp)[img.tell()]  # parses the boxes: nothing is decoded
    thumbs = [primary.get_thumbnail(i) for i in range(len(primary.info.get("thumbnails", [])))]
    best = choose_preview([t.size for t in thumbs], img.size, min_side)
    return best is not None and img.draft(None, thumbs[best].size) is not None
