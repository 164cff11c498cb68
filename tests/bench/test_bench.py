"""`photosorter bench --quick`: every figure is there (no timing assertions)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from photosorter import bench
from photosorter.bench.config import Config


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # (module-scoped: the autouse fixture's dirs are per test, so point the data dir here)
    mp = pytest.MonkeyPatch()
    mp.setenv("PHOTOSORTER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    try:
        cfg = Config(
            photos=8,
            width=320,
            height=240,
            arch="tiny",
            reps=1,
            batch_size=8,  # auto times backends on batches of 8 or more
            workdir=tmp_path_factory.mktemp("bench"),
            rescore_n=(1_000, 5_000),
            quick=True,
        )
        return bench.measure(cfg)
    finally:
        mp.undo()


def test_every_figure_is_reported(report: dict) -> None:
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    pytorch = report["backends"]["pytorch"]
    for b in report["backends"].values():
        assert b["img_per_s"] > 0 and b["cpu_ms_per_img"] > 0 and "cosine_min" in b
    assert pytorch["cosine_min"] == pytest.approx(1.0, abs=1e-4)
    assert report["decode"]["draft_cpu_ms"] > 0 and report["decode"]["full_cpu_ms"] > 0
    assert report["decode"]["preview_cpu_ms"] > 0
    p = report["pipeline"]
    assert p["img_per_s"] > 0 and p["bound_img_per_s"] > 0 and p["fraction_of_bound"] > 0
    assert p["bound_with_previews_img_per_s"] > 0
    assert p["backend"] in report["backends"]
    auto = p["auto"]  # which encoder auto picks, and why: its timings on these photos
    assert auto["backend"] == p["backend"] and p["backend"] in auto["why"]
    assert auto["ms_per_photo"] and "pytorch" in auto["ms_per_photo"]
    assert set(auto["int8_for_a_job_of"]) == {400, 2_000, 20_000}
    assert report["naive"]["img_per_s"] > 0 and p["speedup_vs_naive"] > 0
    assert [x["n"] for x in report["rescore"]] == [1_000, 5_000]
    assert report["cache_load"]["seconds"] > 0
    assert report["text"]["ms_per_prompt"] > 0
    assert report["event_loop"]["max_stall_ms"] is not None, report["event_loop"]
    assert report["memory"]["peak_rss_gb"] > 0, report["memory"]
    pano = report["panorama"]  # a 184 MP JPEG (--quick), classified at 1/8 scale
    assert pano["full"] == [16000, 11504] and pano["decoded"] == [2000, 1438], pano
    assert pano["rss_added_mb"] > 0
    assert "seconds" in report["gui_start"]
    assert set(report["targets"]) >= {"pipeline_vs_bound >= 0.9", "peak_rss_gb < 2"}
    json.dumps(report)  # JSON-able


def test_table_names_every_part(report: dict) -> None:
    table = bench.format_table(report)
    words = ("pipeline", "naive", "re-score", "window", "peak RSS", "event loop", "target")
    for word in (*words, "auto picks", "timed on these photos", "panorama JPEG", "MPF) preview"):
        assert word in table


def test_cli_options_parse(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--quick", "--json", "--out", str(tmp_path / "b.json")])
    assert args.quick and args.json and args.out == tmp_path / "b.json"
