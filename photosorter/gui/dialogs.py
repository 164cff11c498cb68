"""Dialogs: edit a category, and confirm a file operation's plan (and pick its folder).

The settings dialog is in settings_dialog.py."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photosorter.core.categories import UNCATEGORIZED, Category
from photosorter.gui.texts import plural

ACTION_LABELS = {"move": QT_TRANSLATE_NOOP("ActionLabels", "Move to category folders"),
                 "copy": QT_TRANSLATE_NOOP("ActionLabels", "Copy to category folders"),
                 "tag": QT_TRANSLATE_NOOP("ActionLabels", "Write tags (XMP keywords)")}  # fmt: skip
# The plan dialog's counts (each shown through `plural` in the "PlanDialog" context)
PLAN_INTROS = {
    "move": QT_TRANSLATE_NOOP("PlanDialog", "%n photo(s) will be moved into these folders:"),
    "copy": QT_TRANSLATE_NOOP("PlanDialog", "%n photo(s) will be copied into these folders:"),
    "tag": QT_TRANSLATE_NOOP(
        "PlanDialog",
        "%n photo(s) get their category as a keyword, written into an .xmp sidecar file next "
        "to each photo (the photo itself is not changed):",
    ),
}
PLAN_BUTTONS = {"move": QT_TRANSLATE_NOOP("PlanDialog", "Move %n Photo(s)"),
                "copy": QT_TRANSLATE_NOOP("PlanDialog", "Copy %n Photo(s)"),
                "tag": QT_TRANSLATE_NOOP("PlanDialog", "Tag %n Photo(s)")}  # fmt: skip


class CategoryDialog(QDialog):
    """Name, prompts (one per line) and an optional folder name for one category."""

    def __init__(
        self, parent: QWidget | None, category: Category | None = None, taken: list[str] = ()
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Edit Category") if category else self.tr("Add Category"))
        self._taken = {n.casefold() for n in taken}
        self.name = QLineEdit(category.name if category else "")
        self.name.setPlaceholderText(self.tr("e.g. Pets"))
        self.prompts = QPlainTextEdit("\n".join(category.prompts) if category else "")
        self.prompts.setPlaceholderText(
            self.tr("One description per line, e.g.\ndog\ncat\npet animal")
        )
        self.prompts.setTabChangesFocus(True)
        self.folder = QLineEdit(category.folder or "" if category else "")
        self.folder.setPlaceholderText(self.tr("Same as the name"))
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.hide()

        form = QFormLayout()
        form.addRow(self.tr("&Name:"), self.name)
        form.addRow(self.tr("&Describe it:"), self.prompts)
        form.addRow(self.tr("&Folder name:"), self.folder)
        help_text = QLabel(
            self.tr(
                "Describe what the photos show in a few plain words. Several lines give the "
                "model more ways to recognise the category."
            )
        )
        help_text.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.prompts.installEventFilter(self)  # Ctrl+Enter there presses OK
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(help_text)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(440, 320)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+Enter in the descriptions presses OK (Enter alone starts a new line)."""
        if (
            watched is self.prompts
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.accept()
            return True
        return super().eventFilter(watched, event)

    def category(self) -> Category:
        lines = [p.strip() for p in self.prompts.toPlainText().splitlines() if p.strip()]
        name = self.name.text().strip()
        return Category(name, tuple(lines or [name]), self.folder.text().strip() or None)

    def problem(self) -> str | None:
        name = self.name.text().strip()
        if not name:
            return self.tr("Give the category a name.")
        if name == UNCATEGORIZED:
            return self.tr("“{name}” is built in; choose another name.").format(name=UNCATEGORIZED)
        if name.casefold() in self._taken:
            return self.tr("There is already a category called “{name}”.").format(name=name)
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        super().accept()


def pick_folder(parent: QWidget | None, title: str, start: Path | None) -> Path | None:
    """A folder picker opening at `start` (or its nearest existing parent)."""
    while start is not None and not start.is_dir() and start.parent != start:
        start = start.parent
    folder = QFileDialog.getExistingDirectory(parent, title, str(start or Path.home()))
    return Path(folder) if folder else None


class PlanDialog(QDialog):
    """What a move / copy / tag will do: how many photos go where; OK carries it out.

    With a `destination`, "Change…" picks another one: the dialog then ends with
    CHANGE_DESTINATION and `new_destination` set, for the caller to plan again."""

    CHANGE_DESTINATION = 2

    def __init__(
        self,
        parent: QWidget | None,
        action: str,
        summary: list[tuple[str, int]],
        left: int,
        destination: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.destination = destination
        self.new_destination: Path | None = None
        total = sum(n for _, n in summary)
        self.setWindowTitle(QCoreApplication.translate("ActionLabels", ACTION_LABELS[action]))
        intro = QLabel(plural("PlanDialog", PLAN_INTROS[action], total))
        intro.setWordWrap(True)
        table = QTableWidget(len(summary), 2)
        where = self.tr("Folder") if action != "tag" else self.tr("Keyword")
        table.setHorizontalHeaderLabels([where, self.tr("Photos")])
        for row, (where, count) in enumerate(summary):
            table.setItem(row, 0, QTableWidgetItem(where))
            number = QTableWidgetItem(f"{count:,}")
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, 1, number)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        notes = (
            [] if action == "tag" else [self.tr("Nothing is overwritten: name clashes get “(1)”.")]
        )
        if left:
            notes.append(
                plural("PlanDialog", "%n photo(s) will stay where they are (uncategorized or "
                       "already there).", left)
            )  # fmt: skip
        notes.append(self.tr("You can undo this with Edit > Undo."))
        note = QLabel(" ".join(notes))
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        ok = buttons.addButton(
            plural("PlanDialog", PLAN_BUTTONS[action], total),
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        ok.setDefault(True)
        ok.setEnabled(total > 0)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if destination is not None:
            layout.addLayout(self._destination_row(destination))
        layout.addWidget(intro)
        layout.addWidget(table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(560, 360)

    def _destination_row(self, destination: Path) -> QHBoxLayout:
        label = QLabel(self.tr("Destination: {folder}").format(folder=destination))
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setToolTip(str(destination))
        self.change_button = QPushButton(self.tr("Change…"))
        self.change_button.setAutoDefault(False)
        self.change_button.clicked.connect(self.change_destination)
        row = QHBoxLayout()
        row.addWidget(label, 1)
        row.addWidget(self.change_button)
        return row

    def change_destination(self) -> None:
        folder = pick_folder(self, self.tr("Choose the destination folder"), self.destination)
        if folder is not None and folder != self.destination:
            self.new_destination = folder
            self.done(self.CHANGE_DESTINATION)
