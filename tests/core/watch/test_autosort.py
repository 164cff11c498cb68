"""Watched folders end to end: real observer, tiny model, real moves/copies/tags."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import threading
import time
from pathlib import Path

import pytest

from photosorter.core.categories import Category, CategorySet
from photosorter.core.library.cache import Store
from photosorter.core.library.pipeline import CancelToken
from photosorter.core.model.engine import Engine
from photosorter.core.watch.autosort import AutoSorter
from tests.fixtures.shapes import COLOURS, draw_shape

COLOUR_CATS = CategorySet(tuple(Category(c, (c,)) for c in COLOURS))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_photo(path: Path, colour: str, seed: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_shape("circle", colour, random.Random(seed), 160).save(path, "JPEG", quality=92)
    return path.read_bytes()


@pytest.fixture(scope="module")
def engine(tiny_spec: str) -> Engine:
    return Engine(tiny_spec)


def drive(sorter: AutoSorter, until, feed=None, timeout: float = 60):
    """Run the sorter; `feed()` runs in a thread once watching; stop when `until(events)`,
    or fail after `timeout` seconds (even when no event comes at all)."""
    cancel = CancelToken()
    events = []
    feeder = None
    timer = threading.Timer(timeout, cancel.cancel)
    timer.start()
    try:
        for event in sorter.run(cancel, poll_s=0.2):
            events.append(event)
            if feed is not None and feeder is None:
                feeder = threading.Thread(target=feed)
                feeder.start()
            if until(events):
                cancel.cancel()
    finally:
        timer.cancel()
        if feeder:
            feeder.join()
    assert until(events), f"timed out; events so far: {events}"
    return events


def moved(events) -> list:
    return [o for e in events if e.report for o in e.report.outcomes if o.status == "ok"]


def test_catch_up_then_new_arrivals_are_moved_exactly_once(engine, tmp_path: Path) -> None:
    inbox, dest = tmp_path / "inbox", tmp_path / "inbox" / "Sorted"  # dest inside the watch
    expected: dict[str, tuple[str, str]] = {}  # content hash -> (colour, name)
    colours = list(COLOURS)
    for i in range(3):  # arrived while PhotoSorter was not running
        data = write_photo(inbox / f"old{i}.jpg", colours[i], i)
        expected[hashlib.sha256(data).hexdigest()] = (colours[i], f"old{i}.jpg")
    staging = tmp_path / "staging"
    sources = {}
    for i in range(12):
        colour = colours[i % len(colours)]
        data = write_photo(staging / f"new{i}.jpg", colour, 100 + i)
        expected[hashlib.sha256(data).hexdigest()] = (colour, f"new{i}.jpg")
        sources[i] = (staging / f"new{i}.jpg", data)

    def feed() -> None:
        for i, (src, data) in sources.items():
            if i % 3 == 0:  # moved in
                shutil.move(src, inbox / src.name)
            elif i % 3 == 1:  # written slowly in chunks, in a sub-folder
                target = inbox / "card" / src.name
                target.parent.mkdir(exist_ok=True)
                with open(target, "wb") as fh:
                    for k in range(0, len(data), len(data) // 3 + 1):
                        fh.write(data[k : k + len(data) // 3 + 1])
                        fh.flush()
                        time.sleep(0.15)
            else:
                shutil.copy(src, inbox / src.name)

    with Store(tmp_path / "store.sqlite3") as store:
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "move", dest, settle_s=0.3)
        events = drive(sorter, lambda ev: len(moved(ev)) >= 15, feed=feed)
    assert events[0].catch_up and len(moved(events[:1])) == 3
    found = {digest(p): p for p in dest.rglob("*.jpg")}
    assert set(found) == set(expected)  # every photo exactly once, byte-identical
    assert len(list(dest.rglob("*.jpg"))) == 15
    wrong = [p for h, p in found.items() if p.parent.name != expected[h][0]]
    assert len(wrong) <= 1  # the tiny model is >= 95% right
    leftovers = [p for p in inbox.rglob("*.jpg") if not p.is_relative_to(dest)]
    assert leftovers == []
    errors = [o for e in events if e.report for o in e.report.errors]
    assert errors == []
    assert [p for e in events for p in e.removed] == []  # our own moves are not "removed" news


def test_copy_catch_up_skips_what_the_cache_already_saw(engine, tmp_path: Path) -> None:
    inbox, dest = tmp_path / "inbox", tmp_path / "copies"
    write_photo(inbox / "a.jpg", "red", 1)
    with Store(tmp_path / "store.sqlite3") as store:
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "copy", dest, settle_s=0.3)
        events = drive(sorter, lambda ev: len(moved(ev)) >= 1)
        assert len(moved(events)) == 1
        # Restart: a.jpg is known; only b.jpg, which arrived while stopped, is new.
        write_photo(inbox / "b.jpg", "blue", 2)
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "copy", dest, settle_s=0.3)
        events = drive(sorter, lambda ev: len(moved(ev)) >= 1)
    assert [o.source.name for o in moved(events)] == ["b.jpg"]
    assert (inbox / "a.jpg").exists() and (inbox / "b.jpg").exists()  # copies leave sources
    assert len(list(dest.rglob("*.jpg"))) == 2


def test_copy_catch_up_includes_photos_only_viewed_before(engine, tmp_path: Path) -> None:
    """Sorted in the app (so the cache knows them) but never copied: watching copies them."""
    inbox, dest = tmp_path / "inbox", tmp_path / "copies"
    write_photo(inbox / "seen.jpg", "green", 5)
    with Store(tmp_path / "store.sqlite3") as store:
        viewer = AutoSorter([inbox], engine, store, COLOUR_CATS, None)
        assert [c.category for c in viewer.process([inbox / "seen.jpg"]).classified] == ["green"]
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "copy", dest, settle_s=0.3)
        events = drive(sorter, lambda ev: len(moved(ev)) >= 1)
    assert [o.source.name for o in moved(events)] == ["seen.jpg"]
    assert (dest / "green" / "seen.jpg").is_file()


def test_vanished_and_bad_files_are_reported_and_skipped(engine, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    gone = inbox / "gone.jpg"

    def feed() -> None:
        (inbox / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
        write_photo(gone, "blue", 5)
        write_photo(inbox / "good.jpg", "green", 3)

    def seen(events, name: str) -> bool:
        return any(c.path.name == name for e in events for c in e.classified)

    with Store(tmp_path / "store.sqlite3") as store:
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "tag", None, settle_s=0.3)
        process = sorter.process

        def vanish_once_settled(paths, cancel=None):  # deleted after settling, before read
            if gone in paths:
                gone.unlink()
            return process(paths, cancel)

        sorter.process = vanish_once_settled
        write_photo(inbox / "first.jpg", "red", 4)  # gives the catch-up event that starts feed
        events = drive(sorter, lambda ev: len(moved(ev)) >= 2 and seen(ev, gone.name), feed=feed)
    failed = {c.path.name: c.error for e in events for c in e.classified if c.error}
    assert sorted(failed) == ["broken.jpg", "gone.jpg"]
    assert "vanished" in failed["gone.jpg"]
    assert sorted(o.source.name for o in moved(events)) == ["first.jpg", "good.jpg"]
    assert (inbox / "good.jpg.xmp").exists() and not (inbox / "broken.jpg.xmp").exists()
    assert not (inbox / "gone.jpg.xmp").exists()


def test_a_file_still_being_written_is_retried_not_reported(engine, tmp_path, monkeypatch):
    """A writer that pauses longer than the settle time: the half-written photo fails to
    decode, but it changed since it settled, so it is watched again (no error) and sorted
    once complete. A bad file unchanged since it settled is reported."""
    from photosorter.core.library import pipeline

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = write_photo(tmp_path / "whole.jpg", "blue", 9)
    half = data[: len(data) // 2]
    slow = inbox / "slow.jpg"
    slow.write_bytes(half)  # the writer pauses here, longer than the settle time
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    decode = pipeline.decode_photo

    def writer_resumes_while_we_decode(source, *args, **kwargs):  # source: the open photo
        st = os.fstat(source.fileno())
        if st.st_ino == slow.stat().st_ino and st.st_size == len(half):
            with open(slow, "ab") as fh:
                fh.write(data[len(half) :])
        return decode(source, *args, **kwargs)

    monkeypatch.setattr(pipeline, "decode_photo", writer_resumes_while_we_decode)
    with Store(tmp_path / "store.sqlite3") as store:
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "tag", None, settle_s=0.2)
        watcher = sorter.watcher  # not started: no OS events, only what the test does
        first = sorter.process(sorted(watcher.existing_files()))  # both handed out settled
        assert [(c.path.name, bool(c.error)) for c in first.classified] == [("broken.jpg", True)]
        assert watcher.pending_count == 1  # slow.jpg is watched again
        batch = watcher.next_batch(timeout=0.1)
        for _ in range(100):  # until it has settled anew (it no longer changes)
            if batch.added:
                break
            batch = watcher.next_batch(timeout=0.1)
        assert batch.added == [slow]
        second = sorter.process(batch.added)
    assert [(c.path.name, c.category, c.error) for c in second.classified] == [
        ("slow.jpg", "blue", None)
    ]
    assert Path(f"{slow}.xmp").is_file() and not (inbox / "broken.jpg.xmp").exists()


def test_the_users_corrections_teach_the_watcher_between_batches(engine, tmp_path: Path) -> None:
    """A made-up category learns from photos the user placed by hand (in the app, while
    the watcher runs): the next batch already follows them; the first did not."""
    from photosorter.core.library.pipeline import index_photos

    cats = CategorySet((*COLOUR_CATS.categories[:3], Category("Zorblax", ("zorblax",))))
    assert [c.name for c in cats.categories[:3]] == ["red", "green", "blue"]
    inbox = tmp_path / "inbox"
    examples = [tmp_path / "ex" / f"sunny{i}.jpg" for i in range(3)]
    for i, path in enumerate(examples):
        write_photo(path, "yellow", 300 + i)
    first, second = inbox / "a.jpg", inbox / "b.jpg"
    write_photo(first, "yellow", 400)
    write_photo(second, "yellow", 401)
    with Store() as store:
        sorter = AutoSorter([inbox], engine, store, cats, None)
        (before,) = sorter.process([first]).classified
        assert before.category is None  # "zorblax" says nothing about yellow circles
        keys = [r.key for batch in index_photos(examples, engine, store) for r in batch.ok]
        store.set_override(keys, "Zorblax")  # the user drags them there in the app
        (after,) = sorter.process([second]).classified
        assert after.category == "Zorblax" and not after.manual


def test_a_raw_beside_its_jpeg_travels_with_it_not_alone(engine, tmp_path: Path) -> None:
    from tests.fixtures.dng import write_dng
    from tests.fixtures.shapes import draw_scene

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    write_photo(inbox / "IMG_1.JPG", "red", 1)
    raw = write_dng(inbox / "IMG_1.dng", draw_scene("circle", "red", random.Random(1), (120, 80)))
    with Store(tmp_path / "store.sqlite3") as store:
        sorter = AutoSorter([inbox], engine, store, COLOUR_CATS, "move", out, settle_s=0.3)
        alone = sorter.process([raw])  # the RAW settled first: its JPEG will carry it
        assert not alone.classified and alone.plan is None and raw.exists()
        pair = sorter.process([inbox / "IMG_1.JPG"])
    assert [c.path.name for c in pair.classified] == ["IMG_1.JPG"]
    (outcome,) = moved([pair])
    assert [now.name for _was, now in outcome.companions] == ["IMG_1.dng"]
    assert not raw.exists() and (out / "red" / "IMG_1.dng").is_file()
