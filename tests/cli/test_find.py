"""`photosorter search` and `photosorter duplicates` end to end with the tiny trained CLIP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photosorter import cli
from photosorter.core.find import ann
from tests.fixtures.duplicates import make_duplicate_set
from tests.fixtures.photoset import Photoset, make_photoset


@pytest.fixture(scope="module")
def photoset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Photoset]:
    folder = tmp_path_factory.mktemp("photos")
    return folder, make_photoset(folder, n=48, bad_files=False)


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def search_json(capsys, store: Path, spec: str, *args: str) -> list[dict]:
    code, lines, err = run(
        capsys, "search", *args, "--json", "--model", spec, "--cache", str(store)
    )
    assert code == 0, err
    return [json.loads(line) for line in lines]


def test_search_words_json_and_limit(photoset, tiny_spec: str, tmp_path: Path, capsys) -> None:
    folder, ps = photoset
    store = tmp_path / "s.db"
    found = search_json(capsys, store, tiny_spec, "red", str(folder), "--limit", "4")
    assert len(found) == 4
    assert all(set(r) == {"path", "score"} for r in found)
    assert [ps.colour_of(Path(r["path"])) for r in found] == ["red"] * 4
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True)
    everything = search_json(capsys, store, tiny_spec, "red", str(folder), "--limit", "1000")
    assert {Path(r["path"]) for r in everything} == set(ps.labels)
    default = search_json(capsys, store, tiny_spec, "red", str(folder))
    assert len(default) == 20 and default[:4] == found
    code, lines, _ = run(capsys, "search", "red", str(folder), "--model", tiny_spec,
                         "--cache", str(store), "--limit", "2")  # fmt: skip
    assert code == 0 and len(lines) == 2 and lines[0].endswith(found[0]["path"])


def test_search_like_and_combined(photoset, tiny_spec: str, tmp_path: Path, capsys) -> None:
    folder, ps = photoset
    store = tmp_path / "s.db"
    like = next(p for p, label in ps.labels.items() if label == ("circle", "blue"))
    alike = search_json(capsys, store, tiny_spec, "--like", str(like), str(folder), "--limit", "3")
    assert str(like) not in [r["path"] for r in alike]  # the query photo itself is not a match
    assert ps.labels[Path(alike[0]["path"])] == ("circle", "blue")
    both = search_json(capsys, store, tiny_spec, "red", str(folder), "--like", str(like),
                       "--limit", "2")  # fmt: skip
    assert [ps.labels[Path(r["path"])] for r in both] == [("circle", "red")] * 2


def test_past_the_exact_limit_search_uses_the_index_with_the_exact_results(
    photoset, tiny_spec: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ps = photoset
    store = tmp_path / "s.db"
    like = next(p for p, label in ps.labels.items() if label == ("circle", "blue"))
    part = folder / "2024"  # a part of what the store knows: the index covers all of it
    searches = [
        ["red", str(folder)],
        ["red", str(part), "--limit", "5"],
        ["--like", str(like), str(folder), "--limit", "6"],
        ["red", str(part), "--like", str(like), "--limit", "4"],
    ]
    exact = [search_json(capsys, store, tiny_spec, *args) for args in searches]
    assert not list(tmp_path.glob("s.db.matrix/*/ivf.npz"))
    monkeypatch.setattr(ann, "EXACT_LIMIT", 3)
    code, _, err = run(capsys, "index", str(folder), "--model", tiny_spec, "--cache", str(store))
    assert code == 0 and "search index" not in err
    code, lines, err = run(capsys, "search", *searches[0], "--json", "--model", tiny_spec,
                           "--cache", str(store))  # fmt: skip
    assert code == 0 and "building the search index" in err  # built once, said so
    assert [json.loads(line) for line in lines] == exact[0]
    assert len(list(tmp_path.glob("s.db.matrix/*/ivf.npz"))) == 1
    for args, before in zip(searches[1:], exact[1:], strict=True):
        code, lines, err = run(capsys, "search", *args, "--json", "--model", tiny_spec,
                               "--cache", str(store))  # fmt: skip
        assert code == 0 and "search index" not in err  # reused
        assert [json.loads(line) for line in lines] == before, args
    assert all(Path(r["path"]).is_relative_to(part) for r in exact[1] + exact[3])
    assert str(like) not in [r["path"] for r in exact[2] + exact[3]]


def test_search_usage_errors(photoset, tiny_spec: str, tmp_path: Path, capsys) -> None:
    folder, _ = photoset
    store = str(tmp_path / "s.db")
    for args in (
        ["red", str(folder), "--limit", "0"],
        ["--like", str(tmp_path / "nope.jpg"), str(folder)],
        ["red", str(tmp_path / "no-such-folder")],
        ["red"],
    ):
        code, _, err = run(capsys, "search", *args, "--model", tiny_spec, "--cache", store)
        assert code == 2 and "error" in err, args


def test_new_query_on_an_indexed_folder_imports_no_torch(
    photoset, tiny_spec: str, tmp_path: Path, capsys
) -> None:
    folder, ps = photoset
    store = tmp_path / "s.db"
    search_json(capsys, store, tiny_spec, "green", str(folder))  # indexes; exports the tower
    code = (
        "import json, sys\n"
        "from photosorter import cli\n"
        f"rc = cli.main(['search', 'a blue thing', {str(folder)!r}, '--json', '--limit', '3',"
        f" '--model', {tiny_spec!r}, '--cache', {str(store)!r}])\n"
        "print(json.dumps({'rc': rc, 'loaded': [m for m in ('torch', 'open_clip')"
        " if m in sys.modules]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    *results, summary = out.stdout.splitlines()
    assert json.loads(summary) == {"rc": 0, "loaded": []}, out.stderr
    assert [ps.colour_of(Path(json.loads(r)["path"])) for r in results] == ["blue"] * 3


def test_duplicates_json_groups_with_best(tiny_spec: str, tmp_path: Path, capsys) -> None:
    dupset = make_duplicate_set(tmp_path / "photos", scenes=3)
    args = ["duplicates", str(tmp_path / "photos"), "--model", tiny_spec,
            "--cache", str(tmp_path / "s.db")]  # fmt: skip
    code, lines, err = run(capsys, *args, "--json")
    assert code == 0, err
    groups = [json.loads(line) for line in lines]
    assert all(set(g) == {"paths", "best"} for g in groups)
    assert all(g["best"] == g["paths"][0] for g in groups)
    expected = {
        frozenset([str(o), *(str(b) for a, b, _ in dupset.duplicates if a == o)])
        for o in dupset.originals
    }
    assert {frozenset(g["paths"]) for g in groups} == expected
    assert all(g["best"].endswith(".png") for g in groups)  # most pixels, least compressed
    code, lines, _ = run(capsys, *args)
    assert code == 0 and lines[-1] == "3 group(s) of duplicates; 21 photo(s) beside the best"
    code, _, err = run(capsys, *args, "--threshold", "0.2")
    assert code == 2 and "--threshold" in err
