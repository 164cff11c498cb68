"""The main window: menus, toolbar, layout, and wiring between widgets and the session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from photosorter.core import paths
from photosorter.core.categories import CategorySet
from photosorter.core.library.formats import is_supported
from photosorter.gui import icons
from photosorter.gui.category_list import PhotosDropped
from photosorter.gui.category_panel import CategoryPanel, CategorySelected
from photosorter.gui.duplicates import DuplicatesDialog
from photosorter.gui.examples_dialog import ExamplesDialog
from photosorter.gui.grid_actions import GridActions
from photosorter.gui.grid_controls import GridControls
from photosorter.gui.grid_heading import GridHeading
from photosorter.gui.notices import Notice
from photosorter.gui.operations import FileActions, OperationDone
from photosorter.gui.photo_model import PHOTO_KEYS_MIME
from photosorter.gui.photo_view import PhotoGridView
from photosorter.gui.search import Search
from photosorter.gui.session import BusyState, Counts, Session
from photosorter.gui.settings_dialog import SettingsDialog
from photosorter.gui.sources_panel import FolderChosen, SourceRemoved, SourcesPanel, WatchToggled
from photosorter.gui.texts import plural
from photosorter.gui.undo import FileOperation
from photosorter.gui.watching import Watching
from photosorter.gui.widgets import (
    BusyIndicator,
    MessageBar,
    ProblemsDock,
    WatchStatus,
    resize_within_screen,
    show_about,
    show_crash_dialog,
)
from photosorter.gui.workers import JobFailed, JobFinished

TITLE = "PhotoSorter"
SMALL_WINDOW_HEIGHT = 700  # below this, the Problems panel starts as a one-line summary


def dropped_paths(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[Path]:
    """Local folders and image files in a drop from the file manager (not our own drags)."""
    mime = event.mimeData()
    if mime.hasFormat(PHOTO_KEYS_MIME) or not mime.hasUrls():
        return []
    found = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
    return [p for p in found if p.is_dir() or (p.is_file() and is_supported(p))]


class MainWindow(QMainWindow):
    """Sources and categories on the left, the grid in the middle, problems below."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.file_actions = FileActions(session, self)
        self.watching = Watching(session, self.file_actions)
        self.report_bug: Callable[[str, str], None] = self._show_bug
        self.duplicates: DuplicatesDialog | None = None
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        resize_within_screen(self, 1280, 800)
        self._make_actions()
        self._make_layout()
        self._make_menus()
        self._connect()
        self._restore_geometry()
        self.category_panel.set_categories(session.categories, {}, 0)
        self._on_sources()
        self.watch_status.set_state(self.watching.state())
        self._on_category_selected(CategorySelected(None))

    # -- construction ------------------------------------------------------------------------
    def _action(
        self, text: str, slot: Callable, shortcut: QKeySequence | str | None = None,
        icon_name: str | None = None, tip: str = "",
    ) -> QAction:  # fmt: skip
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon_name is not None:
            action.setIcon(icons.icon(icon_name))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _make_actions(self) -> None:
        tr = self.tr
        self.add_folder_action = self._action(
            tr("Add Folder…"), self.choose_folder, QKeySequence.StandardKey.Open, "add-folder",
            tr("Add a folder of photos to sort"),
        )  # fmt: skip
        self.add_photos_action = self._action(tr("Add Photos…"), self.choose_photos)
        self.rescan_action = self._action(
            tr("Sort Again"), self.session.start_run, QKeySequence.StandardKey.Refresh,
            "refresh", tr("Look for new photos and sort everything again"),
        )  # fmt: skip
        self.quit_action = self._action(tr("Quit"), self.close, QKeySequence.StandardKey.Quit)
        stack = self.session.undo_stack
        self.undo_action = self._action(
            self.tr("Undo"), stack.undo, QKeySequence.StandardKey.Undo, "undo"
        )
        self.redo_action = self._action(self.tr("Redo"), stack.redo, QKeySequence.StandardKey.Redo)
        self.undo_file_action = self._action(
            self.tr("Undo Last File Operation"), self.file_actions.undo, None, None,
            self.tr("Put the files of the last move, copy or tag back, whoever made it"),
        )  # fmt: skip
        self.settings_action = self._action(
            tr("Settings…"), self.open_settings, QKeySequence.StandardKey.Preferences,
            "settings", tr("Model, device, destination folder"),
        )  # fmt: skip
        self.move_action = self._action(
            tr("Move to Category Folders…"), lambda: self.file_actions.run_action("move"), None,
            "move", tr("Move every sorted photo into a folder per category"),
        )  # fmt: skip
        self.copy_action = self._action(
            tr("Copy to Category Folders…"), lambda: self.file_actions.run_action("copy"), None,
            "copy", tr("Copy every sorted photo into a folder per category"),
        )  # fmt: skip
        self.tag_action = self._action(
            tr("Write Tags…"), lambda: self.file_actions.run_action("tag"), None,
            "tag",
            tr("Write each photo's category as an XMP keyword (digiKam, Lightroom, darktable)"),
        )  # fmt: skip
        self.duplicates_action = self._action(
            tr("Duplicates…"), self.show_duplicates, None, None,
            tr("Groups of photos that are the same picture; keep the best of each"),
        )  # fmt: skip
        self.move_action.setIconText(tr("Move to Folders"))
        self.copy_action.setIconText(tr("Copy to Folders"))
        self.tag_action.setIconText(tr("Write Tags"))
        self.add_folder_action.setIconText(tr("Add Folder"))
        self.undo_action.setIconText(tr("Undo"))

    def _make_layout(self) -> None:
        self.grid = PhotoGridView(self)
        self.grid.setModel(self.session.model)
        self.session.thumbnails.thumbnail_ready.connect(self.grid.thumbnail_arrived)
        self.grid_actions = GridActions(self.session, self.grid, self)
        self.grid_controls = GridControls(self.session, self.grid, self)
        self.search = Search(self.session, self)
        self.message_bar = MessageBar(self)
        self.grid_heading = GridHeading(self.session, self.grid, self.search, self.grid_controls)
        self.heading, self.subheading = self.grid_heading.heading, self.grid_heading.subheading
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.grid_heading)
        bar_row = QHBoxLayout()
        bar_row.setContentsMargins(12, 0, 12, 0)
        bar_row.addWidget(self.message_bar)
        column.addLayout(bar_row)
        column.addWidget(self.grid, 1)

        self.sources_panel = SourcesPanel(self.add_folder_action)
        self.category_panel = CategoryPanel()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.sources_panel)
        left.addWidget(self.category_panel)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 3)
        left.setSizes([170, 530])  # the folders list shows "All folders" and three folders
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 1020])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.problems = ProblemsDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.problems)
        self.problems.hide()
        self.busy = BusyIndicator(self)
        self.summary = QLabel()
        self.watch_status = WatchStatus(self)
        self.statusBar().addWidget(self.summary, 1)
        self.statusBar().addPermanentWidget(self.watch_status)
        self.statusBar().addPermanentWidget(self.busy)

        toolbar = QToolBar(self.tr("Main"), self)
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.add_folder_action)
        toolbar.addAction(self.rescan_action)
        toolbar.addSeparator()
        toolbar.addAction(self.move_action)
        toolbar.addAction(self.copy_action)
        toolbar.addAction(self.tag_action)
        toolbar.addAction(self.undo_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.search.field)
        toolbar.addAction(self.settings_action)
        self.addToolBar(toolbar)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        tr = self.tr
        file_menu = bar.addMenu(tr("&File"))
        file_menu.addActions([self.add_folder_action, self.add_photos_action])
        file_menu.addAction(self.sources_panel.watch_action)
        file_menu.addAction(self.sources_panel.remove_action)
        file_menu.addSeparator()
        file_menu.addAction(self.rescan_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu(tr("&Edit"))
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addAction(
            self._action(tr("Select All"), self.grid.selectAll, QKeySequence.StandardKey.SelectAll)
        )
        edit_menu.addSeparator()
        edit_menu.addActions([self.search.focus_action, self.search.clear_action])
        edit_menu.addSeparator()
        edit_menu.addAction(self.settings_action)
        view_menu = bar.addMenu(tr("&View"))
        view_menu.addActions(self.grid_controls.actions)
        view_menu.addSeparator()
        view_menu.addAction(self.duplicates_action)
        view_menu.addSeparator()
        view_menu.addAction(self.problems.toggleViewAction())
        panel = self.category_panel
        cat_menu = bar.addMenu(tr("&Categories"))
        cat_menu.addActions([panel.add_action, panel.edit_action, panel.delete_action])
        cat_menu.addAction(panel.examples_action)
        cat_menu.addSeparator()
        cat_menu.addActions([panel.import_action, panel.export_action])
        photo_menu = bar.addMenu(tr("&Photos"))
        photo_menu.addActions(self.grid_actions.photo_actions)
        photo_menu.addSeparator()
        photo_menu.addActions([self.move_action, self.copy_action, self.tag_action])
        photo_menu.addAction(self.undo_file_action)
        help_menu = bar.addMenu(tr("&Help"))
        help_menu.addAction(self._action(tr("About PhotoSorter"), self.about))

    def _connect(self) -> None:
        s = self.session
        s.busy_changed.connect(self._on_busy)
        s.counts_changed.connect(self._on_counts)
        s.categories_changed.connect(self._on_categories)
        s.sources_changed.connect(self._on_sources)
        s.problems_added.connect(self._on_problems)
        s.problems_cleared.connect(self.problems.clear)
        s.notice.connect(self.message_bar.show_notice)
        s.bug.connect(self._on_bug)
        s.run_finished.connect(self._on_run_finished)
        s.running_changed.connect(self.grid_heading.update_text)  # "Looking for photos…"
        s.scoring_applied.connect(self.message_bar.clear_model_problem)
        self.file_actions.busy_changed.connect(self._on_busy)
        s.undo_stack.indexChanged.connect(lambda _i: self._update_undo_actions())
        s.undo_stack.cleanChanged.connect(lambda _c: self._update_undo_actions())
        self.file_actions.finished.connect(self._on_operation_done)
        self.busy.cancel_requested.connect(self.cancel)
        self.message_bar.settings_requested.connect(self.open_settings)
        self.category_panel.category_selected.connect(self._on_category_selected)
        self.category_panel.photos_dropped.connect(self._on_photos_dropped)
        self.category_panel.categories_edited.connect(s.edit_categories)
        self.category_panel.examples_requested.connect(self.show_examples)
        self.sources_panel.remove_requested.connect(self._on_source_removed)
        self.sources_panel.watch_toggled.connect(self._on_watch_toggled)
        self.sources_panel.folder_chosen.connect(self._on_folder_chosen)
        self.watching.state_changed.connect(self.watch_status.set_state)
        self.watch_status.badge_clicked.connect(self.watching.reset_count)
        self.search.changed.connect(self.grid_heading.update_text)
        self.grid_actions.similar_requested.connect(self.search.find_similar)

    # -- session -> widgets -------------------------------------------------------------------
    @Slot(BusyState)
    def _on_busy(self, state: BusyState) -> None:
        self.busy.set_state(state)
        self._update_actions()

    def _update_actions(self) -> None:
        """File actions wait for the run, and Move/Copy/Tag for a photo in a category."""
        idle = not self.session.running and not self.file_actions.busy
        for action in (self.move_action, self.copy_action, self.tag_action):
            action.setEnabled(idle and self.session.results.sorted_count > 0)
        self.undo_file_action.setEnabled(idle)
        self._update_undo_actions()

    def _update_undo_actions(self) -> None:
        """Edit > Undo / Redo name what they would do; a file operation waits for the others."""
        stack = self.session.undo_stack
        idle = not self.session.running and not self.file_actions.busy
        for action, can, index, text, named in (
            (self.undo_action, stack.canUndo(), stack.index() - 1, stack.undoText(),
             self.tr("Undo {action}")),
            (self.redo_action, stack.canRedo(), stack.index(), stack.redoText(),
             self.tr("Redo {action}")),
        ):  # fmt: skip
            file_op = isinstance(stack.command(index), FileOperation) if can else False
            named = named.format(action=text) if can else named.replace(" {action}", "")
            action.setText(named)
            action.setToolTip(named)
            action.setEnabled(can and (idle or not file_op) and not self.file_actions.busy)

    @Slot(Counts)
    def _on_counts(self, counts: Counts) -> None:
        self.category_panel.set_counts(counts.per_category, counts.total, counts.examples)
        self.category_panel.list.viewport().update()
        self.grid_heading.update_text()
        self._update_actions()
        text = plural("MainWindow", "%n photo(s)", counts.total) if counts.total else ""
        if counts.errors:
            text += self.tr(", {n} with problems").format(n=counts.errors)
        self.summary.setText(text)

    @Slot(CategorySet)
    def _on_categories(self, categories: CategorySet) -> None:
        counts = self.session.results.counts()
        self.category_panel.set_categories(categories, counts, sum(counts.values()))

    @Slot()
    def _on_sources(self) -> None:
        s = self.session
        self.sources_panel.set_sources(s.saved_sources, s.extra_sources, s.settings.watched)

    @Slot(list)
    def _on_problems(self, problems: list) -> None:
        first = self.problems.isHidden()
        self.problems.add(problems)
        self.problems.show()
        if first:  # a strip under the grid, not half the window; one line in a small one
            self.problems.set_compact(self.height() < SMALL_WINDOW_HEIGHT)

    @Slot(JobFailed)
    def _on_bug(self, event: JobFailed) -> None:
        self.report_bug(event.message, event.details)

    @Slot(JobFinished)
    def _on_run_finished(self, event: JobFinished) -> None:
        if event.total:
            done = (
                self.tr("Cancelled")
                if event.cancelled
                else self.tr("Sorted in {seconds:.1f} s").format(seconds=event.elapsed_s)
            )
            self.statusBar().showMessage(done, 8000)

    @Slot(OperationDone)
    def _on_operation_done(self, done: OperationDone) -> None:
        if not done.auto or done.problems:  # a watched folder's routine work: status bar only
            self.message_bar.show_notice(Notice(done.message, "info"))
        text = self.tr("New photos: {message}") if done.auto else "{message}"
        self.statusBar().showMessage(text.format(message=done.message), 8000)

    # -- widgets -> session --------------------------------------------------------------------
    @Slot(CategorySelected)
    def _on_category_selected(self, event: CategorySelected) -> None:
        self.search.clear()  # choosing a category ends a search
        self.grid.set_show_category(event.name is None)
        self.session.model.set_category(event.name, review=event.review)
        self.grid_controls.set_enabled(not event.review)  # review has its own order
        self.grid_heading.update_text()

    @Slot(FolderChosen)
    def _on_folder_chosen(self, event: FolderChosen) -> None:
        self.search.clear()
        self.session.model.set_folder(event.path)
        self.grid_heading.update_text()

    @Slot(PhotosDropped)
    def _on_photos_dropped(self, event: PhotosDropped) -> None:
        self.session.pin(list(event.keys), event.category)
        self.grid_heading.update_text()
        self.statusBar().showMessage(self.session.undo_stack.undoText(), 5000)

    @Slot(SourceRemoved)
    def _on_source_removed(self, event: SourceRemoved) -> None:
        self.session.remove_source(event.path)

    @Slot(WatchToggled)
    def _on_watch_toggled(self, event: WatchToggled) -> None:
        if not self.watching.set_watch(event.path, event.watch):
            self.sources_panel.update_actions()  # the destination was not chosen: still off

    def cancel(self) -> None:
        self.session.cancel()
        self.file_actions.cancel()

    def add_paths(self, new: list[Path]) -> None:
        self.session.add_sources(new)
        self.grid_heading.update_text()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a folder of photos"))
        if folder:
            self.add_paths([Path(folder)])

    def choose_photos(self) -> None:
        found, _ = QFileDialog.getOpenFileNames(
            self, self.tr("Add photos"), "",
            self.tr("Images ({patterns})").format(
                patterns="*.jpg *.jpeg *.png *.webp *.heic *.tif *.tiff"
            ),
        )  # fmt: skip
        if found:
            self.add_paths([Path(f) for f in found])

    def open_settings(self) -> None:
        session = self.session
        dialog = SettingsDialog(
            self, session.settings, categories=session.categories, overrides=session.overrides
        )
        if dialog.exec():
            session.update_settings(dialog.settings(), released=dialog.released())

    def show_examples(self, name: str) -> None:
        ExamplesDialog(self, self.session, name).exec()

    def show_duplicates(self) -> DuplicatesDialog:
        """The Duplicates view (one, kept while the window lives), looking afresh."""
        if self.duplicates is None:
            self.duplicates = DuplicatesDialog(self.session, self.file_actions, self)
        self.duplicates.show()
        self.duplicates.raise_()
        self.duplicates.find()
        return self.duplicates

    # -- drops from the file manager -------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_paths(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_paths(event)

    @staticmethod
    def _accept_paths(event: QDragEnterEvent | QDragMoveEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        found = dropped_paths(event)
        if not found:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(found)

    # -- misc ---------------------------------------------------------------------------------
    def about(self) -> None:
        show_about(self, str(self.session.model_spec), self.session.encoder_notes)

    def _show_bug(self, message: str, details: str) -> None:
        show_crash_dialog(self, message, details)

    def _geometry_store(self) -> QSettings:
        return QSettings(str(paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        stored = self._geometry_store()
        geometry = stored.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = stored.value("splitter")
        if isinstance(state, QByteArray):
            self.splitter.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        stored = self._geometry_store()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("splitter", self.splitter.saveState())
        stored.sync()
        self.shutdown(timeout_ms=5_000)
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop background work and wait for it (idempotent); False if some is still busy."""
        watch_done = self.watching.shutdown(timeout_ms)
        files_done = self.file_actions.shutdown(timeout_ms)
        return self.session.shutdown(timeout_ms) and files_done and watch_done
