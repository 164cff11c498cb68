"""The inputs `photosorter bench` makes itself: camera-sized photos and a model folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

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
