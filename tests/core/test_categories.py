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
