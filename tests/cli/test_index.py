"""`photosorter index` on this machine, and its --cluster option without Ray installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from photosorter import cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from photosorter.bench.inputs import make_photos

    photos = make_photos(tmp_path_factory.mktemp("photos"), 4, 120, 90)
    return photos[0].parent


def test_index_then_again_from_the_store(folder: Path, tiny_spec: str, tmp_path: Path, capsys):
    args = ["index", str(folder), "--model", tiny_spec, "--cache", str(tmp_path / "s.db")]
    assert cli.main(args) == 0
    assert "4 photo(s) indexed (4 encoded, 0 already known), 0 failed" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "4 photo(s) indexed (0 encoded, 4 already known), 0 failed" in capsys.readouterr().out


def test_cluster_without_ray_says_how_to_install_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    assert cli.main(["index", str(folder), "--cluster", "auto"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "photosorter: error: Indexing on a cluster needs Ray: pip install 'photosorter[cluster]'.\n"
    )


def test_a_path_map_goes_with_a_cluster(folder: Path, capsys) -> None:
    assert cli.main(["search", "red", str(folder), "--path-map", "/a=/b"]) == 2
    assert "--path-map goes with --cluster" in capsys.readouterr().err


def test_while_a_cluster_is_open_other_prints_go_to_stderr(monkeypatch, capsys) -> None:
    """Ray prints a lost worker's "(raylet) ..." lines to sys.stdout: not into --json."""
    import argparse
    import contextlib

    from photosorter.cli.options import open_cluster
    from photosorter.core.library import cluster

    monkeypatch.setattr(cluster.Cluster, "connect", lambda *_a: contextlib.nullcontext("c"))
    out = sys.stdout  # what a command writes its results to
    with open_cluster(argparse.Namespace(cluster="auto", path_map=[])) as opened:
        print("(raylet) A worker died or was killed while executing a task")
        out.write('{"path": "a.jpg"}\n')
    print("after")
    captured = capsys.readouterr()
    assert opened == "c"
    assert captured.out == '{"path": "a.jpg"}\nafter\n'
    assert "(raylet)" in captured.err
