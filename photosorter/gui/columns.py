"""Per-photo columns of the result set: numpy arrays that grow, and paths kept as strings."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np


class Column:
    """A numpy array that grows by doubling, for appending batches cheaply; a column of
    bytes also widens for longer values."""

    def __init__(self, dtype: type, fill: float | int | bool | bytes) -> None:
        self.data = np.full(64, fill, dtype=dtype)
        self.fill = fill
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        self._make_room(need, values)
        self.data[self.size : need] = values
        self.size = need

    def assign(self, rows: Sequence[int], values: np.ndarray) -> None:
        self._make_room(self.size, values)
        self.data[rows] = values

    def _make_room(self, need: int, values: np.ndarray) -> None:
        dtype = self.data.dtype
        if dtype.kind == "S" and values.dtype.itemsize > dtype.itemsize:
            dtype = values.dtype
        if need > len(self.data) or dtype != self.data.dtype:
            grown = np.full(max(need, 2 * len(self.data)), self.fill, dtype=dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


class PathColumn(Sequence[Path]):
    """Paths kept as strings (a third of a Path's memory at a million photos), handed out
    as Paths one at a time; `raw` is the list of strings."""

    def __init__(self) -> None:
        self.raw: list[str] = []

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, row: int | slice) -> Path | list[Path]:  # type: ignore[override]
        if isinstance(row, slice):
            return [Path(p) for p in self.raw[row]]
        return Path(self.raw[row])

    def __iter__(self) -> Iterator[Path]:
        return (Path(p) for p in self.raw)

    def __setitem__(self, row: int, path: os.PathLike[str] | str) -> None:
        self.raw[row] = os.fspath(path)

    def append(self, path: os.PathLike[str] | str) -> None:
        self.raw.append(os.fspath(path))


def sort_names(paths: Iterable[str]) -> np.ndarray:
    """Each path's file name, lower-cased, as UTF-8 bytes: numpy sorts them in C, in the
    order of the names as text (UTF-8 keeps the order of code points)."""
    names = [os.path.basename(p).lower().encode("utf-8", "surrogatepass") for p in paths]
    return np.array(names, dtype=np.bytes_)
