"""Which picture a file carries of itself is good enough to classify instead of the photo.

Phones' HEICs, cameras' JPEGs (MPF) and RAW files store smaller pictures of themselves.
Decoding one of those instead of the main image is several times cheaper, and the model
sees no difference as long as the preview shows the same frame at the model's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

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
