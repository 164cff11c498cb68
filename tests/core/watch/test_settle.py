"""The settle clock: a photo whose RAW is still being written waits for it."""

from pathlib import Path

from photosorter.core.watch.settle import Settler


def test_a_photo_waits_while_its_raw_is_still_being_written(tmp_path: Path) -> None:
    jpeg, raw, other = tmp_path / "IMG_1.JPG", tmp_path / "IMG_1.CR2", tmp_path / "IMG_2.JPG"
    for path in (jpeg, raw, other):
        path.write_bytes(b"x" * 100)
    settler = Settler(settle_s=3600.0)  # nothing settles by time in this test
    settler.touch(jpeg, closed=True)  # the camera app wrote the JPEG and closed it
    settler.touch(other, closed=True)
    settler.touch(raw, closed=False)  # the RAW is still being copied
    assert settler.settled() == [other]  # IMG_2 has no RAW on the way: it goes at once
    with raw.open("ab") as f:
        f.write(b"more")
    assert settler.settled() == []  # still growing: the JPEG keeps waiting
    settler.touch(raw, closed=True)
    assert sorted(settler.settled()) == sorted([jpeg, raw])  # together, once complete
    assert settler.settled() == [] and not settler.has_pending


def test_a_raw_settles_alone_and_does_not_hold_other_stems(tmp_path: Path) -> None:
    raw, jpeg = tmp_path / "IMG_1.NEF", tmp_path / "IMG_10.jpg"
    for path in (raw, jpeg):
        path.write_bytes(b"x" * 100)
    settler = Settler(settle_s=3600.0)
    settler.touch(jpeg, closed=True)
    settler.touch(raw, closed=False)
    assert settler.settled() == [jpeg]  # IMG_1.NEF is no RAW of IMG_10.jpg
    settler.touch(raw, closed=True)
    assert settler.settled() == [raw]
