"""The catalogue: what the store knows under some folders, and what the disk says after."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from photosorter.core.library.cache import Store
from photosorter.core.library.catalogue import joined, list_stored, recheck, stored_vectors


def remember(store: Store, *paths: Path) -> None:
    """Record each file as indexed, its name as its content key."""
    rows = [(str(p), p.stat().st_size, p.stat().st_mtime_ns, p.name) for p in paths]
    store.remember_files(rows)


def photos(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = [folder / name for name in names]
    for path in made:
        path.write_bytes(b"jpeg " + path.name.encode())
    return made


def test_lists_what_the_store_knows_under_the_folder_only(tmp_path: Path):
    inside = photos(tmp_path / "lib", *(f"{i:02d}.jpg" for i in range(19)))
    inside += photos(tmp_path / "lib/sub", "c.jpg")
    beside = photos(tmp_path / "lib2", "d.jpg") + photos(tmp_path, "lib.jpg")  # same prefix
    with Store(tmp_path / "s.db") as store:
        remember(store, *inside, *beside)
        pages = list(list_stored(store, [tmp_path / "lib", tmp_path / "lib/sub"], first=2))
        single = joined(list(list_stored(store, [tmp_path / "lib.jpg"])))
    listing = joined(pages)

    assert [len(page) for page in pages] == [2, 16, 2]  # the first rows at once, then more
    assert listing.paths == [str(p) for p in inside]  # sub/ listed once
    assert listing.keys == [p.name for p in inside]
    assert listing.sizes.tolist() == [p.stat().st_size for p in inside]
    assert listing.mtimes_ns.tolist() == [p.stat().st_mtime_ns for p in inside]
    assert single.paths == [str(tmp_path / "lib.jpg")]


def test_vectors_come_row_by_row_with_room_to_grow(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        store.put_embeddings(
            "m", [("k1", np.full(4, 1, np.float32)), ("k2", np.full(4, 2, np.float32))]
        )
        vectors, has = stored_vectors(store, "m", ["k2", "none", "k1", "k2"], spare=3)

    assert vectors.shape == (7, 4) and vectors.dtype == np.float32
    assert has.tolist() == [True, False, True, True]
    assert vectors[:4, 0].tolist() == [2, 0, 1, 2]


def test_recheck_drops_deleted_changed_and_unembedded_and_finds_new(tmp_path: Path):
    kept, deleted, changed, bare = photos(
        tmp_path / "lib", "kept.jpg", "del.jpg", "chg.jpg", "bare.jpg"
    )
    with Store(tmp_path / "s.db") as store:
        remember(store, kept, deleted, changed, bare)
        listing = joined(list(list_stored(store, [tmp_path / "lib"])))
    (new,) = photos(tmp_path / "lib", "new.jpg")
    deleted.unlink()
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    has = np.asarray([p != str(bare) for p in listing.paths])

    found = recheck(listing, has, [kept, changed, bare, new])

    assert sorted(found.gone) == sorted(str(p) for p in (deleted, changed, bare))
    assert sorted(found.todo) == sorted([changed, bare, new])
