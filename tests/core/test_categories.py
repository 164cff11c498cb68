from pathlib import Path

import pytest

from photosorter.core.categories import (
    DEFAULT_TEMPLATES,
    Category,
    CategorySet,
    load_categories,
    parse_categories,
    sanitize_folder_name,
)
from photosorter.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cats.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_minimal_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[category]]\nname = "Red things"\nprompts = ["red circle", "a red square"]\n'
        '[[category]]\nname = "Blue"\n',
    )
    cats = load_categories(path)
    assert cats.names == ["Red things", "Blue"]
    assert cats.categories[0].prompts == ("red circle", "a red square")
    assert cats.categories[1].prompts == ("Blue",)  # the name is the prompt by default
    assert cats.templates == DEFAULT_TEMPLATES
    assert cats.expanded_prompts(cats.categories[1])[0] == "a photo of Blue."


def test_round_trip(tmp_path: Path) -> None:
    cats = CategorySet(
        (Category("Dogs", ("dog", "puppy")), Category("Docs", ("receipt",), folder="Papers")),
        threshold=0.4,
    )
    path = tmp_path / "out.toml"
    cats.save(path)
    again = load_categories(path)
    assert again == cats


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[category]\nname='x'", "invalid TOML"),
        ("[[category]]\nprompts = ['a']\n", "line 1: category needs a non-empty 'name'"),
        ("[[category]]\nname='a'\n\n[[category]]\nname='b'\nprompts=[1]\n", "line 4"),
        ("[[category]]\nname='a'\n[[category]]\nname='a'\n", "appears twice"),
        ("threshold = 3\n[[category]]\nname='a'\n", "'threshold' must be"),
        ("colour = 1\n[[category]]\nname='a'\n", "unknown key(s) colour"),
        ("", "no categories"),
        ("templates = ['no placeholder']\n[[category]]\nname='a'\n", "'templates'"),
        ("[[category]]\nname='Uncategorized'\n", "built in"),
        ("[[category]]\nname='a/b'\n[[category]]\nname='A_b'\n", "share one folder"),
    ],
)
def test_bad_files_name_file_line_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_categories(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_categories(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Red things", "Red things"),
        ("../../etc", "_.._etc"),
        ("a/b\\c", "a_b_c"),
        ("CON", "_CON"),
        ("lpt1.txt", "_lpt1.txt"),
        ("..", "_"),
        ("  ", "_"),
        ("tab\there", "tab_here"),
        ("Café ☕", "Café ☕"),
    ],
)
def test_sanitize_folder_name(name: str, expected: str) -> None:
    safe = sanitize_folder_name(name)
    assert safe == expected
    assert "/" not in safe and "\\" not in safe and safe not in {".", ".."}


def test_parse_accepts_single_string_prompt() -> None:
    cats = parse_categories('[[category]]\nname = "Dogs"\nprompts = "a dog"\n')
    assert cats.categories[0].prompts == ("a dog",)


@pytest.mark.parametrize("escaped", ["\\u0000", "\\u0007", "\\u001b", "\\t", "\\n"])
def test_control_characters_in_a_name_are_refused_with_file_and_line(
    tmp_path: Path, escaped: str
) -> None:
    """They would be written into XMP keywords that no XML parser accepts."""
    path = write(tmp_path, f'[[category]]\nname = "ok"\n\n[[category]]\nname = "bad{escaped}x"\n')
    with pytest.raises(ConfigError, match="control character") as err:
        load_categories(path)
    assert f"{path}, line 4" in str(err.value)
    trimmed = write(tmp_path, '[[category]]\nname = "\\tdogs\\n"\n')  # only around it: trimmed
    assert load_categories(trimmed).names == ["dogs"]


HAND_WRITTEN = """\
# My categories, hand-written: keep my notes!
threshold   =   0.0   # explicit default, odd spacing

# --- animals ---
[[category]]
name = "Dogs"   # the good ones
prompts = [
    "dog",      # plain
    "puppy",
]

# paperwork below
[[category]]
  name='Receipts'
  prompts = "receipt"
  folder = "Paper"

[[category]]
name = "Blue"   # no prompts: the name is the prompt

[[category]]
name = 'Beach'
prompts = ['sand', 'sea']  # summer
# end of file
"""

HAND_WRITTEN_EDITED = """\
# My categories, hand-written: keep my notes!
threshold   =   0.0   # explicit default, odd spacing

# --- animals ---
[[category]]
name = "Dogs"   # the good ones
prompts = [
    "dog",      # plain
    "puppy",
    "hound",
]

# paperwork below
[[category]]
name = "Navy"   # no prompts: the name is the prompt
prompts = ["Blue"]

[[category]]
name = 'Beach'
prompts = ['sand', 'sea']  # summer
# end of file

[[category]]
name = "Cats"
prompts = ["cat"]
"""


def edit_hand_written(cats: CategorySet) -> CategorySet:
    """Add Cats, rename Blue to Navy, delete Receipts, give Dogs another prompt."""
    out = []
    for cat in cats.categories:
        if cat.name == "Dogs":
            out.append(Category("Dogs", (*cat.prompts, "hound")))
        elif cat.name == "Blue":
            out.append(Category("Navy", cat.prompts))
        elif cat.name != "Receipts":
            out.append(cat)
    return cats.with_categories([*out, Category("Cats", ("cat",))])


def test_save_edits_the_users_file_in_place(tmp_path: Path) -> None:
    path = write(tmp_path, HAND_WRITTEN)
    edited = edit_hand_written(load_categories(path))
    edited.save(path, renamed={"Blue": "Navy"})
    assert path.read_text(encoding="utf-8") == HAND_WRITTEN_EDITED  # every other byte stays
    assert load_categories(path) == edited
    edited.save(path)  # nothing changed: nothing rewritten
    assert path.read_text(encoding="utf-8") == HAND_WRITTEN_EDITED


def test_save_keeps_keys_it_does_not_know(tmp_path: Path) -> None:
    text = 'note = "mine"  # keep\n\n[[category]]\nname = "A"\nicon = "dog.svg"\n'
    path = write(tmp_path, text)
    CategorySet((Category("A", ("a",)), Category("B", ("b",)))).save(path)
    assert path.read_text(encoding="utf-8") == (
        'note = "mine"  # keep\n\n[[category]]\nname = "A"\nicon = "dog.svg"\n'
        'prompts = ["a"]\n\n[[category]]\nname = "B"\nprompts = ["b"]\n'
    )


def test_save_writes_through_a_symlink_and_keeps_the_mode(tmp_path: Path) -> None:
    real = write(tmp_path, HAND_WRITTEN)
    real.chmod(0o640)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    edit_hand_written(load_categories(link)).save(link, renamed={"Blue": "Navy"})
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text(encoding="utf-8") == HAND_WRITTEN_EDITED
    assert real.stat().st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cats.toml", "link.toml"]


def test_a_failed_save_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    path = write(tmp_path, HAND_WRITTEN)
    edited = edit_hand_written(load_categories(path))

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        edited.save(path)
    assert path.read_text(encoding="utf-8") == HAND_WRITTEN
    assert [p.name for p in tmp_path.iterdir()] == ["cats.toml"]  # no temporary file left


def test_save_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    import os
    import stat

    fifo = tmp_path / "cats.toml"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        CategorySet((Category("A", ("a",)),)).save(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
