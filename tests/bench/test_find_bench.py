"""The Find figures of `photosorter bench` (no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosorter.bench.config import Config
from photosorter.bench.find import find_table, find_targets, measure_find
from photosorter.bench.inputs import make_model, make_photos


def test_find_figures_are_reported(tmp_path: Path) -> None:
    cfg = Config(
        photos=4, width=320, height=240, arch="tiny", reps=1, batch_size=4,
        workdir=tmp_path, rescore_n=(2_000, 5_000), quick=True,
    )  # fmt: skip
    photos = make_photos(tmp_path / "photos", cfg.photos, cfg.width, cfg.height)
    spec = make_model(tmp_path / "model", "tiny")
    report: dict = {}
    measure_find(cfg, spec, photos, lambda key, _what, fn: report.__setitem__(key, fn()))
    assert [x["n"] for x in report["search"]] == [2_000, 5_000]
    assert all(x["ms"] > 0 for x in report["search"])
    d = report["duplicates"]
    assert d["n"] == 2_000 and d["found"] == d["planted"] == 100
    q = report["cli_query"]
    assert q["cached_s"] > 0 and q["new_s"] > 0 and q["import_torch_open_clip_s"] > 0
    assert set(find_targets(report)) == {
        "search_100k_ms < 50", "duplicates_100k_s < 5",
        "cli_cached_query_s < 0.3", "cli_new_query_s < 1",
    }  # fmt: skip
    assert any("duplicates" in line for line in find_table(report))
    json.dumps(report)


@pytest.mark.parametrize("n", [1000])
def test_synthetic_library_plants_copies(n: int) -> None:
    from photosorter.bench.find import synthetic_library

    photos, vectors, copies = synthetic_library(n)
    assert len(photos) == len(vectors) == n and copies == n // 20
