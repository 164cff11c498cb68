"""`photosorter bench` figures for Find: search and duplicates over cached photos, and the
wall time of a cold `photosorter search` (a cached query, a new one) against importing
torch + open_clip, which a query would pay without the exported text tower."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.bench.config import Config, timed
from photosorter.bench.figures import unit_vectors

DIM = 512

Step = Callable[[str, str, Callable[[], Any]], Any]


def measure_find(cfg: Config, spec: str, photos: list[Path], step: Step) -> None:
    """Add the Find figures to the report through the bench's `step`."""
    step("search", "search over cached embeddings", lambda: search_figures(cfg))
    step("duplicates", "duplicates over cached photos", lambda: duplicates_figure(cfg))
    step("cli_query", "cold `photosorter search`", lambda: cli_query_figures(cfg, spec, photos))


def search_figures(cfg: Config) -> list[dict]:
    """One query (its embedding known) ranked over N cached photos, top 20."""
    from photosorter.core.find.search import rank

    out = []
    for n in cfg.rescore_n:
        vectors = unit_vectors(n, DIM, 6)
        query = unit_vectors(1, DIM, 7)[0]
        wall, _ = timed(lambda v=vectors, q=query: rank(v, q, limit=20), cfg.reps)
        out.append({"n": n, "ms": round(wall * 1e3, 2)})
        del vectors
    return out


def synthetic_library(n: int, seed: int = 8) -> tuple[list[Any], np.ndarray, int]:
    """n cached photos (embeddings + perceptual hashes), 5% of them near-copies of others;
    returns the photos, their embeddings and how many copies were planted."""
    from photosorter.core.find.duplicates import Photo
    from photosorter.core.library.cache import ImageInfo

    rng = np.random.default_rng(seed)
    vectors = unit_vectors(n, DIM, seed)
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    copies = n // 20
    src = rng.choice(n - copies, copies, replace=False)
    dst = np.arange(n - copies, n)
    flips = np.uint64(1) << rng.integers(0, 64, copies).astype(np.uint64)
    hashes[dst] = hashes[src] ^ flips  # re-encoded: a bit or so differs
    noisy = vectors[src] + 0.01 * rng.standard_normal((copies, DIM)).astype(np.float32)
    vectors[dst] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    photos = [
        Photo(Path(f"/photos/{i:06d}.jpg"), f"{i:032x}", 3_000_000, i,
              ImageInfo(4000, 3000, "JPEG", int(h)))
        for i, h in enumerate(hashes.tolist())
    ]  # fmt: skip
    return photos, vectors, copies


def duplicates_figure(cfg: Config) -> dict:
    """find_duplicates over N cached photos (synthetic embeddings and hashes)."""
    from photosorter.core.find.duplicates import find_duplicates

    n = cfg.rescore_n[0]
    photos, vectors, copies = synthetic_library(n)
    groups: list = []

    def run() -> None:
        groups[:] = find_duplicates(photos, vectors)

    wall, _ = timed(run, max(1, cfg.reps // 2))
    found = sum(len(g.photos) - 1 for g in groups)
    return {"n": n, "seconds": round(wall, 3), "planted": copies, "found": found}


def cli_query_figures(cfg: Config, spec: str, photos: list[Path]) -> dict:
    """Wall seconds of `photosorter search` in a fresh process on an indexed folder: a query
    asked before, a new one; and `import torch, open_clip` alone, for scale."""
    with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp:
        store = str(Path(tmp) / "s.db")
        folder = photos[0].parent

        def search(words: str) -> None:
            cmd = [sys.executable, "-m", "photosorter", "search", words, str(folder),
                   "--model", spec, "--cache", store, "--json"]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)

        start = time.perf_counter()
        search("first query")  # indexes, loads torch, exports the text tower
        first = time.perf_counter() - start
        cached, _ = timed(lambda: search("first query"), cfg.reps, warmup=0)
        counter = iter(range(10**6))
        new, _ = timed(lambda: search(f"a new query {next(counter)}"), cfg.reps, warmup=0)
        imports = [sys.executable, "-c", "import torch, open_clip"]
        torch_s, _ = timed(lambda: subprocess.run(imports, check=True), cfg.reps, warmup=0)
    return {
        "first_s": round(first, 2),
        "cached_s": round(cached, 3),
        "new_s": round(new, 3),
        "import_torch_open_clip_s": round(torch_s, 3),
        "new_vs_torch_import": round(new / torch_s, 3),
    }


def find_targets(r: dict) -> dict[str, Any]:
    """The Find targets (name -> measured value), for the bench's target table."""
    search = {x["n"]: x["ms"] for x in r["search"]}
    return {
        "search_100k_ms < 50": search.get(100_000, search[min(search)]),
        "duplicates_100k_s < 5": r["duplicates"]["seconds"],
        "cli_cached_query_s < 0.3": r["cli_query"]["cached_s"],
        "cli_new_query_s < 1": r["cli_query"]["new_s"],
    }


def find_table(r: dict) -> list[str]:
    """The Find lines of the bench's table."""
    lines = [f"search {x['n']:,} cached photos, top 20: {x['ms']:.1f} ms" for x in r["search"]]
    d, q = r["duplicates"], r["cli_query"]
    lines.append(
        f"duplicates over {d['n']:,} cached photos: {d['seconds']:.2f} s "
        f"({d['found']} of {d['planted']} planted copies found)"
    )
    lines.append(
        f"cold `photosorter search`: cached query {q['cached_s']:.2f} s, new query "
        f"{q['new_s']:.2f} s; `import torch, open_clip` alone {q['import_torch_open_clip_s']:.2f} "
        f"s (first query, with indexing and the text-tower export: {q['first_s']:.1f} s)"
    )
    return lines
