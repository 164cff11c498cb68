"""products(): every block of rows times a small matrix, on worker threads, as one product."""

import subprocess
import sys
import threading

import numpy as np
import pytest

from photosorter.core.library import products as products_mod
from photosorter.core.library.products import products


@pytest.fixture(autouse=True)
def _two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(products_mod, "_cores", lambda: 2)  # threads even on one core
    monkeypatch.setattr(products_mod, "_PIECE", 48)  # several pieces a block
    monkeypatch.setattr(products_mod, "_torch_pays", lambda _values: True)


def _collect(vectors: np.ndarray, weights: np.ndarray, block: int) -> tuple[np.ndarray, set]:
    out = np.full((weights.shape[1], len(vectors)), np.nan, dtype=np.float32)
    threads = set()

    def each(start: int, sims: np.ndarray) -> None:
        threads.add(threading.get_ident())
        assert np.isnan(out[:, start : start + sims.shape[1]]).all()  # each block once
        out[:, start : start + sims.shape[1]] = sims

    products(vectors, weights, each, block=block)
    return out, threads


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("writeable", [True, False])  # torch takes only writable arrays
@pytest.mark.parametrize("block", [100, 10**6])  # 10 blocks, the last short / one block
@pytest.mark.parametrize("torch", [True, False])  # on workers / numpy on the calling thread
def test_products_equal_the_whole_product(
    monkeypatch: pytest.MonkeyPatch, dtype: type, writeable: bool, block: int, torch: bool
) -> None:
    monkeypatch.setattr(products_mod, "_torch_pays", lambda _values: torch)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((950, 24)).astype(dtype)
    vectors.flags.writeable = writeable
    weights = rng.standard_normal((24, 5)).astype(np.float32)
    out, threads = _collect(vectors, weights, block)
    expected = weights.T.astype(np.float64) @ vectors.T.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    on_caller = threads == {threading.get_ident()}
    assert on_caller == (block > len(vectors) or not torch)  # no worker thread started


@pytest.mark.parametrize(("values", "rows"), [(1000, 50), (600, 48)])  # never under a piece
def test_blocks_hold_fewer_rows_when_there_are_many_columns(
    monkeypatch: pytest.MonkeyPatch, values: int, rows: int
) -> None:
    monkeypatch.setattr(products_mod, "_BLOCK_VALUES", values)
    sizes = []
    vectors = np.ones((500, 8), dtype=np.float32)
    products(vectors, np.ones((8, 20)), lambda _start, sims: sizes.append(sims.shape))
    assert max(sizes) == (20, rows)
    assert sum(cols for _p, cols in sizes) == 500


def test_progress_counts_every_row_on_the_calling_thread() -> None:
    seen = []
    caller = threading.get_ident()

    def progress(rows: int) -> None:
        assert threading.get_ident() == caller
        seen.append(rows)

    products(np.ones((1000, 4), np.float16), np.ones((4, 2)), lambda *_: None, block=64,
             progress=progress)  # fmt: skip
    assert sum(seen) == 1000 and len(seen) == 16


def test_an_error_in_a_block_stops_the_workers_and_is_raised() -> None:
    done = []

    def each(start: int, sims: np.ndarray) -> None:
        if start == 640:
            raise ValueError("bad block")
        done.append(start)

    with pytest.raises(ValueError, match="bad block"):
        products(np.ones((100_000, 4), np.float32), np.ones((4, 2)), each, block=64)
    assert len(done) < 100_000 // 64 - 1  # not every other block ran


def test_a_cancel_from_progress_stops_the_workers() -> None:
    class Cancelled(Exception):
        pass

    done = []

    def progress(rows: int) -> None:
        if len(done) > 3:
            raise Cancelled

    before = set(threading.enumerate())
    with pytest.raises(Cancelled):
        products(np.ones((100_000, 4), np.float32), np.ones((4, 2)),
                 lambda start, _s: done.append(start), block=64, progress=progress)  # fmt: skip
    assert len(done) < 100_000 // 64
    assert set(threading.enumerate()) <= before  # the workers were joined, none left behind


def test_calls_from_two_threads_are_right_and_torch_keeps_its_thread_count() -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((3000, 8)).astype(np.float16)
    weights = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(2)]
    results: list = [None, None]

    def run(i: int) -> None:
        results[i] = _collect(vectors, weights[i], 64)[0]

    callers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for got, w in zip(results, weights, strict=True):
        np.testing.assert_allclose(got, w.T @ vectors.T.astype(np.float32), rtol=1e-4, atol=1e-4)
    assert torch.get_num_threads() == before
    fresh: list[int] = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [before]  # a new thread starts with the count torch had


def test_a_job_that_does_not_repay_importing_torch_does_not_import_it() -> None:
    code = (
        "import sys, numpy as np\n"
        "from photosorter.core.library.products import products\n"
        "out = []\n"
        "products(np.ones((50_000, 8), np.float16), np.ones((8, 2)),\n"
        "         lambda start, sims: out.append(float(sims.sum())))\n"
        "print(len(out), sum(out), 'torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["4", str(50_000 * 8 * 2.0), "False"]  # 4 blocks, no torch
