"""Products of many stored embeddings with a few rows (categories, words), a block at a time.

Re-scoring 10M photos against 20 categories is a (10M x 512) x (512 x 20) product over a
float16 matrix that is only ever read. Three things decide its speed on a 2-core CPU,
measured (README, "Ten million photos on one desktop"):

- float16 -> float32 conversion: numpy 1.1 CPU s per 1M x 512, torch 0.32 (F16C);
- the product: a skinny one (20 columns) runs well in MKL (torch) on a few thousand rows
  whose float32 copy stays in the CPU cache, not on the 32 MB chunks that used to be
  converted first; OpenBLAS (numpy) beside a loaded torch ran 10x slower, its threads
  fighting torch's OpenMP pool;
- what follows per photo (best row, softmax) costs little per element but a lot per call
  on small arrays: it runs on blocks of `BLOCK` photos, laid out one row per category
  (P, B), so that "the best of 20" is 20 element-wise passes over long contiguous rows,
  not a reduction over 20 interleaved values (7 ms per 2M photos instead of 50-80).

So past `TORCH_FROM` values, or wherever torch is loaded anyway (the app), blocks are torch
tensors: each `PIECE` rows converted into one reused float32 buffer and multiplied into the
block. Below it, numpy, and no torch import (`photosorter sort` on a small cached folder).
Callers write their per-block code once against `Blocks.xp`: the names they use
(`xp.exp`, `xp.amax`, `xp.where`, indexing, `sum(0)`, ...) mean the same in numpy and torch.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

BLOCK = 65536  # photos per block handed to the caller (x 20 rows: 5 MB of float32)
PIECE = 1024  # photos converted and multiplied at a time: 2 MB of float32 at 512 dimensions
# torch pays for being imported (a dependency already, the model's) past 1M x 512 values;
# once imported (the app), past one piece.
TORCH_FROM = 1_000_000 * 512
LOADED_TORCH_FROM = PIECE


@dataclass(frozen=True)
class Blocks:
    """`rows @ vectors.T` a block of photos at a time: iterate for (start, block (P, B)),
    the similarity of each row to photos start..start+B; `xp` is the array module the
    blocks belong to (numpy or torch)."""

    vectors: np.ndarray
    rows: np.ndarray
    xp: ModuleType
    block: int

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self.xp is np:
            return self._numpy()
        return self._torch()

    def asarray(self, values: np.ndarray) -> Any:
        """`values` (numpy) in this module's arrays, without a copy where possible."""
        return values if self.xp is np else self.xp.from_numpy(np.ascontiguousarray(values))

    def numpy(self, values: Any) -> np.ndarray:
        """A block's result as a numpy array (shares memory with a CPU tensor)."""
        return values if self.xp is np else values.numpy()

    def _numpy(self) -> Iterator[tuple[int, np.ndarray]]:
        rows = np.ascontiguousarray(self.rows, dtype=np.float32)
        buffer = None if self.vectors.dtype == np.float32 else _buffer(self.vectors, self.block)
        for start in range(0, len(self.vectors), self.block):
            part = self.vectors[start : start + self.block]
            if buffer is not None:
                part = buffer[: len(part)]
                np.copyto(part, self.vectors[start : start + len(part)], casting="unsafe")
            yield start, rows @ part.T

    def _torch(self) -> Iterator[tuple[int, Any]]:
        torch = self.xp
        rows = torch.from_numpy(np.ascontiguousarray(self.rows, dtype=np.float32))
        source = _tensor(torch, self.vectors)
        convert = source.dtype != torch.float32
        size = max(1, min(PIECE, len(source)))
        piece = torch.empty((size, source.shape[1]), dtype=torch.float32)
        width = min(self.block, len(source))
        by_photo = torch.empty((width, len(rows)), dtype=torch.float32)  # what mm writes best
        out = torch.empty((len(rows), width), dtype=torch.float32)
        for start in range(0, len(source), self.block):
            block = by_photo[: min(self.block, len(source) - start)]
            for i in range(0, len(block), size):
                part = source[start + i : start + min(i + size, len(block))]
                if convert:
                    part = piece[: len(part)].copy_(part)
                torch.mm(part, rows.T, out=block[i : i + len(part)])
            yield start, out[:, : len(block)].copy_(block.T)


def blocks(vectors: np.ndarray, rows: np.ndarray, block: int | None = None) -> Blocks:
    """The products of `vectors` (N, D; float32, or float16 as mapped) with `rows` (P, D)."""
    return Blocks(vectors, rows, _module(vectors), block or BLOCK)


def _module(vectors: np.ndarray) -> ModuleType:
    if vectors.size >= TORCH_FROM or ("torch" in sys.modules and len(vectors) >= LOADED_TORCH_FROM):
        import torch

        return torch
    return np


def _tensor(torch: ModuleType, vectors: np.ndarray) -> Any:
    """`vectors` as a tensor over the same memory. Nothing here writes to it, so a read-only
    array (a map opened "r") is taken as it is, without torch's warning about that."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.from_numpy(vectors)


def _buffer(vectors: np.ndarray, rows: int) -> np.ndarray:
    return np.empty((min(rows, len(vectors)), *vectors.shape[1:]), dtype=np.float32)
