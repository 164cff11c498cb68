"""GUI test fixtures: small photo folders, a colours categories file, a window factory,
and a guard that fails any test leaving a worker thread running."""

from __future__ import annotations

import random
from argparse import Namespace
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from photosorter.gui.main_window import MainWindow
from photosorter.gui.workers import running_threads
from tests.fixtures.shapes import draw_shape

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle", "star")


def write_photos(folder: Path, n: int, seed: int = 7, size: int = 128) -> dict[Path, str]:
    """n shape pictures cycling through COLOURS; returns path -> colour."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for i in range(n):
        colour, shape = COLOURS[i % len(COLOURS)], SHAPES[(i // len(COLOURS)) % len(SHAPES)]
        path = folder / f"{colour}-{shape}-{i:03d}.jpg"
        draw_shape(shape, colour, rng, size).save(path, quality=90)
        labels[path] = colour
    return labels


@pytest.fixture
def gui_model(tiny_spec: str) -> str:
    """The tiny trained CLIP (tests/fixtures/tiny-clip), as a user would name it."""
    return tiny_spec


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photos(folder, 16)
    return folder


@pytest.fixture
def colours_toml(tmp_path: Path) -> Path:
    path = tmp_path / "colours.toml"
    path.write_text(
        "".join(f'[[category]]\nname = "{c.title()}"\nprompts = ["{c}"]\n\n' for c in COLOURS),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def make_window(qtbot, gui_model: str, colours_toml: Path) -> Iterator[Callable[..., MainWindow]]:
    """Build a window like `photosorter gui PATHS --categories F --model M` does."""
    from photosorter.gui.app import build_window, make_application

    made: list[MainWindow] = []

    def factory(*paths: Path, categories: Path | None = colours_toml, model: str | None = None):
        make_application()
        args = Namespace(
            paths=list(paths), categories=categories, model=model or gui_model,
            device="cpu", cache=None,
        )  # fmt: skip
        window = build_window(args)
        window.report_bug = _fail_on_bug
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield factory
    for window in made:
        window.shutdown()


def _fail_on_bug(message: str, details: str) -> None:
    raise AssertionError(f"the GUI reported a bug: {message}\n{details}")


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """Every test must stop what it started: no pool job, no worker QThread left."""
    yield
    pool = QThreadPool.globalInstance()
    pool.waitForDone(30_000)
    assert pool.activeThreadCount() == 0
    assert running_threads() == []


def start_and_wait(qtbot, window: MainWindow, timeout: int = 60_000):
    """Start sorting every source and wait for the run to end; returns JobFinished."""
    with qtbot.waitSignal(window.session.run_finished, timeout=timeout) as blocker:
        window.session.start_run()
    return blocker.args[0]
