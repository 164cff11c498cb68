"""`photosorter sort --action move|copy|tag` and `photosorter undo`, end to end.

Most tests stand a labelled classifier in for the model (the action runs after
classification, on its results), so they are fast; the last ones use the tiny trained
CLIP through the same local-dir: path a user would use.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from photosorter import cli
from photosorter.cli import sort as cli_sort
from photosorter.core.library.cache import Store
from photosorter.core.library.pipeline import Classified
from tests.fixtures.photoset import make_photoset
from tests.fixtures.shapes import COLOURS


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(*roots: Path) -> dict[Path, str]:
    """Every visible file under the roots -> content hash."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith("."):
                    found[Path(folder) / name] = sha(Path(folder) / name)
    return found


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A labelled photoset (with bad files and three same-named photos); the classifier
    is replaced by the labels, so these tests need no model."""
    folder = tmp_path / "SET"
    ps = make_photoset(folder, n=24, size=64)
    labels = {p: f"{ps.colour_of(p)} things" for p in ps.labels}
    for i, sub in enumerate(("x", "y", "z")):  # the same name in three folders, one category
        path = folder / sub / "IMG_0001.jpg"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\xff\xd8 same name, different bytes %d" % i)
        labels[path] = "red things"
    uncategorized = folder / "y" / "unsure.jpg"
    uncategorized.write_bytes(b"\xff\xd8 nothing fits")
    labels[uncategorized] = None

    def classify_paths(args, store, out, err, stream=True):
        from photosorter.core.library.scanner import scan

        results = []
        for path in scan(args.paths):
            if path in labels:
                results.append(Classified(path, "key", labels[path], 0.9))
            else:
                results.append(Classified(path, None, None, 0.0, "cannot decode"))
        return results

    monkeypatch.setattr(cli_sort, "classify_paths", classify_paths)
    cats = tmp_path / "cats.toml"
    cats.write_text("".join(f'[[category]]\nname = "{c} things"\n' for c in COLOURS))
    return folder, labels, ps, cats


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_move_then_undo_puts_every_byte_back(tmp_path: Path, photos, capsys) -> None:
    folder, labels, ps, cats = photos
    before = snapshot(folder)
    dest, store = tmp_path / "D", str(tmp_path / "store.sqlite3")
    code, out, err = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(dest), "--cache", store,
    )  # fmt: skip
    assert code == 1  # the bad files are errors
    assert "Moved 27 photo(s):" in out and f"-> {dest / 'red things'}" in out
    assert "1 uncategorized photo(s) left where they are" in out
    assert f"Undo with: photosorter undo --cache {store}" in out
    assert all(f"error: {p}" in err for p in ps.bad)
    after = snapshot(folder, dest)
    assert sorted(after.values()) == sorted(before.values())  # every byte kept, nothing lost
    for path, category in labels.items():
        if category is None:
            assert path.exists()
        else:
            assert not path.exists()
    assert all(p.exists() for p in ps.bad)  # bad files left in place
    reds = sorted(p.name for p in (dest / "red things").iterdir() if p.name.startswith("IMG"))
    assert reds == ["IMG_0001 (1).jpg", "IMG_0001 (2).jpg", "IMG_0001.jpg"]

    code, out, err = run(capsys, "undo", "--cache", store)
    assert code == 0, err
    assert "27 file(s) reverted" in out
    assert snapshot(folder) == before
    assert not dest.exists()
    assert run(capsys, "undo", "--cache", store)[1] == "Nothing to undo.\n"


def test_default_destination_is_stated(tmp_path: Path, photos, capsys) -> None:
    folder, _labels, _ps, cats = photos
    code, out, _ = run(capsys, "sort", str(folder), "--categories", str(cats), "--action", "copy")
    assert code == 1  # the photoset's bad files
    assert f"Destination: {tmp_path / 'Sorted'}" in out
    assert (tmp_path / "Sorted" / "red things").is_dir()


def test_copy_leaves_source_and_skips_identical(tmp_path: Path, photos, capsys) -> None:
    folder, _labels, _ps, cats = photos
    before = snapshot(folder)
    args = ["sort", str(folder), "--categories", str(cats), "--action", "copy"]
    args += ["--dest", str(tmp_path / "D")]
    run(capsys, *args)
    assert snapshot(folder) == before
    copies = snapshot(tmp_path / "D")
    assert len(copies) == 27
    code, out, _ = run(capsys, *args)
    assert code == 1
    assert "27 identical file(s) already there, not copied again" in out
    assert snapshot(tmp_path / "D") == copies


def test_tag_writes_sidecars_exiftool_reads(tmp_path: Path, photos, capsys, exiftool_keywords):
    folder, labels, _ps, cats = photos
    before = snapshot(folder)
    code, out, _ = run(capsys, "sort", str(folder), "--categories", str(cats), "--action", "tag")
    assert code == 1
    assert "Tagged 27 photo(s):" in out
    for path, category in labels.items():
        side = path.with_name(path.name + ".xmp")
        if category is None:
            assert not side.exists()
        else:
            assert exiftool_keywords(side)["subject"] == [category]
    assert all(snapshot(folder)[p] == h for p, h in before.items())  # photos unchanged
    run(capsys, "undo")
    assert snapshot(folder) == before


def test_dry_run_changes_nothing(tmp_path: Path, photos, capsys) -> None:
    folder, _labels, _ps, cats = photos
    before = snapshot(tmp_path)
    code, out, _ = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(tmp_path / "D"), "--dry-run",
    )  # fmt: skip
    assert "Would move 27 photo(s):" in out
    assert "stay" in out and "uncategorized" in out
    code, out, _ = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(tmp_path / "D"), "--dry-run", "--json",
    )  # fmt: skip
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    planned = [r for r in records if r["status"] == "planned"]
    assert len(planned) == 27 and all(r["dest"].startswith(str(tmp_path / "D")) for r in planned)
    assert snapshot(tmp_path) == before


def test_json_lines_gain_dest_or_keywords(tmp_path: Path, photos, capsys) -> None:
    folder, labels, ps, cats = photos
    dest = tmp_path / "D"
    code, out, err = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(dest), "--json",
    )  # fmt: skip
    records = {Path(r["path"]): r for r in map(json.loads, out.splitlines())}
    assert set(records) == set(labels) | set(ps.bad)  # one line per image, errors included
    for path, category in labels.items():
        r = records[path]
        if category is None:
            assert r["status"] == "stayed" and r["dest"] is None
        else:
            assert r["status"] == "ok" and Path(r["dest"]).parent == dest / category
            assert Path(r["dest"]).is_file()
    assert all(records[p]["error"] for p in ps.bad)
    assert "Undo with" in err  # stdout stays pure JSON lines
    run(capsys, "undo")
    code, out, _ = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "tag", "--json"
    )
    assert code == 1
    records = {Path(r["path"]): r for r in map(json.loads, out.splitlines())}
    assert all(records[p]["keywords"] == [c] for p, c in labels.items() if c)


@pytest.mark.parametrize(
    "extra", [["--dest", "x"], ["--dry-run"], ["--action", "tag", "--dest", "x"]]
)
def test_bad_option_combinations_exit_2(tmp_path: Path, photos, capsys, extra) -> None:
    folder, _labels, _ps, cats = photos
    code, _, err = run(capsys, "sort", str(folder), "--categories", str(cats), *extra)
    assert code == 2 and "error:" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["sort", str(folder), "--categories", str(cats), "--action", "rename"])
    assert exc.value.code == 2


def test_interrupted_operation_is_recovered_at_next_start(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosorter.core.files import safeio
    from photosorter.core.files.fileops import apply_plan, plan_operation

    class Crash(BaseException):
        pass

    src = tmp_path / "in" / "a.jpg"
    src.parent.mkdir()
    src.write_bytes(b"\xff\xd8 photo")
    real = safeio._rename

    def rename(s, d):
        real(s, d)
        raise Crash

    monkeypatch.setattr(safeio, "_rename", rename)
    store_path = tmp_path / "store.sqlite3"
    with Store(store_path) as store, pytest.raises(Crash):
        apply_plan(plan_operation([(src, "X")], "move", tmp_path / "D"), store)
    monkeypatch.setattr(safeio, "_rename", real)
    code, out, err = run(capsys, "undo", "--cache", str(store_path))
    assert "recovered from an interrupted file operation" in err
    assert "finished moving" in err
    assert code == 0 and "1 file(s) reverted" in out
    assert src.read_bytes() == b"\xff\xd8 photo"


# -- with the tiny trained model -------------------------------------------------------------
def test_real_model_move_and_undo(tmp_path: Path, tiny_spec: str, capsys) -> None:
    folder = tmp_path / "SET"
    ps = make_photoset(folder, n=24, size=96)
    before = snapshot(folder)
    cats = tmp_path / "cats.toml"
    cats.write_text("".join(f'[[category]]\nname = "{c}"\nprompts = ["{c}"]\n' for c in COLOURS))
    dest, store = tmp_path / "D", str(tmp_path / "store.sqlite3")
    code, out, err = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--model", tiny_spec,
        "--cache", store, "--action", "move", "--dest", str(dest), "--json",
    )  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    moved = [r for r in records if r.get("status") == "ok"]
    assert len(moved) >= len(ps.labels) * 0.8
    for r in moved:
        assert Path(r["dest"]).parent == dest / r["category"]
    assert all(p.exists() for p in ps.bad)
    assert sorted(snapshot(folder, dest).values()) == sorted(before.values())
    code, out, err = run(capsys, "undo", "--cache", store)
    assert code == 0, err
    assert snapshot(folder) == before


def test_category_name_with_a_control_character_exits_2(tmp_path: Path, capsys) -> None:
    cats = tmp_path / "cats.toml"
    cats.write_text('[[category]]\nname = "red"\n[[category]]\nname = "bell\\u0007"\n')
    (tmp_path / "in").mkdir()
    code, _out, err = run(
        capsys, "sort", str(tmp_path / "in"), "--categories", str(cats), "--action", "tag"
    )
    assert code == 2
    assert f"{cats}, line 3" in err and "control character" in err


def test_undo_blocked_half_way_can_be_run_again(tmp_path: Path, photos, capsys) -> None:
    folder, labels, _ps, cats = photos
    before = snapshot(folder)
    dest, store = tmp_path / "D", str(tmp_path / "store.sqlite3")
    run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(dest), "--cache", store,
    )  # fmt: skip
    blocked = next(p for p, c in labels.items() if c)
    blocked.write_bytes(b"a new file took its place")
    code, out, err = run(capsys, "undo", "--cache", store)
    assert code == 1 and "26 file(s) reverted" in out
    assert f"not reverted: {dest / labels[blocked] / blocked.name}" in err
    assert "1 file(s) still to revert: fix what is named above, then run photosorter undo" in err
    blocked.unlink()
    code, out, err = run(capsys, "undo", "--cache", store)
    assert (code, err) == (0, "") and "1 file(s) reverted" in out
    assert snapshot(folder) == before and not dest.exists()
    assert run(capsys, "undo", "--cache", store)[1] == "Nothing to undo.\n"


def test_move_uses_the_category_folder_key(tmp_path: Path, photos, capsys) -> None:
    folder, labels, _ps, cats = photos
    red = 'name = "red things"\n'
    cats.write_text(cats.read_text().replace(red, red + 'folder = "Reds"\n'))
    dest = tmp_path / "D"
    _code, out, _ = run(
        capsys, "sort", str(folder), "--categories", str(cats), "--action", "move",
        "--dest", str(dest), "--cache", str(tmp_path / "store.sqlite3"),
    )  # fmt: skip
    assert f"-> {dest / 'Reds'}" in out and not (dest / "red things").exists()
    reds = sum(1 for c in labels.values() if c == "red things")
    assert len(list((dest / "Reds").iterdir())) == reds > 0


def test_tag_again_says_how_many_were_new(tmp_path: Path, photos, capsys) -> None:
    """A run killed half way, then run again: only the rest are tagged now."""
    folder, labels, _ps, cats = photos
    args = ["sort", str(folder), "--categories", str(cats), "--action", "tag"]
    run(capsys, *args)
    untagged = [p for p, c in labels.items() if c][:5]
    for path in untagged:
        path.with_name(path.name + ".xmp").unlink()
    _code, out, _ = run(capsys, *args)
    assert "Tagged 5 photo(s):" in out
    assert "22 photo(s) already had their keywords" in out
