"""All N embeddings times a small matrix, block by block, on every CPU core.

Re-scoring, search and duplicates multiply every embedding (float16 when mapped) by a
few vectors: 20 categories, a query, the centroids of k-means cells. Done as one chunk
at a time, converted by torch and multiplied by numpy's BLAS, the two libraries' thread
pools took turns spinning while the other worked: re-scoring 10M x 20 took 20-21 s on 2
cores of one machine. Here one worker per core, each single-threaded, converts 1,024 rows
into its own buffer and multiplies them while they are in its cache: 4.7-5.7 s there.
Where torch is not loaded and the job is small, numpy on the calling thread.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable

import numpy as np

BLOCK = 16_384  # rows handed to `each` at a time (fewer when P is large)
_BLOCK_VALUES = 1 << 20  # products per block at most: 4 MB a worker, whatever P
_PIECE = 1024  # rows converted and multiplied at a time, in the worker's cache
# float16 -> float32 costs numpy ~3 ns a value on CPUs without AVX-512, torch a tenth; past
# 1M x 512 that pays for importing torch (seconds) where nothing has imported it yet.
_TORCH_FROM = 1_000_000 * 512
# One call's workers at a time: they fill the cores anyway, and each call sets torch's
# thread count (the count new threads start with) back to what it found.
_ONE_AT_A_TIME = threading.Lock()


def products(
    vectors: np.ndarray,
    weights: np.ndarray,
    each: Callable[[int, np.ndarray], None],
    *,
    block: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Call `each(start, weights.T @ vectors[start:start + block].T)` for every block of
    rows (`block`: BLOCK, fewer when `weights` has many columns).

    `vectors` (N, D) float16 or float32, `weights` (D, P). The products come as (P, rows):
    per-row steps over the P columns are then element-wise numpy operations along rows of
    16k (fast) rather than reductions along short ones (slow), and BLAS computes this
    layout faster too. Blocks run on worker threads, in any order, each once; `each` may
    write only to its own rows of its outputs, and must not keep the products array (the
    worker reuses it). `progress(rows)` is called on the calling thread as blocks finish;
    an exception from it (a cancel) or from `each` stops the workers and is raised here.
    """
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    block = block or max(_PIECE, min(BLOCK, _BLOCK_VALUES // max(1, weights.shape[1])))
    starts = range(0, len(vectors), block)
    if len(starts) <= 1 or not _torch_pays(vectors.size):  # numpy, on the calling thread
        for start in starts:
            chunk = np.asarray(vectors[start : start + block], dtype=np.float32)
            each(start, weights.T @ chunk.T)
            if progress is not None:
                progress(len(chunk))
        return
    workers = min(_cores(), len(starts))
    _run_workers(vectors, weights, each, iter(starts), block, workers, progress)


def _run_workers(
    vectors: np.ndarray,
    weights: np.ndarray,
    each: Callable[[int, np.ndarray], None],
    todo,
    block: int,
    workers: int,
    progress: Callable[[int], None] | None,
) -> None:
    import torch

    lock, stop, done = threading.Lock(), threading.Event(), queue.SimpleQueue()
    weights_t = torch.from_numpy(np.ascontiguousarray(weights.T))  # (P, D)

    def work() -> None:
        try:
            # per thread: OpenMP and MKL read the thread count of the calling thread
            torch.set_num_threads(1)
            piece = torch.empty((_PIECE, vectors.shape[1]), dtype=torch.float32)
            sims = torch.empty((weights.shape[1], block), dtype=torch.float32)
            while not stop.is_set():
                with lock:
                    start = next(todo, None)
                if start is None:
                    break
                rows = vectors[start : start + block]
                for i in range(0, len(rows), _PIECE):
                    part = _as_float32(rows[i : i + _PIECE], piece)
                    torch.mm(weights_t, part.T, out=sims[:, i : i + len(part)])
                each(start, sims[:, : len(rows)].numpy())
                done.put(len(rows))
        except BaseException as error:  # handed to the calling thread
            done.put(error)
        finally:
            done.put(None)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    with _ONE_AT_A_TIME:
        threads_before = torch.get_num_threads()
        try:
            _wait(threads, done, progress)
        finally:
            stop.set()
            for thread in threads:
                if thread.ident is not None:  # started
                    thread.join()
            torch.set_num_threads(threads_before)


def _wait(
    threads: list[threading.Thread],
    done: queue.SimpleQueue,
    progress: Callable[[int], None] | None,
) -> None:
    """Start `threads` and hand on what they report until each has finished."""
    for thread in threads:
        thread.start()
    running = len(threads)
    while running:
        item = done.get()
        if item is None:
            running -= 1
        elif isinstance(item, BaseException):
            raise item
        elif progress is not None:
            progress(item)


def column_max(sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of `sims` (P, rows): its maximum, and the first row that holds it, as
    max(axis=0) and argmax(axis=0) give; argmax down short columns is one slow pass per
    column (15 times slower at 20 x 16k), this is element-wise passes along the rows."""
    top = sims.max(axis=0)
    k = len(sims)
    rank = np.arange(k, 0, -1, dtype=np.min_scalar_type(k))[:, None]  # first row: highest
    first = k - (np.equal(sims, top) * rank).max(axis=0).astype(np.int64)
    return top, np.minimum(first, k - 1)  # a NaN column holds no maximum: any valid row


def _torch_pays(values: int) -> bool:
    """Whether to convert and multiply through torch: where it is loaded (the model), or
    for a job big enough to repay importing it (a cold `photosorter search` loads none)."""
    return "torch" in sys.modules or values >= _TORCH_FROM


def _as_float32(part: np.ndarray, buffer):
    """`part` as a float32 torch tensor: itself when it is float32, else converted into
    `buffer` (torch converts float16 with F16C; numpy here one value at a time)."""
    import torch

    if part.dtype == np.float32 and part.flags.c_contiguous and part.flags.writeable:
        return torch.from_numpy(part)
    out = buffer[: len(part)]
    if part.flags.writeable:  # torch.from_numpy warns on read-only arrays
        out.copy_(torch.from_numpy(part))
    else:
        np.copyto(out.numpy(), part, casting="unsafe")
    return out


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
