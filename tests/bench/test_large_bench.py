"""`photosorter bench --large N`: every figure is there (no timing assertions), at a small N."""

import json
from pathlib import Path

import numpy as np
import pytest

from photosorter.bench import large
from photosorter.bench.large import large_table, run_large


def test_large_figures_at_a_small_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(large, "machine", lambda: {"cpu": "test"})  # no torch import
    report = run_large(6000, 4000, tmp_path, 1, lambda _m: None)
    json.dumps(report)  # JSON-able
    assert report["n"] == 6000 and report["index"]["n"] == 4000
    assert report["index"]["recall_at_20"] >= 0.95
    d = report["duplicates"]
    assert d["n"] == 6000 and d["planted"] == 300  # exact below EXACT_LIMIT: every pair
    assert d["found"] == d["planted"] and d["recall"] == 1.0 and d["false_pairs"] == 0
    assert 1024 < report["store"]["bytes_per_photo"] < 4000  # a float16 vector and its rows
    assert report["rescore"]["seconds"] > 0 and report["search"]["index_ms"] > 0
    assert len(large_table(report)) == 7
    assert list(tmp_path.iterdir()) == []  # the synthetic files are gone


def test_duplicates_figure_through_cells_finds_the_planted_copies(tmp_path: Path) -> None:
    vectors, _ = large.synthetic_matrix(tmp_path / "m.npy", 8000)  # copy-on-write mapping
    d = large.duplicates_figure(vectors, exact_limit=1000)
    assert d["n"] == 8000 and d["planted"] == 400
    assert d["recall"] >= 0.98 and d["false_pairs"] == 0
    assert not np.array_equal(vectors, np.load(tmp_path / "m.npy"))  # copies written, in memory
    del vectors
