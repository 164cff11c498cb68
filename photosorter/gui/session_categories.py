"""The session's categories: the set in use and its file (loaded at start, each edit saved
into it as the user wrote it), edits as undoable steps, and photos placed by hand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

from photosorter.core import paths
from photosorter.core.categories import (
    UNCATEGORIZED,
    CategorySet,
    load_categories,
    parse_categories,
)
from photosorter.core.errors import PhotoSorterError
from photosorter.core.settings import Settings
from photosorter.gui.category_panel import CategoriesEdited
from photosorter.gui.jobs import MatrixRequest
from photosorter.gui.notices import Notice
from photosorter.gui.scoring import derive_scoring
from photosorter.gui.texts import plural
from photosorter.gui.undo import Change, edit_name


@dataclass(frozen=True)
class Example:
    """An example photo of a category: placed there by the user (`key` set; `path` None
    when the photo is in no open folder) or listed in the categories file (`key` None: a
    photo or a folder of them)."""

    path: Path | None
    key: str | None = None

    @property
    def from_file(self) -> bool:
        return self.key is None


def default_categories() -> CategorySet:
    """The starter categories shipped with the app."""
    text = files("photosorter.resources").joinpath("default_categories.toml").read_text("utf-8")
    return parse_categories(text)


class SessionCategories:
    """The categories part of the Session (mixed into it): editing the categories, and
    placing photos by hand. Uses the session's store, results, undo stack and signals."""

    def edit_categories(self, edit: CategoriesEdited) -> None:
        """Apply an edit from the category panel, as one step on the undo stack."""
        before = self.categories
        renamed_back = {new: old for old, new in edit.renamed.items()}
        added = tuple(n for n in edit.categories.names if n not in (*before.names, *renamed_back))
        undo = CategoriesEdited(before, renamed_back, removed=added)
        pins = self.store.overrides()
        lost = {k: c for k, c in pins.items() if c in edit.removed}  # a deletion's undo: back
        text = edit_name(before, edit.categories, edit.renamed)
        self.undo_stack.push(Change(text, self._apply_edit, (undo, lost), (edit, {})))

    def _apply_edit(self, change: tuple[CategoriesEdited, dict[str, str | None]]) -> None:
        """Pins follow renames and removals (then `restore` is put back), save, re-score."""
        edit, restore = change
        pins = self.store.overrides()
        for old, new in edit.renamed.items():
            keys = [k for k, c in pins.items() if c == old]
            if keys:
                self.store.set_override(keys, new)
        for name in edit.removed:
            keys = [k for k, c in pins.items() if c == name]
            if keys:
                self.store.set_override(keys, None)
        self._store_pins(restore)
        self.results.overrides = self.store.overrides()
        self.set_categories(self._save_categories(edit.categories, edit.renamed))

    def set_categories(self, categories: CategorySet) -> None:
        self.categories = categories
        self.categories_changed.emit(categories)
        self._scoring_generation += 1
        scoring = self.results.scoring
        derived = derive_scoring(scoring, categories) if scoring else None
        if derived is not None:  # no new prompt or example file: instant
            self._apply_scoring(derived)
            return
        if scoring is None and not self._running:
            self._emit_counts()
            if not len(self.results):
                return
        self.worker.request_matrix(
            MatrixRequest(self._scoring_generation, categories, self.model_choice)
        )

    def _save_categories(self, categories: CategorySet, renamed: dict[str, str]) -> CategorySet:
        """Save an edit into the file in use, as the user wrote it (comments and layout stay);
        if that fails, into the config dir, saying where. Returns the set with its file."""
        fallback = paths.config_dir() / "categories.toml"
        path = self.categories_path or fallback
        problems: list[str] = []
        for target in dict.fromkeys([path, fallback]):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                categories.save(target, renamed)
            except (OSError, PhotoSorterError) as exc:
                problems.append(f"Could not save the categories to {target} ({exc})")
                continue
            if problems:
                self.notice.emit(Notice(f"{problems[0]}; saved them to {target} instead."))
            self.categories_path = target
            if self.settings.categories_file != target:
                self.update_settings(replace(self.settings, categories_file=target), False)
            return replace(categories, source=target)
        self.notice.emit(Notice(". ".join(problems) + "."))
        return categories

    def import_categories(self, path: Path) -> None:
        """Use the categories in `path` from now on (and remember that file)."""
        categories = load_categories(path)
        self.categories_path = path
        self.update_settings(replace(self.settings, categories_file=path), restart=False)
        self.set_categories(categories)

    def pin(self, keys: list[str], category: str) -> None:
        """Put photos in `category` by hand (UNCATEGORIZED included); kept across runs."""
        if category != UNCATEGORIZED and category not in self.categories.names:
            return
        text = plural("Undo", "Put %n photo(s) in {category}", len(keys))
        self._push_placement(text.format(category=category), keys, category)

    def unpin(self, keys: list[str]) -> None:
        """Let the model place these photos again (they are no longer examples)."""
        self._push_placement(plural("Undo", "Let the Model Place %n Photo(s)", len(keys)), keys)

    def _push_placement(self, text: str, keys: list[str], category: str | None = None) -> None:
        pins = self.store.overrides()
        before = {k: pins.get(k) for k in keys}
        after = dict.fromkeys(keys, category)
        if before != after:
            self.undo_stack.push(Change(text, self._placed_by_hand, before, after))

    def _store_pins(self, pins: dict[str, str | None]) -> None:
        """Save each photo's manual placement (None: the model's choice)."""
        for category in set(pins.values()):
            self.store.set_override([k for k, c in pins.items() if c == category], category)

    def _placed_by_hand(self, pins: dict[str, str | None]) -> None:
        """Manual placements changed the examples: learn again and re-place every photo."""
        self._store_pins(pins)
        for category in set(pins.values()):
            self.results.pin([k for k, c in pins.items() if c == category], category)
        if self.results.scoring is not None:
            self._apply_scoring(self.results.scoring)
        else:
            self.model.refresh()
            self._emit_counts()

    def examples_of(self, name: str) -> list[Example]:
        """The example photos of category `name`: the user's placements, then the file's."""
        scoring, res = self.results.scoring, self.results
        model_id = scoring.model_id if scoring else ""
        keys = [h for h, c, _v in self.store.override_embeddings(model_id) if c == name]
        row_of = {k: r for r, k in enumerate(res.keys) if k is not None}
        found = [Example(res.paths[row_of[k]] if k in row_of else None, k) for k in keys]
        category = self.categories.get(name)
        return found + [Example(p) for p in (category.examples if category else ())]


def load_initial_categories(
    given: Path | None, settings: Settings
) -> tuple[CategorySet, Path | None, list[str]]:
    """--categories FILE, else the last used file, else the shipped defaults."""
    warnings: list[str] = []
    if given is not None:
        return load_categories(given), Path(given).absolute(), warnings
    last = settings.categories_file
    if last is not None:
        try:
            return load_categories(last), last, warnings
        except PhotoSorterError as exc:
            warnings.append(f"{exc}. Using the starter categories instead.")
    return default_categories(), None, warnings
