"""Categories described in plain words, loaded from and saved to TOML.

A category is a name plus one or more prompts. Each prompt is expanded with a small
ensemble of photo templates; the text embeddings are averaged and normalised, as in
open_clip's zero-shot classifier.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import tomli_w
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Item

from photosorter.core.errors import ConfigError
from photosorter.core.userfiles import open_regular, temp_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Chosen for accuracy per cost: every template multiplies the text-tower work (~50 ms per
# prompt for ViT-B-32 on a laptop CPU), and beyond a handful the gain is marginal.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of {}.",
    "a photo of a {}.",
    "a close-up photo of {}.",
    "a picture of {}.",
)

UNCATEGORIZED = "Uncategorized"

_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}  # fmt: skip
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")  # never valid in a name (nor in XMP keywords)


@dataclass(frozen=True)
class Category:
    """One category: a display name, the prompts that describe it, and example photos."""

    name: str
    prompts: tuple[str, ...]
    folder: str | None = None  # folder name override; sanitised before use
    examples: tuple[Path, ...] = ()  # example photos or folders of them (absolute)
    line: int | None = field(default=None, compare=False)  # of its [[category]] header

    @property
    def folder_name(self) -> str:
        """The safe folder name this category's photos go to."""
        return sanitize_folder_name(self.folder or self.name)


@dataclass(frozen=True)
class CategorySet:
    """An ordered set of categories plus the scoring options that go with them."""

    categories: tuple[Category, ...]
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    threshold: float = 0.0  # scores below this go to Uncategorized
    margin: float = 0.0  # best minus second-best below this goes to Uncategorized
    source: Path | None = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def folders(self) -> dict[str, str]:
        """Category name -> the folder its photos go to (the `folder` key, or the name)."""
        return {c.name: c.folder_name for c in self.categories}

    def get(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def expanded_prompts(self, category: Category) -> list[str]:
        """Every text the model encodes for `category` (prompts x templates)."""
        return [t.format(p) for p in category.prompts for t in self.templates]

    def with_categories(self, categories: Iterable[Category]) -> CategorySet:
        cats = tuple(categories)
        _check_unique([c.name for c in cats], self.source)
        return replace(self, categories=cats)

    def to_toml(self) -> str:
        data: dict = {}
        if self.templates != DEFAULT_TEMPLATES:
            data["templates"] = list(self.templates)
        if self.threshold:
            data["threshold"] = self.threshold
        if self.margin:
            data["margin"] = self.margin
        data["category"] = [
            {
                "name": c.name,
                "prompts": list(c.prompts),
                **({"folder": c.folder} if c.folder else {}),
                **({"examples": [str(p) for p in c.examples]} if c.examples else {}),
            }
            for c in self.categories
        ]
        return tomli_w.dumps(data)

    def save(self, path: Path | str, renamed: Mapping[str, str] | None = None) -> None:
        """Write to `path`, editing an existing file in place: its comments, order, layout and
        every untouched category keep their exact text. `renamed` (old -> new name) lets a
        renamed category keep its table. Atomic; a symlink is written through to its target."""
        target = _real_path(path)
        old = _read_existing(target)
        text = self.to_toml() if old is None else _edit_toml(old, self, renamed or {}, target)
        _write_atomic(target, text)

    def export(self, path: Path | str) -> None:
        """Write a fresh file at `path`, replacing what is there (a "Save As")."""
        _write_atomic(_real_path(path), self.to_toml())


def sanitize_folder_name(name: str) -> str:
    """Turn a category name into a single safe path component on every OS."""
    text = unicodedata.normalize("NFC", name)
    text = _UNSAFE_CHARS.sub("_", text)
    text = text.strip().strip(".").strip()
    if not text or set(text) <= {"_", " ", "."}:
        text = "_"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"_{text}"
    return text[:120]


def load_categories(path: Path | str) -> CategorySet:
    """Load a categories TOML file; errors name the file, line and problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: categories file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read categories file: {exc}") from None
    return parse_categories(text, source=path)


def parse_categories(text: str, source: Path | None = None) -> CategorySet:
    where = str(source) if source else "<categories>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None

    headers = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "[[category]]"]

    def fail(index: int | None, problem: str) -> ConfigError:
        line = headers[index] if index is not None and index < len(headers) else None
        return ConfigError(f"{where}{f', line {line}' if line else ''}: {problem}")

    known = {"category", "templates", "threshold", "margin"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise fail(
            None, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}"
        )
    raw = data.get("category")
    if not isinstance(raw, list) or not raw:
        raise fail(None, "no categories: add at least one [[category]] with name and prompts")

    cats: list[Category] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise fail(i, "each category must be a [[category]] table")
        extra = sorted(set(entry) - {"name", "prompts", "folder", "examples"})
        if extra:
            raise fail(i, f"unknown key(s) {', '.join(extra)} in category")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(i, "category needs a non-empty 'name' string")
        if _CONTROL_CHARS.search(name.strip()):
            raise fail(i, f"category {name!r}: the name has a control character; remove it")
        examples = _examples(entry.get("examples", []), source, partial(fail, i))
        prompts = entry.get("prompts", [] if examples else [name])
        if isinstance(prompts, str):
            prompts = [prompts]
        if (
            not isinstance(prompts, list)
            or not (prompts or examples)
            or not all(isinstance(p, str) and p.strip() for p in prompts)
        ):
            raise fail(i, f"category {name!r}: 'prompts' must be a list of non-empty strings")
        folder = entry.get("folder")
        if folder is not None and (not isinstance(folder, str) or not folder.strip()):
            raise fail(i, f"category {name!r}: 'folder' must be a non-empty string")
        if name.strip() == UNCATEGORIZED:
            raise fail(i, f"{UNCATEGORIZED!r} is built in; choose another category name")
        line = headers[i] if i < len(headers) else None
        prompts = tuple(p.strip() for p in prompts)
        cats.append(Category(name.strip(), prompts, folder, examples, line))
    _check_unique([c.name for c in cats], source)

    templates = data.get("templates", list(DEFAULT_TEMPLATES))
    if (
        not isinstance(templates, list)
        or not templates
        or not all(isinstance(t, str) and t.count("{}") == 1 for t in templates)
    ):
        raise fail(None, "'templates' must be a list of strings that each contain {} once")
    numbers = {}
    for key in ("threshold", "margin"):
        value = data.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise fail(None, f"'{key}' must be a number between 0 and 1")
        numbers[key] = float(value)
    return CategorySet(tuple(cats), tuple(templates), source=source, **numbers)


def _examples(
    raw: object, source: Path | None, fail: Callable[[str], ConfigError]
) -> tuple[Path, ...]:
    """Example photo paths (files or folders), relative to the categories file; all must exist."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise fail("'examples' must be a list of photo or folder paths")
    base = source.parent if source else Path.cwd()
    paths = tuple(base / Path(p.strip()).expanduser() for p in raw)
    for text, path in zip(raw, paths, strict=True):
        if not path.exists():
            raise fail(f"example {text!r} not found (looked for {path})")
    return paths


def _check_unique(names: list[str], source: Path | None) -> None:
    where = source or "<categories>"
    seen: set[str] = set()
    folders: dict[str, str] = {}
    for name in names:
        if name in seen:
            raise ConfigError(f"{where}: category {name!r} appears twice")
        seen.add(name)
        # "a/b" and "a_b", or "Cats" and "cats" on a case-insensitive disk, share a folder.
        folder = sanitize_folder_name(name).casefold()
        if folder in folders:
            raise ConfigError(
                f"{where}: categories {folders[folder]!r} and {name!r} would share one folder; "
                "rename one of them"
            )
        folders[folder] = name


# -- saving: edit the user's file in place -------------------------------------------------
def _real_path(path: Path | str) -> Path:
    """Where the bytes live: a symlinked file is edited at its target, the link stays."""
    return Path(os.path.realpath(path))


def _read_existing(path: Path) -> str | None:
    """The current text of `path` (None if there is none); never blocks on a FIFO."""
    try:
        with open_regular(path) as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text, so it is left as it is ({exc})") from None


def _write_atomic(path: Path, text: str) -> None:
    """A temporary file beside `path`, flushed, with the old file's mode, renamed over it."""
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: 0o666 less the umask, as any editor would make it
    temp = temp_name(path)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _plain(value: Any) -> Any:
    return value.unwrap() if isinstance(value, Item) else value


def _edit_toml(text: str, cats: CategorySet, renamed: Mapping[str, str], where: Path) -> str:
    """`text` changed only where it differs from `cats` (tomlkit keeps everything else)."""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{where}: not valid TOML, so it is left as it is ({exc})") from None
    options = (
        ("templates", list(cats.templates), list(DEFAULT_TEMPLATES)),
        ("threshold", cats.threshold, 0.0),
        ("margin", cats.margin, 0.0),
    )
    for key, value, default in options:
        if _plain(doc.get(key, default)) != value:
            doc[key] = value
    entries = doc.get("category")
    if not isinstance(entries, list):
        entries = doc["category"] = tomlkit.aot()
    _edit_entries(entries, cats.categories, renamed)
    return tomlkit.dumps(doc)


def _edit_entries(
    entries: list, categories: Sequence[Category], renamed: Mapping[str, str]
) -> None:
    """Make the [[category]] tables match `categories`: untouched tables stay as they are,
    a renamed one keeps its place, removed ones go, new ones are appended."""
    was_named = {new: old for old, new in renamed.items()}
    by_name = {str(_plain(e.get("name", ""))).strip(): e for e in entries}
    wanted = []
    for cat in categories:
        entry = by_name.pop(was_named.get(cat.name, cat.name), None)
        if entry is None:
            entry = _new_entry(entries)
        _edit_entry(entry, cat)
        wanted.append(entry)
    for i in reversed(range(len(entries))):
        if not any(entries[i] is w for w in wanted):
            del entries[i]
    reordered = any(a is not b for a, b in zip(entries, wanted, strict=False))
    if reordered:  # lay them out anew, in the new order
        del entries[:]
    for entry in wanted[len(entries) :]:
        entries.append(entry)


def _new_entry(entries: list) -> Any:
    if not isinstance(entries, AoT):  # category = [{...}, ...] written inline
        return tomlkit.inline_table()
    table = tomlkit.table()
    if len(entries) and not entries[-1].as_string().endswith("\n\n"):
        table.trivia.indent = "\n"  # a blank line before its [[category]] header
    return table


def _edit_entry(entry: Any, cat: Category) -> None:
    """Change only the keys of one table whose value (as loaded) differs from `cat`."""
    if str(_plain(entry.get("name", ""))).strip() != cat.name:
        entry["name"] = cat.name
    prompts = _plain(entry.get("prompts", [cat.name]))  # the loader's default: the name
    if isinstance(prompts, str):
        prompts = [prompts]
    if tuple(str(p).strip() for p in prompts) != cat.prompts:
        old = entry.get("prompts")
        if not (isinstance(old, Array) and _edit_array(old, cat.prompts)):
            entry["prompts"] = list(cat.prompts)
    if cat.folder is None:
        entry.pop("folder", None)
    elif _plain(entry.get("folder")) != cat.folder:
        entry["folder"] = cat.folder


def _edit_array(array: Array, values: Sequence[str]) -> bool:
    """Edit `array` into `values` in place (kept items keep their comments and lines);
    False, untouched, if that would need a reorder."""
    current = [str(v).strip() for v in array]
    kept = [v for v in current if v in values]
    if kept != [v for v in values if v in kept] or len(set(kept)) != len(kept):
        return False
    for i in reversed(range(len(current))):
        if current[i] not in values:
            del array[i]
    for i, value in enumerate(values):
        if i >= len(array) or str(array[i]).strip() != value:
            array.insert(i, value)
    return True
