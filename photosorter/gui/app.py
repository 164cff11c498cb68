"""Start the desktop app: QApplication, settings, session, main window, error handling.

Nothing here imports torch: the window shows first, and the model loads on the worker
thread when the first job needs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTimer, QTranslator
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox

from photosorter import desktop
from photosorter.core.errors import PhotoSorterError
from photosorter.core.files.fileops import recover_interrupted
from photosorter.core.library.cache import Store
from photosorter.core.library.scanner import check_roots
from photosorter.core.settings import Overrides, load_settings
from photosorter.gui.main_window import MainWindow
from photosorter.gui.notices import Notice
from photosorter.gui.session import Session
from photosorter.gui.session_categories import load_initial_categories
from photosorter.gui.widgets import show_crash_dialog

log = logging.getLogger(__name__)

APP_NAME = "PhotoSorter"
DESKTOP_FILE_NAME = "io.github.photosorter.PhotoSorter"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
TRANSLATIONS = "photosorter"  # resources/translations/photosorter_<locale>.qm


def app_icon() -> QIcon:
    """The app icon from the packaged PNGs (every size, so each place picks a sharp one)."""
    icon = QIcon()
    folder = files("photosorter.resources").joinpath("icons")
    for size in ICON_SIZES:
        data = folder.joinpath(f"photosorter-{size}.png").read_bytes()
        pixmap = QPixmap()
        if pixmap.loadFromData(data, "PNG"):
            icon.addPixmap(pixmap)
    return icon


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused when one exists, as under pytest-qt), named and iconed."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(app_icon())
    return app


def install_translators(
    app: QCoreApplication, locale: QLocale | None = None, folder: Path | None = None
) -> list[QTranslator]:
    """Load Qt's own (qtbase) and PhotoSorter's translations for `locale` (default: the
    system's), where a `.qm` for it exists; English, the source language, needs none.
    `folder` holds PhotoSorter's `.qm` files (default: resources/translations, none yet:
    pyside6-lupdate photosorter/gui/*.py -ts photosorter_de.ts, then pyside6-lrelease)."""
    locale = locale or QLocale.system()
    own = folder or Path(str(files("photosorter.resources").joinpath("translations")))
    qt = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    loaded = []
    for name, where in (("qtbase", qt), (TRANSLATIONS, str(own))):
        translator = QTranslator(app)  # the app keeps it alive
        if translator.load(locale, name, "_", where) and app.installTranslator(translator):
            loaded.append(translator)
    return loaded


def build_window(args: argparse.Namespace) -> MainWindow:
    """Settings + categories + store + session + window for these command-line options."""
    settings, warnings = load_settings()
    given = [Path(p) for p in getattr(args, "paths", None) or []]
    extra = check_roots(given) if given else []  # a wrong path is a usage error: say so now
    categories, categories_path, more = load_initial_categories(
        getattr(args, "categories", None), settings
    )
    warnings += more
    store = Store(getattr(args, "cache", None))
    saved = {s.path for s in settings.sources}
    session = Session(
        settings,
        store,
        categories,
        categories_path,
        overrides=Overrides.from_options(
            getattr(args, "model", None),
            getattr(args, "device", None),
            getattr(args, "backend", None),
        ),
        extra_sources=[p for p in extra if p not in saved],
    )
    window = MainWindow(session)
    if categories_path is not None and settings.categories_file != categories_path:
        session.update_settings(replace(settings, categories_file=categories_path), False)
    recovered = recover_interrupted(store)  # a crash mid-move: finish or roll back first
    if recovered:
        text = QCoreApplication.translate("App", "An interrupted file operation was completed: {0}")
        warnings.append(text.format("; ".join(recovered)))
    for text in warnings:
        window.message_bar.show_notice(Notice(text, "warning"))
    return window


def repoint_desktop_entry() -> None:
    """A bundle started from a new folder keeps its menu entry (and "Open with") working."""
    try:
        moved = desktop.repoint_entry()
    except OSError as exc:  # a read-only data folder: the menu entry stays as it was
        log.warning("could not update the desktop entry: %s", exc)
        return
    if moved is not None:
        log.info("desktop entry %s now starts %s", moved, desktop.launch_command())


def install_excepthook(window: MainWindow | None) -> None:
    """Uncaught exceptions: user-fixable ones as a plain message, bugs with the traceback."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        if isinstance(exc, PhotoSorterError):
            QMessageBox.warning(window, APP_NAME, str(exc))
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(details)
        show_crash_dialog(window, f"{kind.__name__}: {exc}", details)

    sys.excepthook = hook


def run_app(args: argparse.Namespace) -> int:
    """`photosorter gui [PATH...]`: show the window, then start sorting."""
    app = make_application()
    install_translators(app)
    repoint_desktop_entry()
    try:
        window = build_window(args)
    except PhotoSorterError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 2
    install_excepthook(window)
    window.show()
    QTimer.singleShot(0, window.session.start_run)  # after the first paint
    code = app.exec()
    if not window.shutdown(timeout_ms=5_000):
        # A model download cannot be interrupted; do not make the user wait for it.
        log.warning("background work still running at exit; leaving without waiting")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
