"""`photosorter sort` end to end with the tiny trained CLIP, through the real local-dir path."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photosorter import cli
from tests.fixtures.photoset import Photoset, make_photoset
from tests.fixtures.shapes import COLOURS, SHAPES


def categories_file(folder: Path, names: dict[str, list[str]]) -> Path:
    path = folder / f"cats-{len(list(folder.glob('cats-*')))}.toml"
    lines = []
    for name, prompts in names.items():
        lines += ["[[category]]", f"name = {json.dumps(name)}", f"prompts = {json.dumps(prompts)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_sort(capsys, *args: str) -> tuple[int, list[dict], str]:
    code = cli.main(["sort", *args, "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.fixture(scope="module")
def photoset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Photoset]:
    folder = tmp_path_factory.mktemp("photos")
    return folder, make_photoset(folder, n=96)


def accuracy(records: list[dict], truth: dict[Path, str]) -> float:
    by_path = {Path(r["path"]): r for r in records}
    right = sum(1 for path, label in truth.items() if by_path[path]["category"] == label)
    return right / len(truth)


@pytest.mark.parametrize(
    ("kind", "prompt"),
    [("colour", "{}"), ("shape", "{}"), ("colour", "a {} shape"), ("shape", "a {}")],
)
def test_sort_accuracy_bad_files_and_exit_code(
    photoset, tiny_spec: str, tmp_path: Path, capsys, kind: str, prompt: str
) -> None:
    folder, ps = photoset
    labels = list(COLOURS) if kind == "colour" else list(SHAPES)
    cats = categories_file(tmp_path, {f"{lab} things": [prompt.format(lab)] for lab in labels})
    code, records, err = run_sort(
        capsys, str(folder), "--categories", str(cats), "--model", tiny_spec,
        "--cache", str(tmp_path / "store.sqlite3"),
    )  # fmt: skip
    assert code == 1  # bad files are reported, the rest is classified
    paths = {Path(r["path"]) for r in records}
    assert paths == set(ps.labels) | set(ps.bad)
    assert not paths & set(ps.ignored)
    errors = {Path(r["path"]): r["error"] for r in records if r["error"]}
    assert set(errors) == set(ps.bad)
    assert errors[folder / "empty.jpg"] == "empty file"
    assert errors[folder / "garbage.png"] == "not an image file"
    assert "truncated" in errors[folder / "truncated.jpg"]
    assert f"{folder / 'empty.jpg'}: empty file" in err  # also listed for humans
    truth = {
        p: f"{ps.colour_of(p) if kind == 'colour' else ps.shape_of(p)} things" for p in ps.labels
    }
    assert accuracy(records, truth) >= 0.95
    for r in records:
        assert set(r) == {"path", "category", "score", "margin", "error"}
        assert 0.0 <= r["margin"] <= r["score"]
        assert os.path.isabs(r["path"])
        assert 0.0 <= r["score"] <= 1.0


def test_rerun_and_new_categories_open_no_photo(
    tiny_spec: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=24, bad_files=False)
    store = str(tmp_path / "store.sqlite3")
    colours = categories_file(tmp_path, {c: [c] for c in COLOURS})
    code, first, _ = run_sort(
        capsys, str(folder), "--categories", str(colours), "--model", tiny_spec, "--cache", store
    )
    assert code == 0 and len(first) == len(ps.labels)

    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and str(folder) in os.fspath(file):
            opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    code, again, _ = run_sort(
        capsys, str(folder), "--categories", str(colours), "--model", tiny_spec, "--cache", store
    )
    assert code == 0
    assert {r["path"]: r["category"] for r in again} == {r["path"]: r["category"] for r in first}
    shapes = categories_file(tmp_path, {s: [s] for s in SHAPES})
    code, reshaped, _ = run_sort(
        capsys, str(folder), "--categories", str(shapes), "--model", tiny_spec, "--cache", store
    )
    assert code == 0
    placed = [r["category"] for r in reshaped]
    assert set(placed) <= {*SHAPES, None}  # None: "none of these" may leave one out
    assert sum(c is not None for c in placed) >= 0.9 * len(placed)
    assert opened == []  # a stat per photo was enough, both times


def test_renamed_photo_is_recognised_not_reencoded(
    tiny_spec: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=8, bad_files=False)
    store = str(tmp_path / "store.sqlite3")
    cats = categories_file(tmp_path, {c: [c] for c in COLOURS})
    args = [str(folder), "--categories", str(cats), "--model", tiny_spec, "--cache", store]
    run_sort(capsys, *args)
    first = next(iter(ps.labels))
    moved = folder / "renamed" / ("new name" + first.suffix)
    moved.parent.mkdir()
    shutil.move(first, moved)

    from photosorter.core.library import pipeline

    decoded: list[object] = []
    real = pipeline.decode_photo
    monkeypatch.setattr(
        pipeline, "decode_photo", lambda *a, **k: decoded.append(a) or real(*a, **k)
    )
    code, records, _ = run_sort(capsys, *args)
    assert code == 0
    assert str(moved) in {r["path"] for r in records}
    assert decoded == []  # hashed, found in the cache, never decoded or encoded again


def test_bad_categories_file_exits_2_naming_file_and_line(tmp_path: Path, capsys) -> None:
    cats = tmp_path / "bad.toml"
    cats.write_text('[[category]]\nname = "ok"\n\n[[category]]\nprompts = ["x"]\n')
    code = cli.main(["sort", str(tmp_path), "--categories", str(cats)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{cats}, line 4" in err and "name" in err


def test_missing_folder_and_unknown_model_exit_2(tmp_path: Path, capsys, tiny_spec) -> None:
    cats = categories_file(tmp_path, {"red": ["red"]})
    assert cli.main(["sort", str(tmp_path / "nope"), "--categories", str(cats)]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "p").mkdir()
    make_photoset(tmp_path / "p", n=2, bad_files=False)
    args = ["sort", str(tmp_path / "p"), "--categories", str(cats), "--model"]
    assert cli.main([*args, "NoSuchArch-99:foo"]) == 2
    assert "Unknown model architecture" in capsys.readouterr().err
    assert cli.main([*args, f"local-dir:{tmp_path / 'nothing'}"]) == 2
    assert "Model folder not found" in capsys.readouterr().err


def test_offline_download_error_is_one_plain_sentence(tmp_path: Path, monkeypatch) -> None:
    """The real download path with no network: a plain error, exit 2, no traceback."""
    (tmp_path / "p").mkdir()
    make_photoset(tmp_path / "p", n=1, bad_files=False)
    cats = categories_file(tmp_path, {"red": ["red"]})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-m", "photosorter", "sort", str(tmp_path / "p"), "--categories",
         str(cats), "--model", "ViT-B-32:laion2b_s34b_b79k", "--cache", str(tmp_path / "s.db")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "could not be downloaded" in proc.stderr
    assert "local-dir:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_manual_overrides_win_including_uncategorized(tiny_spec: str, tmp_path: Path, capsys):
    from photosorter.core.library.cache import Store
    from photosorter.core.library.images import file_digest

    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=6, bad_files=False)
    store_path = tmp_path / "store.sqlite3"
    cats = categories_file(tmp_path, {c: [c] for c in COLOURS})
    first, second = list(ps.labels)[:2]
    with Store(store_path) as store:
        store.set_override([file_digest(first.read_bytes())], "Uncategorized")
        store.set_override([file_digest(second.read_bytes())], "blue")
    code, records, _ = run_sort(
        capsys, str(folder), "--categories", str(cats), "--model", tiny_spec,
        "--cache", str(store_path),
    )  # fmt: skip
    by_path = {Path(r["path"]): r for r in records}
    assert code == 0
    assert by_path[first]["category"] is None and by_path[first]["manual"] is True
    assert by_path[second]["category"] == "blue" and by_path[second]["manual"] is True


def examples_file(folder: Path, body: str) -> Path:
    path = folder / "cats-examples.toml"
    path.write_text(body, encoding="utf-8")
    return path


def draw_examples(folder: Path, shape: str, n: int, seed: int) -> list[Path]:
    """`n` pictures of `shape`, each in another colour (so colour is no cue)."""
    import random

    from tests.fixtures.shapes import draw_shape

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, colour in enumerate(list(COLOURS)[:n]):
        path = folder / f"{shape}-{i}.png"
        draw_shape(shape, colour, rng, 128).save(path)
        out.append(path)
    return out


def test_examples_from_toml_files_and_folders_teach_made_up_names(
    tiny_spec: str, tmp_path: Path, capsys
) -> None:
    """Made-up names tell the model nothing; four example photos per name do."""
    made_up = dict(zip(SHAPES, ("zorblat", "quexil", "fnord", "blicket"), strict=True))
    body = []
    for shape, name in made_up.items():
        files = draw_examples(tmp_path / "examples" / shape, shape, 4, seed=len(body))
        listed = (  # files for two categories, a folder for the others
            [f"examples/{shape}/{p.name}" for p in files] if shape in SHAPES[:2]
            else [f"examples/{shape}/"]
        )  # fmt: skip
        body += ["[[category]]", f'name = "{name}"', f"examples = {json.dumps(listed)}", ""]
    cats = examples_file(tmp_path, "\n".join(body))
    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=48, bad_files=False)
    store = str(tmp_path / "store.sqlite3")
    args = [str(folder), "--categories", str(cats), "--model", tiny_spec, "--cache", store]
    code, records, err = run_sort(capsys, *args)
    assert code == 0, err
    truth = {p: made_up[ps.shape_of(p)] for p in ps.labels}
    assert accuracy(records, truth) >= 0.9
    # --no-examples: categories with examples only have nothing left to go on
    code, plain, _ = run_sort(capsys, *args, "--no-examples")
    assert code == 0 and all(r["category"] is None for r in plain)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('examples = ["missing.jpg"]', "example 'missing.jpg' not found"),
        ('examples = ["notes.txt"]', "not a folder or image file"),
        ('examples = ["broken.jpg"]', "broken.jpg: not an image file"),
        ('examples = ["empty/"]', "holds no photos"),
    ],
)
def test_bad_example_exits_2_naming_file_and_line(
    tiny_spec: str, tmp_path: Path, capsys, entry: str, problem: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "empty").mkdir()
    cats = examples_file(
        tmp_path,
        f'[[category]]\nname = "red"\n\n[[category]]\nname = "Zoe"\nprompts = ["a dog"]\n{entry}\n',
    )
    folder = tmp_path / "photos"
    make_photoset(folder, n=2, bad_files=False)
    code = cli.main(
        ["sort", str(folder), "--categories", str(cats), "--model", tiny_spec,
         "--cache", str(tmp_path / "store.sqlite3")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"{cats}, line 4:" in err and problem in err


def test_overrides_are_examples_unless_no_examples(tiny_spec: str, tmp_path: Path, capsys):
    """Photos the user placed by hand teach `sort` what a made-up name means."""
    from photosorter.core.library.cache import Store
    from photosorter.core.library.images import file_digest

    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=48, bad_files=False)
    made_up = dict(zip(SHAPES, ("zorblat", "quexil", "fnord", "blicket"), strict=True))
    cats = categories_file(tmp_path, {name: [name] for name in made_up.values()})
    store_path = tmp_path / "store.sqlite3"
    args = [str(folder), "--categories", str(cats), "--model", tiny_spec]
    args += ["--cache", str(store_path)]
    code, plain, _ = run_sort(capsys, *args)
    truth = {p: made_up[ps.shape_of(p)] for p in ps.labels}
    assert code == 0 and accuracy(plain, truth) < 0.5  # the names alone mean nothing
    placed: dict[str, list[str]] = {}
    for path in list(ps.labels)[:16]:  # four of each shape, in different colours
        placed.setdefault(made_up[ps.shape_of(path)], []).append(file_digest(path.read_bytes()))
    with Store(store_path) as store:
        for name, keys in placed.items():
            store.set_override(keys, name)
    code, learned, _ = run_sort(capsys, *args)
    rest = {p: t for p, t in truth.items() if p not in list(ps.labels)[:16]}
    assert code == 0 and accuracy(learned, rest) >= 0.9
    code, again, _ = run_sort(capsys, *args, "--no-examples")
    assert code == 0 and accuracy(again, rest) < 0.5


def test_photos_of_missing_colours_stay_uncategorized(tiny_spec: str, tmp_path: Path, capsys):
    """Categories for red, green and blue only: yellow, purple and orange stay put."""
    folder = tmp_path / "photos"
    ps = make_photoset(folder, n=72, bad_files=False)
    cats = categories_file(tmp_path, {c: [c] for c in ("red", "green", "blue")})
    code, records, _ = run_sort(
        capsys, str(folder), "--categories", str(cats), "--model", tiny_spec,
        "--cache", str(tmp_path / "store.sqlite3"),
    )  # fmt: skip
    assert code == 0
    by_path = {Path(r["path"]): r["category"] for r in records}
    present = [p for p in ps.labels if ps.colour_of(p) in ("red", "green", "blue")]
    absent = [p for p in ps.labels if p not in present]
    assert sum(by_path[p] == ps.colour_of(p) for p in present) / len(present) >= 0.95
    assert sum(by_path[p] is None for p in absent) / len(absent) >= 0.8
