"""The category panel: counts, Uncategorized always there, edits re-score without images."""

from __future__ import annotations

from pathlib import Path

import pytest

from photosorter.core.categories import UNCATEGORIZED, Category, load_categories
from photosorter.gui import workers
from photosorter.gui.category_list import CountRole, KindRole
from photosorter.gui.category_panel import ALL_PHOTOS, NEEDS_REVIEW, CategoriesEdited
from tests.gui.conftest import start_and_wait


def names_in_panel(window) -> list[str]:
    view = window.category_panel.list
    return [view.item(i).text() for i in range(view.count())]


def test_panel_lists_all_categories_and_uncategorized(qtbot, make_window, photo_dir):
    window = make_window(photo_dir)
    fixed = [ALL_PHOTOS, NEEDS_REVIEW]
    assert names_in_panel(window) == [*fixed, "Red", "Green", "Blue", "Yellow", UNCATEGORIZED]
    start_and_wait(qtbot, window)
    view = window.category_panel.list
    assert view.item(0).data(KindRole) == "all"
    assert view.item(0).data(CountRole) == 16
    assert view.item(1).data(KindRole) == "review"
    assert sum(view.item(i).data(CountRole) for i in range(2, view.count())) == 16


def test_edits_rescore_from_memory_without_reading_images(
    qtbot, make_window, photo_dir, monkeypatch
):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session, panel = window.session, window.category_panel

    def no_images(*args, **kwargs):
        raise AssertionError("a category edit must not read or index images")

    monkeypatch.setattr(workers, "index_photos", no_images)
    monkeypatch.setattr("photosorter.core.library.pipeline.decode_photo", no_images)

    # Delete: instant (no new prompt), the category is gone, Uncategorized stays.
    panel.select("Yellow")
    panel.remove_category("Yellow")
    assert "Yellow" not in session.results.names
    assert names_in_panel(window)[-1] == UNCATEGORIZED
    assert sum(session.results.counts().values()) == 16

    # Add with a new prompt: the worker encodes it, then everything is re-placed.
    with qtbot.waitSignal(session.scoring_applied, timeout=30_000):
        panel.apply_edit(None, Category("Sunny", ("yellow", "sun")))
    assert session.results.names[-1] == "Sunny"
    assert sum(session.results.counts().values()) == 16
    assert names_in_panel(window)[-2:] == ["Sunny", UNCATEGORIZED]
    # The edit was saved to the categories file in use.
    saved = load_categories(session.categories_path)
    assert saved.names == ["Red", "Green", "Blue", "Sunny"]


def test_import_and_export(qtbot, make_window, tmp_path):
    window = make_window()
    panel = window.category_panel
    exported = tmp_path / "out.toml"
    panel.export_file(exported)
    assert load_categories(exported).names == window.session.categories.names
    other = tmp_path / "other.toml"
    other.write_text('[[category]]\nname = "Cats"\nprompts = ["cat"]\n', encoding="utf-8")
    panel.import_file(other)
    assert window.session.categories.names == ["Cats"]
    assert names_in_panel(window) == [ALL_PHOTOS, NEEDS_REVIEW, "Cats", UNCATEGORIZED]


def test_category_dialog_validates(qtbot):
    from photosorter.gui.dialogs import CategoryDialog

    dialog = CategoryDialog(None, taken=["Pets"])
    qtbot.addWidget(dialog)
    dialog.name.setText("pets")
    assert "already" in (dialog.problem() or "")
    dialog.name.setText(UNCATEGORIZED)
    assert "built in" in (dialog.problem() or "")
    dialog.name.setText("Dogs")
    dialog.prompts.setPlainText("dog\n\n  puppy  \n")
    assert dialog.problem() is None
    assert dialog.category() == Category("Dogs", ("dog", "puppy"))


@pytest.mark.parametrize("edit", ["rename", "delete"])
def test_pins_follow_renames_and_go_with_deletes(qtbot, make_window, photo_dir, edit):
    window = make_window(photo_dir)
    start_and_wait(qtbot, window)
    session = window.session
    key = next(k for k in session.results.keys if k)
    session.pin([key], "Red")
    cats = session.categories
    if edit == "rename":
        new = cats.with_categories(
            [Category("Crimson", c.prompts) if c.name == "Red" else c for c in cats.categories]
        )
        session.edit_categories(CategoriesEdited(new, renamed={"Red": "Crimson"}))
        assert session.store.overrides([key]) == {key: "Crimson"}
    else:
        new = cats.with_categories([c for c in cats.categories if c.name != "Red"])
        session.edit_categories(CategoriesEdited(new, removed=("Red",)))
        assert session.store.overrides([key]) == {}
    assert isinstance(session.categories_path, Path)


def test_edits_keep_the_users_file_as_they_wrote_it(qtbot, make_window, tmp_path):
    """Add, rename, delete and re-prompt in the panel: the --categories file (a symlink
    here) keeps its comments, layout and untouched categories byte for byte."""
    from tests.core.test_categories import HAND_WRITTEN, HAND_WRITTEN_EDITED

    real = tmp_path / "mine.toml"
    real.write_text(HAND_WRITTEN, encoding="utf-8")
    link = tmp_path / "categories.toml"
    link.symlink_to(real)
    window = make_window(categories=link)
    panel, session = window.category_panel, window.session
    notices = []
    session.notice.connect(notices.append)

    panel.apply_edit("Dogs", Category("Dogs", ("dog", "puppy", "hound")))
    panel.apply_edit("Blue", Category("Navy", ("Blue",)))
    panel.remove_category("Receipts")
    panel.apply_edit(None, Category("Cats", ("cat",)))

    assert notices == []
    assert link.is_symlink() and session.categories_path == link.absolute()
    assert real.read_text(encoding="utf-8") == HAND_WRITTEN_EDITED
    assert load_categories(link).names == ["Dogs", "Navy", "Beach", "Cats"]
    assert load_categories(link) == session.categories


def test_a_file_that_cannot_be_edited_is_left_alone_and_the_edit_saved_elsewhere(
    qtbot, make_window, colours_toml
):
    from photosorter.core import paths

    window = make_window()
    session, panel = window.session, window.category_panel
    notices = []
    session.notice.connect(notices.append)
    broken = "# the user is half-way through editing this by hand\n[[category]\n"
    colours_toml.write_text(broken, encoding="utf-8")
    panel.apply_edit(None, Category("Cats", ("cat",)))
    assert colours_toml.read_text(encoding="utf-8") == broken  # not overwritten
    elsewhere = paths.config_dir() / "categories.toml"
    assert load_categories(elsewhere).names == ["Red", "Green", "Blue", "Yellow", "Cats"]
    assert session.categories_path == elsewhere == session.settings.categories_file
    assert len(notices) == 1 and str(elsewhere) in notices[0].text
    assert str(colours_toml) in notices[0].text


def rows_shown(view) -> int:
    """How many rows of the list show whole."""
    bottoms = [view.visualItemRect(view.item(r)).bottom() for r in range(view.count())]
    return sum(1 for bottom in bottoms if bottom < view.viewport().height())


@pytest.mark.parametrize(("height", "rows"), [(400, 4), (480, 7)])
def test_the_drag_hint_gives_way_to_the_list_in_a_low_window(qtbot, make_window, height, rows):
    """At 400 px the hint (three lines) would leave the list two and a half rows."""
    window = make_window()
    window.resize(1000, height)
    window.show()
    qtbot.waitExposed(window)
    panel = window.category_panel
    qtbot.waitUntil(lambda: panel.hint.isHidden())
    assert rows_shown(panel.list) >= rows


def test_the_drag_hint_shows_in_a_tall_window(qtbot, make_window):
    window = make_window()
    window.resize(1000, 900)
    window.show()
    qtbot.waitExposed(window)
    panel = window.category_panel
    qtbot.waitUntil(lambda: panel.hint.isVisible())
    assert rows_shown(panel.list) == panel.list.count()
    window.resize(1000, 400)  # and back: it goes, then comes again
    qtbot.waitUntil(lambda: panel.hint.isHidden())
    window.resize(1000, 900)
    qtbot.waitUntil(lambda: panel.hint.isVisible())
