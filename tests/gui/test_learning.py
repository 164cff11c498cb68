"""Learning from the user's corrections in the app: dragged photos become examples, the
rest re-sort at once from memory; example counts and removal; Needs review; sensitivity;
watched folders learn too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.categories import UNCATEGORIZED, load_categories
from photosorter.core.settings import SENSITIVITY_MIN_FIT, Settings, load_settings
from photosorter.gui import workers
from photosorter.gui.category_list import ExamplesRole, NameRole
from photosorter.gui.examples_dialog import ExamplesDialog
from photosorter.gui.photo_model import KeyRole, ManualRole, PathRole
from photosorter.gui.settings_dialog import SettingsDialog
from tests.gui.conftest import start_and_wait, write_photos
from tests.gui.test_reassign import drop_on_category, rows_of
from tests.gui.test_watching import configure, wait_watching

MADE_UP = "Zorblax"  # a name and prompt the model knows nothing about
YELLOW = ("yellow-circle", "yellow-square")


@pytest.fixture
def made_up(tmp_path: Path) -> tuple[Path, Path]:
    """32 photos (8 per colour) and categories Red, Green, Blue and a made-up one: the
    yellow photos fit none of them until the user shows which category they belong to."""
    folder = tmp_path / "photos"
    write_photos(folder, 32)
    toml = tmp_path / "made-up.toml"
    toml.write_text(
        "".join(f'[[category]]\nname = "{c}"\nprompts = ["{c.lower()}"]\n\n'
                for c in ("Red", "Green", "Blue", MADE_UP)),
        encoding="utf-8",
    )  # fmt: skip
    return folder, toml


def placement(session) -> dict[Path, str | None]:
    res = session.results
    return {res.paths[r]: res.category_of(r) for r in range(len(res))}


def no_images(*args, **kwargs):
    raise AssertionError("learning from a drag must not read or decode any image")


def example_count(window, name: str) -> int:
    view = window.category_panel.list
    item = next(view.item(i) for i in range(view.count()) if view.item(i).data(NameRole) == name)
    return item.data(ExamplesRole) or 0


def drag_yellow(window, n: int) -> set[Path]:
    """Drag `n` yellow circles and squares (the model has no word for them among the
    categories) from All photos onto the made-up category."""
    yellow = [i for i in rows_of(window, None) if i.data(PathRole).name.startswith(YELLOW)]
    picked = sorted(yellow, key=lambda i: i.data(PathRole).name)[:n]
    paths = {i.data(PathRole) for i in picked}  # before the drop re-sorts the view
    drop_on_category(window.category_panel, MADE_UP, window.session.model.mimeData(picked))
    return paths


def test_a_drag_teaches_the_category_and_the_rest_resort_without_reading_images(
    qtbot, make_window, made_up, monkeypatch
):
    folder, toml = made_up
    window = make_window(folder, categories=toml)
    start_and_wait(qtbot, window)
    session = window.session
    before = placement(session)
    assert example_count(window, MADE_UP) == 0
    monkeypatch.setattr(workers, "index_photos", no_images)
    monkeypatch.setattr("photosorter.core.library.pipeline.decode_photo", no_images)

    dragged = drag_yellow(window, 3)

    after = placement(session)
    followed = [p for p, c in after.items() if c == MADE_UP and before[p] != MADE_UP]
    followed = [p for p in followed if p not in dragged]
    assert followed, "no photo moved to the category its examples define"
    assert all(p.name.startswith("yellow") for p in followed)
    assert example_count(window, MADE_UP) == 3
    shown = {i.data(PathRole) for i in rows_of(window, MADE_UP)}
    assert set(followed) | dragged <= shown  # the grid shows the re-sort

    # The examples are listed (placed by you) and removing them re-sorts back.
    dialog = ExamplesDialog(window, session, MADE_UP)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 3 and set(dialog.selected_keys()) == set()
    dialog.list.selectAll()
    assert len(dialog.selected_keys()) == 3 and dialog.remove_button.isEnabled()
    dialog.remove_button.click()
    assert example_count(window, MADE_UP) == 0
    assert placement(session) == before
    assert dialog.list.count() == 1 and not dialog.selected_keys()  # "No examples yet."


def test_examples_from_the_categories_file_count_and_say_so(qtbot, make_window, made_up, tmp_path):
    folder, toml = made_up
    examples = tmp_path / "sunny"
    write_photos(examples, 12, seed=99)  # three yellow ones among them
    for path in examples.iterdir():
        if not path.name.startswith("yellow"):
            path.unlink()
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text + f'examples = ["{examples}"]\n', encoding="utf-8")  # the made-up one
    assert load_categories(toml).get(MADE_UP).examples == (examples,)
    window = make_window(folder, categories=toml)
    start_and_wait(qtbot, window)
    assert example_count(window, MADE_UP) == 3
    yellow = [c for p, c in placement(window.session).items() if p.name.startswith("yellow")]
    assert yellow.count(MADE_UP) >= len(yellow) // 2
    dialog = ExamplesDialog(window, window.session, MADE_UP)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 1
    assert "from the categories file" in dialog.list.item(0).text()
    dialog.list.selectAll()
    assert not dialog.remove_button.isEnabled()  # removed in the file, not here


def test_needs_review_is_least_sure_first_and_follows_drags(qtbot, make_window, made_up):
    folder, toml = made_up
    window = make_window(folder, categories=toml)
    start_and_wait(qtbot, window)
    session, model = window.session, window.session.model
    window.category_panel.select_review()
    assert model.review and window.heading.text() == "Needs review"

    def listed() -> list[int]:
        return [model.result_row(model.index(r)) for r in range(model.rowCount())]

    res = session.results
    rows = listed()
    placed = np.flatnonzero(res.category_index >= 0)
    assert sorted(rows) == sorted(placed.tolist())  # every photo the model sorted
    margins = res.margins[rows]
    assert np.all(np.diff(margins) >= 0) and margins[0] < margins[-1]

    # Drag the least sure one where it belongs: it leaves the list, which re-sorts.
    first = model.index(0)
    key, path = first.data(KeyRole), first.data(PathRole)
    target = "Red" if path.name.startswith("red") else MADE_UP
    drop_on_category(window.category_panel, target, model.mimeData([first]))
    assert model.review  # still the review view
    rows = listed()
    assert key not in {res.keys[r] for r in rows}
    assert not any(model.index(r).data(ManualRole) for r in range(model.rowCount()))
    assert np.all(np.diff(res.margins[rows]) >= 0)
    assert sorted(rows) == sorted(np.flatnonzero((res.category_index >= 0) & ~res.manual))


def test_sensitivity_rescores_persists_and_shows_the_files_rules(
    qtbot, make_window, made_up, tmp_path
):
    folder, toml = made_up
    window = make_window(folder, categories=toml)
    start_and_wait(qtbot, window)
    session = window.session
    loose = session.results.counts()[UNCATEGORIZED]
    session.update_settings(replace(session.settings, sensitivity="high"))
    assert session.results.scoring.min_fit == SENSITIVITY_MIN_FIT["high"]
    strict = session.results.counts()[UNCATEGORIZED]
    session.update_settings(replace(session.settings, sensitivity="low"))
    assert session.results.counts()[UNCATEGORIZED] <= loose <= strict
    assert load_settings()[0].sensitivity == "low"

    # The dialog: the categories file's own rules are shown as the file's.
    plain = SettingsDialog(None, Settings(), list_models=False, categories=session.categories)
    qtbot.addWidget(plain)
    assert plain.file_rules.isHidden()
    strict_file = replace(session.categories, threshold=0.3, margin=0.1)
    dialog = SettingsDialog(None, Settings(), list_models=False, categories=strict_file)
    qtbot.addWidget(dialog)
    assert not dialog.file_rules.isHidden()
    assert "30%" in dialog.file_rules.text() and "from the categories file" in (
        dialog.file_rules.text()
    )
    assert dialog.settings().sensitivity == "normal"


def test_an_earlier_minimum_confidence_is_kept_until_a_sensitivity_is_chosen(qtbot):
    old = Settings(threshold=0.4)  # as an older version saved it
    dialog = SettingsDialog(None, old, list_models=False)
    qtbot.addWidget(dialog)
    assert "40%" in dialog.sensitivity.currentText()
    assert dialog.settings().threshold == 0.4  # OK without a change keeps it
    dialog.sensitivity.setCurrentIndex(dialog.sensitivity.findData("high"))
    chosen = dialog.settings()
    assert (chosen.sensitivity, chosen.threshold) == ("high", 0.0)


def test_a_correction_teaches_the_watched_folder(qtbot, make_window, made_up, tmp_path):
    folder, toml = made_up
    inbox, dest = tmp_path / "inbox", tmp_path / "sorted"
    inbox.mkdir()
    window = make_window(folder, categories=toml)
    start_and_wait(qtbot, window)
    drag_yellow(window, 3)
    configure(window, action="copy", destination=dest)
    assert window.watching.set_watch(inbox, True)
    wait_watching(qtbot, window, inbox)

    arrived = write_photos(inbox, 8, seed=5)  # two of each colour
    yellow = [p.name for p, colour in arrived.items() if colour == "yellow"]
    qtbot.waitUntil(
        lambda: all((dest / MADE_UP / name).is_file() for name in yellow), timeout=60_000
    )
    qtbot.waitUntil(lambda: not window.file_actions.busy, timeout=60_000)
