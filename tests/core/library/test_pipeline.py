"""index_photos: decode pool + batched encode + cache, with the image encoder it plans for."""

from __future__ import annotations

import errno
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosorter.core.library import decoders, pipeline
from photosorter.core.library.cache import Store
from photosorter.core.library.decoders import installed
from photosorter.core.library.known import stat_pass
from photosorter.core.library.pipeline import index_photos
from photosorter.core.model import accel, accel_choice
from photosorter.core.model.engine import Engine


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from photosorter.bench.inputs import make_photos

    return make_photos(tmp_path_factory.mktemp("photos"), 10, 200, 150)


def test_small_job_needs_no_export_and_second_run_opens_nothing(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    engine = Engine(tiny_spec, "cpu")  # auto
    with Store(tmp_path / "s.db") as store:
        batches = list(index_photos(photos, engine, store, batch_size=4, workers=2))
        ok = [r for b in batches for r in b.ok]
        assert len(ok) == len(photos) and not any(r.error for b in batches for r in b.results)
        vectors = np.concatenate([b.vectors for b in batches if len(b.ok)])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)  # float16
        assert not engine.backend.startswith("openvino")  # 10 photos do not pay for an export
        assert not (engine.image_encoder.ctx.cache_dir / "visual-fp32.xml").exists()

        again = list(index_photos(photos, engine, store, batch_size=4))
        assert again[-1].progress.cached == len(photos)


def test_large_job_switches_to_an_accelerated_encoder(
    photos: list[Path], tiny_spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    slow = {"pytorch": 2.0, "torch-bf16": 2.0}  # s/photo: these 10 photos repay an export
    timings = lambda backends, pixels: {n: slow.get(n, 0.01) for n in backends}  # noqa: E731
    monkeypatch.setattr(accel_choice, "time_backends", timings)
    reference = Engine(tiny_spec, "cpu", backend="pytorch")
    engine = Engine(tiny_spec, "cpu")
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        fast = list(index_photos(photos, engine, a, batch_size=8))
        plain = list(index_photos(photos, reference, b, batch_size=8))
    assert engine.backend.startswith("openvino-")
    got = np.concatenate([x.vectors for x in fast if len(x.ok)])
    want = np.concatenate([x.vectors for x in plain if len(x.ok)])
    assert accel.min_cosine(got, want) >= 0.99


def _index_guarded(paths: list[Path], engine: Engine, store: Store, **kwargs: object):
    """index_photos in a thread, so that a hang fails the test instead of hanging it.

    Returns (hung, batches). A FIFO that blocked a reader is unblocked by the caller.
    """
    batches: list = []
    thread = threading.Thread(
        target=lambda: batches.extend(index_photos(paths, engine, store, **kwargs)), daemon=True
    )
    thread.start()
    thread.join(timeout=60)
    return thread, batches


def _release_readers(fifo: Path) -> None:
    """Let every reader stuck opening `fifo` through (it then reads end-of-file)."""
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:  # ENXIO: nobody is waiting to read
            if exc.errno == errno.ENXIO:
                return
            raise


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_place_of_a_photo_is_a_per_file_error(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    """A FIFO put where a scanned photo was (or a link to one) fails that file only."""
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(fifo)
    engine = Engine(tiny_spec, "cpu", backend="pytorch")
    with Store(tmp_path / "s.db") as store:
        thread, batches = _index_guarded([fifo, link, photos[0]], engine, store, workers=2)
        hung = thread.is_alive()
        _release_readers(fifo)
        thread.join()
    assert not hung, "indexing blocked on a FIFO"
    errors = {r.path: r.error for b in batches for r in b.results}
    assert errors == {
        fifo: "is a FIFO (named pipe), not a file",
        link: "is a FIFO (named pipe), not a file",
        photos[0]: None,
    }


def _peak_traced_bytes(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_big_non_image_is_refused_before_it_is_read(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    """A 1.5 GB file named .tif that is no image costs a header read, not 1.5 GB of memory."""
    big = tmp_path / "huge.tif"
    with big.open("wb") as fh:
        fh.truncate(1536 << 20)  # sparse: no disk space used
    engine = Engine(tiny_spec, "cpu", backend="pytorch")
    with Store(tmp_path / "s.db") as store:
        list(index_photos(photos[:1], engine, store))  # model loaded before measuring
        batches: list = []
        peak = _peak_traced_bytes(lambda: batches.extend(index_photos([big], engine, store)))
    assert [r.error for b in batches for r in b.results] == ["not an image file"]
    assert peak < 32 << 20


def test_read_ahead_never_holds_whole_files(tiny_spec: str, tmp_path: Path) -> None:
    """The decode pool streams big photos: its memory does not grow with file sizes."""
    size = 48 << 20
    paths = []
    for i in range(4):
        path = tmp_path / f"big{i}.jpg"
        Image.new("RGB", (64, 48), (60 * i, 0, 0)).save(path)  # then zeros up to `size`
        with path.open("r+b") as fh:
            fh.truncate(size)
        paths.append(path)
    engine = Engine(tiny_spec, "cpu", backend="pytorch")
    with Store(tmp_path / "s.db") as store:
        list(index_photos(paths[:1], engine, store))  # model loaded before measuring
        batches: list = []
        peak = _peak_traced_bytes(
            lambda: batches.extend(index_photos(paths[1:], engine, store, workers=3))
        )
    assert not any(r.error for b in batches for r in b.results)
    assert peak < 16 << 20


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_many_small_runs_keep_open_descriptors_flat(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    """Watch and the app index small batches for hours: no descriptor may leak per run."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(photos[0].read_bytes())
    engine = Engine(tiny_spec, "cpu", backend="pytorch")

    def run(i: int) -> None:
        os.utime(photo, ns=(i, i))  # a changed mtime: read and hashed again, not decoded
        (batch,) = index_photos([photo], engine, store, workers=2)
        assert batch.ok

    with Store(tmp_path / "s.db") as store:
        for i in range(1, 11):
            run(i)
        before = len(os.listdir("/proc/self/fd"))
        for i in range(11, 211):
            run(i)
        assert len(os.listdir("/proc/self/fd")) == before


def _errors(batches) -> dict[Path, str]:
    return {r.path: r.error for b in batches for r in b.results if r.error}


def test_unreadable_files_are_remembered_until_they_change(
    photos: list[Path], tiny_spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    broken = folder / "broken.jpg"
    broken.write_bytes(photos[0].read_bytes()[:300])  # a JPEG cut short
    garbage = folder / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    paths = [photos[1], broken, garbage]
    with Store(tmp_path / "s.db") as store:
        first = _errors(index_photos(paths, Engine(tiny_spec, "cpu"), store, workers=1))
        assert set(first) == {broken, garbage}

        # A new run, a new engine: nothing is read, nothing decoded, no model loaded.
        def never(*_args: object) -> None:
            raise AssertionError("an unchanged unreadable file was read again")

        monkeypatch.setattr(pipeline, "_prepare", never)
        engine = Engine(tiny_spec, "cpu")
        again = list(index_photos(paths, engine, store, workers=1))
        assert _errors(again) == first
        assert again[-1].progress.failed == 2 and again[-1].progress.done == 3
        assert not engine.loaded
        monkeypatch.undo()

        # Repaired (same name, new content): read, indexed, and no longer a failure.
        broken.write_bytes(photos[0].read_bytes())
        fixed = list(index_photos(paths, Engine(tiny_spec, "cpu"), store, workers=1))
        assert set(_errors(fixed)) == {garbage}
        assert broken in {r.path for b in fixed for r in b.ok}
        assert str(broken) not in store.lookup_failures([str(broken)], installed())


def test_remembered_failures_are_tried_again_once_the_decoders_change(
    tiny_spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heic = tmp_path / "IMG_0001.heic"  # say, pillow-heif was not installed then
    heic.write_bytes(b"\0\0\0\x18ftypheic" + b"\0" * 200)
    reads: list[Path] = []
    prepare = pipeline._prepare
    monkeypatch.setattr(
        pipeline, "_prepare", lambda path, *rest: reads.append(path) or prepare(path, *rest)
    )
    with Store(tmp_path / "s.db") as store:
        for _run in range(2):
            assert set(_errors(index_photos([heic], Engine(tiny_spec, "cpu"), store))) == {heic}
        assert reads == [heic]  # remembered: the second run did not read it
        # A decoder is installed (a module appears): the failure no longer counts.
        monkeypatch.setattr(decoders, "_DECODERS", (*decoders._DECODERS, "json"))
        installed.cache_clear()
        try:
            assert set(_errors(index_photos([heic], Engine(tiny_spec, "cpu"), store))) == {heic}
            assert reads == [heic, heic]
            assert store.lookup_failures([str(heic)], installed())  # remembered anew
        finally:
            monkeypatch.undo()
            installed.cache_clear()


def test_a_new_unreadable_file_needs_no_model(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    with Store(tmp_path / "s.db") as store:
        list(index_photos(photos[:2], Engine(tiny_spec, "cpu"), store, workers=1))
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
        engine = Engine(tiny_spec, "cpu")
        errors = _errors(index_photos([*photos[:2], bad], engine, store, workers=1))
        assert list(errors) == [bad]
        assert not engine.loaded  # the model's input size came from the store


def test_the_stat_pass_answers_str_names_as_it_answers_paths(
    photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    with Store(tmp_path / "s.db") as store:
        engine = Engine(tiny_spec, "cpu")
        list(index_photos(photos[:2], engine, store, workers=1))
        gone = tmp_path / "gone.jpg"
        given = [*photos[:3], gone]
        by_path = stat_pass(given, store, engine.model_id)
        by_name = stat_pass([str(p) for p in given], store, engine.model_id)
    assert [r.path for r in by_name.fast] == photos[:2]
    assert all(type(r.where) is str for r in [*by_name.fast, *by_name.errors])  # no Path made
    assert all(type(r.path) is type(photos[0]) for r in [*by_name.fast, *by_name.errors])
    assert [(r.path, r.key, r.size, r.mtime_ns) for r in by_name.fast] == [
        (r.path, r.key, r.size, r.mtime_ns) for r in by_path.fast
    ]
    assert by_name.rows.tolist() == by_path.rows.tolist()
    assert by_name.todo == by_path.todo == [photos[2]]
    assert [(r.path, r.error) for r in by_name.errors] == [
        (r.path, r.error) for r in by_path.errors
    ]
    assert [r.path for r in by_name.errors] == [gone]
