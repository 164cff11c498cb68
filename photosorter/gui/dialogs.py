"""Dialogs: edit a category, settings, and the confirmation of a file operation's plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
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

from photosorter.core.categories import UNCATEGORIZED, Category, CategorySet
from photosorter.core.model.engine import DEFAULT_MODEL, LOCAL_PREFIX
from photosorter.core.settings import Settings

ACTION_LABELS = {"move": "Move to category folders", "copy": "Copy to category folders",
                 "tag": "Write tags (XMP keywords)"}  # fmt: skip


DEVICE_LABELS = {"auto": "Automatic (fastest found)", "cpu": "CPU",
                 "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}  # fmt: skip

SENSITIVITY_LABELS = {"low": "Low: sort more photos, some by a guess",
                      "normal": "Normal",
                      "high": "High: leave doubtful photos in Uncategorized"}  # fmt: skip
CUSTOM = "custom"  # an earlier version's minimum confidence, kept until another is chosen


def file_rules(categories: CategorySet | None) -> str:
    """What the categories file itself asks for (threshold, margin), in words; "" if none."""
    if categories is None:
        return ""
    rules = []
    if categories.threshold:
        rules.append(f"a score of at least {categories.threshold:.0%}")
    if categories.margin:
        rules.append(f"a lead of {categories.margin:.0%} over the runner-up")
    if not rules:
        return ""
    return "Also " + " and ".join(rules) + " (from the categories file)."


class CategoryDialog(QDialog):
    """Name, prompts (one per line) and an optional folder name for one category."""

    def __init__(
        self, parent: QWidget | None, category: Category | None = None, taken: list[str] = ()
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit Category" if category else "Add Category")
        self._taken = {n.casefold() for n in taken}
        self.name = QLineEdit(category.name if category else "")
        self.name.setPlaceholderText("e.g. Pets")
        self.prompts = QPlainTextEdit("\n".join(category.prompts) if category else "")
        self.prompts.setPlaceholderText("One description per line, e.g.\ndog\ncat\npet animal")
        self.prompts.setTabChangesFocus(True)
        self.folder = QLineEdit(category.folder or "" if category else "")
        self.folder.setPlaceholderText("Same as the name")
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.hide()

        form = QFormLayout()
        form.addRow("&Name:", self.name)
        form.addRow("&Describe it:", self.prompts)
        form.addRow("&Folder name:", self.folder)
        help_text = QLabel(
            "Describe what the photos show in a few plain words. Several lines give the "
            "model more ways to recognise the category."
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
            return "Give the category a name."
        if name == UNCATEGORIZED:
            return f"“{UNCATEGORIZED}” is built in; choose another name."
        if name.casefold() in self._taken:
            return f"There is already a category called “{name}”."
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        super().accept()


class _PretrainedLister(QRunnable):
    """Imports open_clip (and torch: seconds) off the GUI thread to list pretrained models."""

    class Signals(QObject):
        listed = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.signals = self.Signals()

    def run(self) -> None:
        try:
            import open_clip

            names = [f"{arch}:{tag}" for arch, tag in open_clip.list_pretrained()]
        except Exception:  # an optional convenience: the field stays editable
            names = []
        self.signals.listed.emit(names)


class SettingsDialog(QDialog):
    """Model, device, how sure to be, default action, destination, watch polling."""

    def __init__(
        self,
        parent: QWidget | None,
        settings: Settings,
        list_models: bool = True,
        categories: CategorySet | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setMinimumContentsLength(36)
        self.model.addItem(settings.model)
        if settings.model != DEFAULT_MODEL:
            self.model.addItem(DEFAULT_MODEL)
        local = QPushButton("Local Folder…")
        local.clicked.connect(self.choose_local_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(local)
        self.model_note = QLabel(
            "Models download once from the internet, then work offline. Without internet, "
            "choose a local folder holding open_clip_config.json and the weights."
        )
        self.model_note.setWordWrap(True)
        self.device = QComboBox()
        for value, label in DEVICE_LABELS.items():
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.fast = QCheckBox("Use the fastest image encoder that passes its accuracy check")
        self.fast.setChecked(settings.backend != "pytorch")
        self.fast.setToolTip(
            "OpenVINO int8 or bf16 on CPUs, fp16 on GPUs. Each is checked against plain "
            "PyTorch on your own photos first and dropped if it disagrees. Untick to force "
            "plain PyTorch."
        )
        self.sensitivity = self._sensitivity_choice(settings)
        self.file_rules = QLabel(file_rules(categories))
        self.file_rules.setWordWrap(True)
        self.file_rules.setVisible(bool(self.file_rules.text()))
        self.action = QComboBox()
        for value, label in ACTION_LABELS.items():
            self.action.addItem(label, value)
        self.action.setCurrentIndex(max(0, self.action.findData(settings.action)))
        self.action.setToolTip("What happens to new photos in watched folders")
        self.destination = QLineEdit(str(settings.destination or ""))
        self.destination.setPlaceholderText("Asked for on first move or copy")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.choose_destination)
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.destination, 1)
        dest_row.addWidget(browse)
        self.polling = QCheckBox("Network drive: check for new photos by polling")
        self.polling.setChecked(settings.watch_polling)
        self.polling.setToolTip(
            "For watched folders on network drives (SMB, NFS), where change notifications "
            "do not arrive, or when the system's inotify limit is reached. Slower."
        )

        form = QFormLayout()
        form.addRow("Model:", model_row)
        form.addRow("", self.model_note)
        form.addRow("&Device:", self.device)
        form.addRow("Speed:", self.fast)
        form.addRow("Sort only when &sure:", self.sensitivity)
        form.addRow("", self.file_rules)
        form.addRow("Default &action:", self.action)
        form.addRow("Destination folder:", dest_row)
        form.addRow("Watched folders:", self.polling)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.resize(620, 300)
        if list_models:
            lister = _PretrainedLister()
            lister.signals.listed.connect(self._add_models)
            self._lister_signals = lister.signals  # keep the QObject alive until it answers
            QThreadPool.globalInstance().start(lister)

    @staticmethod
    def _sensitivity_choice(settings: Settings) -> QComboBox:
        box = QComboBox()
        for value, label in SENSITIVITY_LABELS.items():
            box.addItem(label, value)
        box.setCurrentIndex(box.findData(settings.sensitivity))
        if settings.threshold:  # set by an earlier version: kept until changed here
            box.addItem(f"At least {settings.threshold:.0%} confidence (earlier setting)", CUSTOM)
            box.setCurrentIndex(box.count() - 1)
        box.setToolTip(
            "How well a photo must match its best category to be sorted. Photos that fit "
            "no category well enough stay in Uncategorized."
        )
        return box

    @Slot(list)
    def _add_models(self, names: list[str]) -> None:
        current = self.model.currentText()
        existing = {self.model.itemText(i) for i in range(self.model.count())}
        self.model.addItems([n for n in names if n not in existing])
        self.model.setEditText(current)

    def choose_local_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a local model folder")
        if folder:
            self.model.setEditText(LOCAL_PREFIX + folder)

    def choose_destination(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the destination folder")
        if folder:
            self.destination.setText(folder)

    def settings(self) -> Settings:
        destination = self.destination.text().strip()
        return replace(
            self._settings,
            model=self.model.currentText().strip() or DEFAULT_MODEL,
            device=self.device.currentData(),
            backend="auto" if self.fast.isChecked() else "pytorch",
            **self._chosen_sensitivity(),
            action=self.action.currentData(),
            destination=Path(destination) if destination else None,
            watch_polling=self.polling.isChecked(),
        )

    def _chosen_sensitivity(self) -> dict[str, object]:
        chosen = self.sensitivity.currentData()
        if chosen == CUSTOM:
            return {}  # unchanged
        return {"sensitivity": chosen, "threshold": 0.0}


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
        verb = {"move": "Move", "copy": "Copy", "tag": "Tag"}[action]
        self.setWindowTitle(ACTION_LABELS[action])
        intro = QLabel(
            {
                "move": f"{total} photo(s) will be moved into these folders:",
                "copy": f"{total} photo(s) will be copied into these folders:",
                "tag": f"{total} photo(s) get their category written as an XMP keyword:",
            }[action]
        )
        table = QTableWidget(len(summary), 2)
        table.setHorizontalHeaderLabels(["Folder" if action != "tag" else "Keyword", "Photos"])
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
        notes = [] if action == "tag" else ["Nothing is overwritten: name clashes get “(1)”."]
        if left:
            notes.append(f"{left} photo(s) stay where they are (uncategorized or already there).")
        notes.append("You can undo this with Edit > Undo.")
        note = QLabel(" ".join(notes))
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        ok = buttons.addButton(f"{verb} {total} Photo(s)", QDialogButtonBox.ButtonRole.AcceptRole)
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
