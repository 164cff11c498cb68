"""The inputs `photosorter bench` makes itself: camera-sized photos and a model folder."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

TINY_CFG: dict = {  # --quick: a small ViT so a CI smoke run takes seconds
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 128, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}


WIDE_CFG: dict = {**TINY_CFG, "embed_dim": 512}  # tiny towers, real-sized 512-d embeddings


def make_photos(folder: Path, n: int, width: int, height: int, seed: int = 0) -> list[Path]:
    """Camera-like JPEGs: smooth light, objects, texture and grain; some rotated by EXIF."""
    from concurrent.futures import ThreadPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)
    want = [folder / f"IMG_{i:04d}.jpg" for i in range(n)]
    stamp = folder / f".made-{width}x{height}"
    if stamp.exists() and all(p.exists() for p in want):
        return want
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda i: _make_photo(want[i], width, height, seed + i), range(n)))
    stamp.touch()
    return want


def _make_photo(path: Path, width: int, height: int, seed: int) -> None:
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    light = rng.integers(20, 235, (4, 5, 3), dtype=np.uint8)  # sky/ground gradients
    img = Image.fromarray(light, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):  # objects
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 30, width // 4), rng.integers(height // 30, height // 4)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = (int(x - w), int(y - h), int(x + w), int(y + h))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(2))
    small = (max(1, width // 4), max(1, height // 4))
    texture = rng.normal(0, 18, (small[1], small[0], 1)).astype(np.float32)
    texture = np.asarray(
        Image.fromarray(np.clip(texture[..., 0] + 128, 0, 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BILINEAR
        ),
        dtype=np.int16,
    )
    grain = rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    pixels = np.asarray(img, dtype=np.int16) + (texture[..., None] - 128) + grain
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhotoSorter bench"  # Make
    exif[0x0112] = 6 if seed % 4 == 3 else 1  # Orientation: every fourth is a portrait shot
    out.save(path, "JPEG", quality=90, exif=exif.tobytes())


def make_model(folder: Path, arch: str, seed: int = 0) -> str:
    """A randomly initialised open_clip model saved as a local-dir folder; returns its spec."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    config_path = folder / "open_clip_config.json"
    if not config_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        own = {"tiny": TINY_CFG, "tiny-512": WIDE_CFG}
        model_cfg = own[arch] if arch in own else open_clip.get_model_config(arch)
        torch.manual_seed(seed)
        model = open_clip.CLIP(**model_cfg)
        size = model_cfg["vision_cfg"]["image_size"]
        preprocess = {
            "size": size,
            "mode": "RGB",
            "mean": list(open_clip.OPENAI_DATASET_MEAN),
            "std": list(open_clip.OPENAI_DATASET_STD),
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        }
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(folder / "open_clip_model.safetensors"))
        config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess}
        config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return f"local-dir:{folder}"


def make_dc_jpeg(path: Path, picture: Image.Image, width: int, height: int) -> Path:
    """A baseline JPEG of width x height (multiples of 8) that shows `picture` stretched
    (nearest neighbour) in flat 8x8 blocks: a real, fully decodable file of any size (a
    gigapixel panorama is 18 MB) written in a second, without the image ever in memory.

    Every block holds a DC coefficient only, and each row of blocks is its own restart
    interval, so the rows that look alike are encoded once.
    """
    if width % 8 or height % 8 or not 0 < width <= 65535 or not 0 < height <= 65535:
        raise ValueError(f"width and height must be multiples of 8 up to 65535: {width}x{height}")
    blocks_w, blocks_h = width // 8, height // 8
    ycc = picture.convert("RGB").convert("YCbCr").resize((blocks_w, blocks_h), 0)
    rows = np.asarray(ycc, dtype=np.int16) - 128  # the DC coefficient / 8 of each block
    encoded: dict[bytes, bytes] = {}
    with path.open("wb") as fh:
        fh.write(_dc_jpeg_header(width, height, blocks_w))
        for y in range(blocks_h):
            row = rows[y].tobytes()
            if row not in encoded:
                encoded[row] = _dc_row(rows[y])
            fh.write(encoded[row])
            fh.write(b"\xff\xd9" if y == blocks_h - 1 else bytes((0xFF, 0xD0 + y % 8)))
    return path


# The standard luminance DC table (ITU T.81, K.3): code lengths of categories 0..11.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)


def _dc_codes() -> list[str]:
    codes, code = [], 0
    for length, count in enumerate(_DC_BITS, start=1):
        for _ in range(count):
            codes.append(format(code, f"0{length}b"))
            code += 1
        code <<= 1
    return codes


_DC_CODES = _dc_codes()


def _dc_jpeg_header(width: int, height: int, mcus_per_row: int) -> bytes:
    def segment(marker: int, body: bytes) -> bytes:
        return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body

    components = bytes((1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0))  # Y Cb Cr, no subsampling
    dc_table = bytes((0x00, *_DC_BITS, *range(12)))
    ac_table = bytes((0x10, 1, *[0] * 15, 0x00))  # one code, "0": end of block
    return b"".join(
        (
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, bytes((0,)) + bytes([8] * 64)),  # DC / 8 = the block's value - 128
            segment(0xC0, bytes((8,)) + struct.pack(">HH", height, width) + b"\x03" + components),
            segment(0xC4, dc_table + ac_table),
            segment(0xDD, struct.pack(">H", mcus_per_row)),  # a restart interval per row
            segment(0xDA, bytes((3, 1, 0, 2, 0, 3, 0, 0, 63, 0))),
        )
    )


def _dc_row(row: np.ndarray) -> bytes:
    """One row of blocks (blocks, 3 components), entropy-coded, byte-stuffed."""
    bits: list[str] = []
    previous = [0, 0, 0]  # the DC predictors restart with each interval
    for block in row.tolist():
        for c, value in enumerate(block):
            diff, previous[c] = value - previous[c], value
            size = abs(diff).bit_length()
            bits.append(_DC_CODES[size])
            if size:
                bits.append(format(diff if diff > 0 else diff + (1 << size) - 1, f"0{size}b"))
            bits.append("0")  # end of block: no AC coefficients
    text = "".join(bits)
    text += "1" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big").replace(b"\xff", b"\xff\x00")
