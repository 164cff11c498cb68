"""The watcher with a real observer on real files: no mocked events, no fixed sleeps."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from photosorter.core.watch.watcher import FolderWatcher, WatchBatch, WatchError

SETTLE = 0.4


def make_jpeg(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: int = 64) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path, "JPEG")
    return path.read_bytes()


def collect(
    watcher: FolderWatcher, done: Callable[[WatchBatch], bool], timeout: float = 20
) -> WatchBatch:
    """Gather batches until `done(total)` holds; fail after `timeout` seconds."""
    total = WatchBatch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = watcher.next_batch(timeout=0.5)
        total.added += batch.added
        total.removed += batch.removed
        total.problems += batch.problems
        if done(total):
            return total
    raise AssertionError(f"condition not reached; got {total}")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_burst_of_files_each_reported_once(inbox: Path) -> None:
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        for i in range(300):
            make_jpeg(inbox / f"sub{i % 3}" / f"p{i}.jpg")
        got = collect(watcher, lambda b: len(b.added) >= 300)
        # Nothing more arrives later: every file exactly once.
        extra = watcher.next_batch(timeout=SETTLE * 3)
    assert len(got.added) == 300 and len(set(got.added)) == 300
    assert not extra.added
    assert not got.problems


def test_slow_writer_is_read_only_when_complete(inbox: Path) -> None:
    source = inbox.parent / "big.jpg"
    data = make_jpeg(source, size=600)
    target = inbox / "slow.jpg"
    chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
    written = threading.Event()

    def slow_copy() -> None:
        with open(target, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                fh.flush()
                time.sleep(0.3)  # a slow network copy
        written.set()

    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        writer = threading.Thread(target=slow_copy)
        writer.start()
        got = collect(watcher, lambda b: bool(b.added))
        writer.join()
    assert written.is_set()
    assert got.added == [target]
    assert target.read_bytes() == data  # complete by the time it was handed out


def test_moves_in_renames_and_deletes(inbox: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    make_jpeg(outside / "a.jpg")
    make_jpeg(outside / "album" / "b.jpg")
    make_jpeg(outside / "album" / "c.png".replace(".png", ".jpg"))
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        shutil.move(str(outside / "a.jpg"), inbox / "a.jpg")
        shutil.move(str(outside / "album"), inbox / "album")  # a whole folder moved in
        got = collect(watcher, lambda b: len(b.added) >= 3)
        assert sorted(p.name for p in got.added) == ["a.jpg", "b.jpg", "c.jpg"]
        (inbox / "a.jpg").rename(inbox / "renamed.jpg")
        got = collect(watcher, lambda b: bool(b.added) and bool(b.removed))
        assert got.added == [inbox / "renamed.jpg"]
        assert got.removed == [inbox / "a.jpg"]
        (inbox / "renamed.jpg").unlink()
        got = collect(watcher, lambda b: bool(b.removed))
        assert got.removed == [inbox / "renamed.jpg"]


def test_own_writes_and_ignored_folders_never_come_back(inbox: Path) -> None:
    dest = inbox / "Sorted"
    with FolderWatcher([inbox], settle_s=SETTLE, ignore=lambda p: p.is_relative_to(dest)) as w:
        make_jpeg(inbox / "new.jpg")
        got = collect(w, lambda b: bool(b.added))
        assert got.added == [inbox / "new.jpg"]
        # PhotoSorter moves it into a category folder inside the watched folder.
        (dest / "Red").mkdir(parents=True)
        w.ignore_path(inbox / "copy.jpg")
        shutil.move(str(inbox / "new.jpg"), dest / "Red" / "new.jpg")
        shutil.copy(dest / "Red" / "new.jpg", inbox / "copy.jpg")
        make_jpeg(inbox / "marker.jpg", (0, 0, 200))  # a real newcomer ends the wait
        got = collect(w, lambda b: bool(b.added))
    assert got.added == [inbox / "marker.jpg"]


def test_non_images_and_hidden_files_are_ignored(inbox: Path) -> None:
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        (inbox / "notes.txt").write_text("hello")
        make_jpeg(inbox / ".hidden.jpg")
        make_jpeg(inbox / ".cache" / "x.jpg")
        make_jpeg(inbox / "real.JPG")
        got = collect(watcher, lambda b: bool(b.added))
    assert got.added == [inbox / "real.JPG"]


def test_file_that_vanishes_before_settling_is_dropped(inbox: Path) -> None:
    data = make_jpeg(inbox.parent / "src.jpg")
    with FolderWatcher([inbox], settle_s=2.0) as watcher:
        with open(inbox / "temp.jpg", "wb") as fh:  # a download still in progress...
            fh.write(data[:100])
            fh.flush()
            collect(watcher, lambda b: watcher.pending_count == 1)
            (inbox / "temp.jpg").unlink()  # ...that the browser cancels
        make_jpeg(inbox / "keep.jpg")
        got = collect(watcher, lambda b: bool(b.added))
    assert got.added == [inbox / "keep.jpg"]


def test_existing_files_are_caught_up_and_not_repeated(inbox: Path) -> None:
    make_jpeg(inbox / "old1.jpg")
    make_jpeg(inbox / "deep" / "old2.jpg")
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        existing = watcher.existing_files()
        assert sorted(p.name for p in existing) == ["old1.jpg", "old2.jpg"]
        (inbox / "old1.jpg").touch()  # same size: a new mtime is a real change
        make_jpeg(inbox / "fresh.jpg")
        got = collect(watcher, lambda b: len(b.added) >= 2)
    assert sorted(p.name for p in got.added) == ["fresh.jpg", "old1.jpg"]


def test_watched_folder_deleted_and_recreated_is_reported(inbox: Path) -> None:
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        shutil.rmtree(inbox)
        got = collect(watcher, lambda b: bool(b.problems))
        assert "was removed" in got.problems[0]
        inbox.mkdir()
        make_jpeg(inbox / "after.jpg")
        got = collect(watcher, lambda b: bool(b.added))
    assert any("is back" in p for p in got.problems)
    assert got.added == [inbox / "after.jpg"]


def test_polling_observer_for_network_drives(inbox: Path) -> None:
    with FolderWatcher([inbox], settle_s=SETTLE, polling=True) as watcher:
        make_jpeg(inbox / "nas.jpg")
        got = collect(watcher, lambda b: bool(b.added))
    assert got.added == [inbox / "nas.jpg"]


def test_missing_or_file_roots_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WatchError, match="no such folder"):
        FolderWatcher([tmp_path / "nope"])
    make_jpeg(tmp_path / "one.jpg")
    with pytest.raises(WatchError, match="only folders"):
        FolderWatcher([tmp_path / "one.jpg"])


def test_inotify_limit_gives_a_clear_message(inbox: Path, monkeypatch) -> None:
    import errno

    from watchdog.observers import Observer

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "schedule", refuse)
    with pytest.raises(WatchError, match="max_user_watches"):
        FolderWatcher([inbox]).start()


def test_a_dead_observer_is_restarted_and_caught_up(inbox: Path) -> None:
    with FolderWatcher([inbox], settle_s=SETTLE) as watcher:
        for emitter in list(watcher._observer.emitters):  # simulate the thread dying
            emitter.stop()
            emitter.join()
        make_jpeg(inbox / "while-down.jpg")
        got = collect(watcher, lambda b: bool(b.added))
    assert any("restarted" in p for p in got.problems)
    assert got.added == [inbox / "while-down.jpg"]


def test_a_file_that_changed_after_settling_is_watched_again(inbox: Path) -> None:
    """A handed-out file that failed to read: retried only if its writer was still at it."""
    path = inbox / "paused.jpg"
    data = make_jpeg(path)
    path.write_bytes(data[:200])  # the writer paused longer than the settle time
    watcher = FolderWatcher([inbox], settle_s=SETTLE)  # not started: the test makes the events
    assert watcher.existing_files() == [path]
    assert not watcher.retry_if_changed(path)  # unchanged since it settled: a real failure
    with open(path, "ab") as fh:
        fh.write(data[200:])  # ...the writer goes on
    assert watcher.retry_if_changed(path)
    assert watcher.pending_count == 1
    got = collect(watcher, lambda b: bool(b.added))
    assert got.added == [path]
    assert not watcher.retry_if_changed(path)  # settled again as it is now
