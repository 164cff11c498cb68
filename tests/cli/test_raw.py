"""RAW files through `photosorter sort`, with the tiny trained CLIP: classified from their
preview or a demosaic, a RAW+JPEG pair listed, moved and tagged as one photo."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from photosorter.cli.output import EXIT_SOME_FAILED
from photosorter.core.files.xmp import read_keywords
from tests.cli.test_sort import categories_file, run_sort
from tests.fixtures.dng import dng_bytes, write_dng
from tests.fixtures.shapes import COLOURS, draw_scene


def scene(colour: str, seed: int):
    return draw_scene("circle", colour, random.Random(seed), (640, 480), busy=False,
                      diameter=(0.5, 0.6))  # fmt: skip


@pytest.fixture
def raws(tmp_path: Path) -> Path:
    """red.dng (with a preview), blue.dng (none: demosaiced), IMG_1.JPG + IMG_1.DNG (green),
    a truncated DNG."""
    folder = tmp_path / "card"
    red = scene("red", 1)
    write_dng(folder / "red.dng", red, preview=red.resize((320, 240)))
    write_dng(folder / "blue.dng", scene("blue", 2))
    green = scene("green", 3)
    write_dng(folder / "IMG_1.DNG", green)
    green.save(folder / "IMG_1.JPG", quality=90)
    data = dng_bytes(scene("yellow", 4))
    (folder / "broken.dng").write_bytes(data[: len(data) // 3])
    return folder


@pytest.fixture
def sort(capsys, tmp_path: Path, tiny_spec: str):
    """Run `photosorter sort --json` with the colours as categories -> (code, records, err)."""
    cats = categories_file(tmp_path, {c: [c] for c in COLOURS})

    def run(folder: Path, *extra: str) -> tuple[int, list[dict], str]:
        return run_sort(
            capsys, str(folder), "--categories", str(cats), "--model", tiny_spec,
            "--cache", str(tmp_path / "store.sqlite3"), *extra,
        )  # fmt: skip

    return run


def test_raws_classify_and_a_pair_is_one_photo(raws: Path, sort) -> None:
    code, records, _ = sort(raws)
    by_name = {Path(r["path"]).name: r for r in records}
    assert sorted(by_name) == ["IMG_1.JPG", "blue.dng", "broken.dng", "red.dng"]  # one pair
    assert {n: by_name[n]["category"] for n in ("IMG_1.JPG", "blue.dng", "red.dng")} == {
        "IMG_1.JPG": "green", "blue.dng": "blue", "red.dng": "red"
    }  # fmt: skip
    assert "damaged or truncated RAW" in by_name["broken.dng"]["error"]
    assert code == EXIT_SOME_FAILED  # the broken file, and only it


def test_a_pair_moves_together(raws: Path, tmp_path: Path, sort) -> None:
    dest = tmp_path / "sorted"
    _, records, _ = sort(raws, "--action", "move", "--dest", str(dest))
    pair = next(r for r in records if r["path"].endswith("IMG_1.JPG"))
    assert pair["companions"] == [str(dest / "green" / "IMG_1.DNG")]
    assert sorted(p.name for p in (dest / "green").iterdir()) == ["IMG_1.DNG", "IMG_1.JPG"]
    assert sorted(p.name for p in (dest / "red").iterdir()) == ["red.dng"]
    assert sorted(p.name for p in raws.iterdir()) == ["broken.dng"]


def test_tagging_a_pair_writes_the_raws_own_sidecar(raws: Path, sort) -> None:
    _, records, _ = sort(raws, "--action", "tag")
    pair = next(r for r in records if r["path"].endswith("IMG_1.JPG"))
    assert pair["status"] == "ok" and pair["companions"] == [str(raws / "IMG_1.DNG.xmp")]
    for sidecar in ("IMG_1.JPG.xmp", "IMG_1.DNG.xmp"):
        assert read_keywords((raws / sidecar).read_bytes()).subject == ("green",)
    assert read_keywords((raws / "red.dng.xmp").read_bytes()).subject == ("red",)
    assert not (raws / "IMG_1.xmp").exists()  # a stem sidecar would speak for both files
