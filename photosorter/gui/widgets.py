"""Small window parts: the message bar, the status-bar progress and watch indicator, the
problems list; the About box and the crash dialog; sizing a window to its screen."""

from __future__ import annotations

import html
import traceback
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photosorter.gui import icons
from photosorter.gui.notices import Notice, Problem
from photosorter.gui.session import BusyState
from photosorter.gui.texts import plural
from photosorter.gui.watching import WatchState

_LEVEL_ICONS = {
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
}
_LEVEL_COLOURS = {"info": "#e8f0fe", "warning": "#fff4e5", "error": "#fdecea"}
SCREEN_SHARE = 0.9  # a window opens on at most this share of its screen's free area


def resize_within_screen(window: QWidget, width: int, height: int) -> None:
    """Resize a window to `width` x `height`, or smaller where its screen has less room (a
    1366x768 laptop), so that its frame, buttons and status bar stay on the screen."""
    screen = window.screen()
    room = screen.availableGeometry().size() * SCREEN_SHARE if screen else QSize(width, height)
    window.resize(min(width, room.width()), min(height, room.height()))


def format_eta(seconds: float | None) -> str:
    """The time left, roughly, in words ("" when not known)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return QCoreApplication.translate("BusyIndicator", "less than a minute left")
    minutes = round(seconds / 60)
    if minutes < 60:
        return QCoreApplication.translate("BusyIndicator", "about {0} min left").format(minutes)
    return QCoreApplication.translate("BusyIndicator", "about {0} h {1:02d} min left").format(
        minutes // 60, minutes % 60
    )


class MessageBar(QFrame):
    """An inline, dismissable message above the grid (never a modal dialog). Information
    goes by itself after `info_timeout_ms`; warnings and errors stay until closed."""

    settings_requested = Signal()
    info_timeout_ms = 10_000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_button = QPushButton(self.tr("Open Settings…"))
        self.settings_button.clicked.connect(self.settings_requested)
        close = QToolButton()
        close.setAutoRaise(True)
        close.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        close.setToolTip(self.tr("Dismiss"))
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.notice: Notice | None = None
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self.hide)
        self.hide()

    def clear_model_problem(self) -> None:
        """A model works now: a notice that it did not is out of date."""
        if self.notice is not None and self.notice.model_problem:
            self.notice = None
            self.hide()

    def show_notice(self, notice: Notice) -> None:
        self.notice = notice
        icon = self.style().standardIcon(_LEVEL_ICONS.get(notice.level, _LEVEL_ICONS["info"]))
        self.icon.setPixmap(icon.pixmap(20, 20))
        self.text.setText(notice.text)
        self.settings_button.setVisible(notice.settings_hint)
        if notice.level == "info":
            self._expiry.start(self.info_timeout_ms)
        else:
            self._expiry.stop()
        colour = _LEVEL_COLOURS.get(notice.level, _LEVEL_COLOURS["info"])
        self.setStyleSheet(
            f"#MessageBar {{ background: {colour}; border: 1px solid rgba(0,0,0,40);"
            " border-radius: 6px; } #MessageBar QLabel { color: #202124; }"
        )
        self.show()


class BusyIndicator(QWidget):
    """Status-bar part: what runs, a progress bar with count, time left, Cancel."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.eta = QLabel()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(8)
        layout.addWidget(self.label)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta)
        layout.addWidget(self.cancel_button)
        self.hide()

    def set_state(self, state: BusyState) -> None:
        if not state.text:
            self.hide()
            return
        self.label.setText(state.text)
        if state.total > 0:
            self.progress.setRange(0, state.total)
            self.progress.setValue(min(state.done, state.total))
            self.progress.setFormat(
                self.tr("{done:,} of {total:,}").format(done=state.done, total=state.total)
            )
        else:
            self.progress.setRange(0, 0)  # busy: size not known yet (loading the model)
            self.progress.setFormat("")
        self.eta.setText(format_eta(state.eta_s))
        self.cancel_button.setVisible(state.cancellable)
        self.show()


class WatchStatus(QWidget):
    """Status-bar part: an eye and "Watching 2 folders", and a badge counting new photos
    sorted since the user last looked (a click clears it)."""

    badge_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.eye = QLabel()
        self.eye.setPixmap(icons.watch_icon(True).pixmap(16, 16))
        self.label = QLabel()
        self.badge = QPushButton()
        self.badge.setObjectName("WatchBadge")
        self.badge.setFlat(True)
        self.badge.setCursor(Qt.CursorShape.PointingHandCursor)
        self.badge.setToolTip(self.tr("New photos from watched folders. Click to clear."))
        self.badge.setStyleSheet(
            "#WatchBadge { background: palette(highlight); color: palette(highlighted-text);"
            " border: 1px solid palette(highlight); border-radius: 9px; padding: 1px 9px;"
            " font-weight: bold; }"
        )
        self.badge.clicked.connect(self.badge_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 8, 0)
        layout.setSpacing(6)
        layout.addWidget(self.eye)
        layout.addWidget(self.label)
        layout.addWidget(self.badge)
        self.hide()

    def set_state(self, state: WatchState) -> None:
        n = len(state.folders)
        self.eye.setVisible(n > 0)
        self.label.setVisible(n > 0)
        self.label.setText(plural("WatchStatus", "Watching %n folder(s)", n))
        folders = "\n".join(str(p) for p in state.folders)
        self.label.setToolTip(self._what_happens(state.action) + "\n" + folders)
        count = state.new_photos
        if state.action == "tag":
            badge = plural("WatchStatus", "%Ln new photo(s) tagged", count)
        else:
            badge = plural("WatchStatus", "%Ln new photo(s) sorted", count)
        self.badge.setText(badge)
        self.badge.setVisible(count > 0)
        self.setVisible(n > 0 or count > 0)

    def _what_happens(self, action: str) -> str:
        """What the watched folders' new photos go through, for the tooltip."""
        if action == "move":
            return self.tr("New photos in these folders are moved into category folders:")
        if action == "copy":
            return self.tr("New photos in these folders are copied into category folders:")
        if action == "tag":
            return self.tr("New photos in these folders are tagged with their category:")
        return self.tr("New photos in these folders are sorted:")


class ProblemsDock(QDockWidget):
    """Files that could not be read, sorted, moved: path and message, never a dialog each.

    In a small window it starts compact: a one-line summary that opens the list."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Problems"))
        self.setObjectName("ProblemsDock")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels([self.tr("File"), self.tr("Problem")])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 520)
        header.setStretchLastSection(True)
        self.summary = QPushButton()
        self.summary.setFlat(True)
        self.summary.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        self.summary.setStyleSheet("text-align: left; padding: 2px 6px")
        self.summary.clicked.connect(lambda: self.set_compact(False))
        self.summary.hide()
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.summary)
        column.addWidget(self.tree, 1)
        self.setWidget(body)

    @property
    def compact(self) -> bool:
        return self.tree.isHidden()

    def set_compact(self, compact: bool, full_height: int = 130) -> None:
        """A one-line summary (small windows), or the list at `full_height` pixels."""
        self.summary.setVisible(compact)
        self.tree.setVisible(not compact)
        # compact: exactly one line, whatever room the window's layout offers
        self.setMaximumHeight(self.minimumSizeHint().height() if compact else 16_777_215)
        window = self.parentWidget()
        if not compact and isinstance(window, QMainWindow):
            window.resizeDocks([self], [full_height], Qt.Orientation.Vertical)

    def add(self, problems: list[Problem]) -> None:
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for problem in problems:
            item = QTreeWidgetItem([str(problem.path), problem.message])
            item.setIcon(0, icon)
            item.setToolTip(0, str(problem.path))
            item.setToolTip(1, problem.message)
            self.tree.addTopLevelItem(item)
        self._update_summary()

    def _update_summary(self) -> None:
        text = plural("ProblemsDock", "%Ln file(s) with problems: click to see them", self.count())
        self.summary.setText(text)

    def clear(self) -> None:
        self.tree.clear()
        self._update_summary()

    def count(self) -> int:
        return self.tree.topLevelItemCount()

    def paths(self) -> list[Path]:
        return [Path(self.tree.topLevelItem(i).text(0)) for i in range(self.count())]


def show_crash_dialog(parent: QWidget | None, message: str, details: str) -> None:
    """A bug, not the user's doing: say so, and show the traceback to report."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(QCoreApplication.translate("CrashDialog", "PhotoSorter – unexpected error"))
    box.setText(
        QCoreApplication.translate(
            "CrashDialog", "Something went wrong inside PhotoSorter. This is a bug, not your fault."
        )
    )
    box.setInformativeText(
        QCoreApplication.translate(
            "CrashDialog", "{0}\n\nPlease report it with the details below."
        ).format(message)
    )
    box.setDetailedText(details or "".join(traceback.format_stack()))
    box.exec()


def show_about(parent: QWidget | None, model: str, notes: list[str]) -> None:
    """Help > About: what PhotoSorter does, its version and its parts', the `model` in use
    and the image encoder's `notes`."""
    from PySide6.QtCore import qVersion

    from photosorter import __version__
    from photosorter.versions import component_versions

    def tr(text: str) -> str:
        return QCoreApplication.translate("AboutBox", text)

    versions = component_versions()
    versions["Qt"] = qVersion()
    rows = "".join(
        f"<tr><td>{name}</td><td>{version}</td></tr>"
        for name, version in versions.items()
        if name != "PhotoSorter"
    )
    about = tr(
        "Sorts photos into categories you describe in plain words, with an OpenCLIP model "
        "running on this computer. Your photos never leave it."
    )
    title = tr("PhotoSorter {version}").format(version=__version__)
    model_line = tr("Model: {model}").format(model=model)
    notes_html = "".join(f"<p><small>{html.escape(n)}</small></p>" for n in notes)
    QMessageBox.about(
        parent,
        tr("About PhotoSorter"),
        f"<h3>{html.escape(title)}</h3><p>{html.escape(about)}</p>"
        f"<p>{html.escape(model_line)}</p><table cellspacing='4'>{rows}</table>{notes_html}",
    )
