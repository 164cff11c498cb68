from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosorter.bench.inputs import make_photos
from photosorter.core.library.images import decode_photo, load_for_model, thumbnail
from photosorter.core.library.perceptual import hamming, perceptual_hash
from photosorter.core.library.previews import choose_preview
from photosorter.core.model.engine import Engine

pillow_heif = pytest.importorskip("pillow_heif")


def test_the_largest_preview_of_the_same_frame_is_chosen():
    candidates = [(160, 120), (1620, 1080), (1024, 683), (4000, 3000)]
    # 6000x4000 is 3:2: the 4:3 ones are another frame; 1620x1080 beats 1024x683
    assert choose_preview(candidates, (6000, 4000), 224) == 1


def test_a_preview_below_the_model_input_or_cropped_is_refused():
    assert choose_preview([(160, 120)], (4000, 3000), 224) is None
    assert choose_preview([(1600, 1000)], (6000, 4000), 224) is None  # 1.6 vs 1.5
    assert choose_preview([], (6000, 4000), 224) is None
    assert choose_preview([(1620, 1080)], (0, 0), 224) is None


def test_aspect_tolerance_is_one_percent():
    assert choose_preview([(1500, 1000)], (1510, 1000), 224) == 0  # 0.66 % off
    assert choose_preview([(1500, 1000)], (1530, 1000), 224) is None  # 2 % off


# --- decoding a file's embedded preview --------------------------------------------------

MAIN = (1800, 1200)  # decoded for a 224 input at 1/4 DCT scale: 450 x 300
HEIF_MAIN = (960, 640)


def with_preview(path: Path, main: Image.Image, preview_size: tuple[int, int], fmt: str) -> Path:
    """`main` saved as `fmt` (MPO or HEIF) carrying a preview of `preview_size` (or none)."""
    exif = main.getexif().tobytes()
    if fmt == "HEIF":
        heif = pillow_heif.from_pillow(main)
        heif.save(path, quality=85, exif=exif, thumbnails=[max(preview_size)])
    elif preview_size == (0, 0):
        main.save(path, "JPEG", quality=90, exif=exif)
    else:
        preview = main.resize(preview_size, Image.Resampling.LANCZOS)
        main.save(path, "MPO", save_all=True, append_images=[preview], quality=90, exif=exif)
    return path


def quadrants_tagged(orientation: int, size: tuple[int, int] = MAIN) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, w // 2, h // 2))
    img.paste((0, 255, 0), (w // 2, 0, w, h // 2))
    img.paste((0, 0, 255), (0, h // 2, w // 2, h))
    img.getexif()[0x0112] = orientation
    return img


@pytest.mark.parametrize("orientation", [1, 6])
def test_mpf_preview_is_decoded_instead_of_the_main_image(tmp_path: Path, orientation: int):
    path = with_preview(tmp_path / "a.jpg", quadrants_tagged(orientation), (600, 400), "MPO")
    got = decode_photo(path, min_side=224)
    turned = orientation == 6
    assert got.format == "MPO"
    assert (got.width, got.height) == ((1200, 1800) if turned else MAIN)  # the main image's
    assert got.image.size == ((400, 600) if turned else (600, 400))  # the preview's
    w = got.image.width
    red = got.image.getpixel((w - 10, 10) if turned else (10, 10))  # the main's orientation
    assert red[0] > 200 and red[1] < 60
    assert thumbnail(path, 256).size == ((171, 256) if turned else (256, 171))


@pytest.mark.parametrize(("preview", "why"), [((600, 380), "cropped"), ((300, 200), "small")])
def test_mpf_preview_cropped_or_too_small_is_not_used(tmp_path: Path, preview, why):
    path = with_preview(tmp_path / "a.jpg", quadrants_tagged(1), preview, "MPO")
    got = decode_photo(path, min_side=224)
    assert (got.width, got.height, got.image.size) == (*MAIN, (450, 300)), why


def test_a_damaged_preview_falls_back_to_the_main_image(tmp_path: Path):
    path = with_preview(tmp_path / "a.jpg", quadrants_tagged(1), (600, 400), "MPO")
    data = bytearray(path.read_bytes())
    second = data.rindex(b"\xff\xd8\xff")  # the preview's start of image
    data[second : second + 600] = bytes(600)
    path.write_bytes(bytes(data))
    assert decode_photo(path, min_side=224).image.size == (450, 300)


@pytest.mark.parametrize(("side", "used"), [(360, True), (300, False)])  # 360x240, 300x200
def test_heif_thumbnail_is_decoded_when_big_enough(tmp_path: Path, side: int, used: bool):
    path = with_preview(tmp_path / "a.heic", quadrants_tagged(1, HEIF_MAIN), (side, 0), "HEIF")
    got = decode_photo(path, min_side=224)
    assert (got.width, got.height, got.format) == (*HEIF_MAIN, "HEIF")
    assert got.image.size == ((360, 240) if used else HEIF_MAIN)
    assert got.image.getpixel((10, 10))[0] > 200 and got.image.getpixel((10, 10))[1] < 60


@pytest.fixture(scope="module")
def photo_pairs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    """Camera-like 960 x 640 photos (one in four turned by EXIF) without and with a preview
    of 360 x 240 (MPF; HEIF thumbnails for two of them: HEIF encoding is slow)."""
    folder = tmp_path_factory.mktemp("pairs")
    pairs = []
    for i, plain in enumerate(make_photos(folder / "plain", 4, 960, 640)):
        with Image.open(plain) as img:
            img.load()
            pairs.append((plain, with_preview(folder / f"{i}.jpg", img, (360, 240), "MPO")))
            if i % 2:
                heif_main = with_preview(folder / f"{i}-plain.heic", img, (0, 0), "HEIF")
                pairs.append((heif_main, with_preview(folder / f"{i}.heic", img, (360, 0), "HEIF")))
    return pairs


def test_preview_keeps_the_perceptual_hash(photo_pairs: list[tuple[Path, Path]]):
    for plain, previewed in photo_pairs:
        full, small = decode_photo(plain, 224), decode_photo(previewed, 224)
        assert small.image.size != full.image.size  # the preview was used
        assert (full.width, full.height) == (small.width, small.height)
        distance = int(
            hamming(np.uint64(perceptual_hash(full.image)), np.uint64(perceptual_hash(small.image)))
        )
        assert distance <= 2, (plain, distance)


def test_preview_embeds_like_the_main_image(photo_pairs: list[tuple[Path, Path]], tiny_spec):
    engine = Engine(tiny_spec, "cpu", backend="pytorch")
    engine.load()
    spec = engine.preprocess_spec
    plain = engine.encode_images(np.stack([load_for_model(p, spec) for p, _ in photo_pairs]))
    small = engine.encode_images(np.stack([load_for_model(q, spec) for _, q in photo_pairs]))
    cosines = np.sum(plain * small, axis=1)
    assert float(cosines.min()) >= 0.98, cosines
