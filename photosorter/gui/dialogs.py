"""Dialogs: edit a category, settings, and the confirmation of a file operation's plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QEvent,
    QObject,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
    Slot,
)
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
from photosorter.core.settings import OVERRIDABLE, Override, Overrides, Settings
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


_CONTEXT = "SettingsDialog"  # the translation context of the settings' strings
DEVICE_LABELS = {"auto": QT_TRANSLATE_NOOP("SettingsDialog", "Automatic (fastest found)"),
                 "cpu": QT_TRANSLATE_NOOP("SettingsDialog", "CPU"),
                 "cuda": QT_TRANSLATE_NOOP("SettingsDialog", "NVIDIA GPU (CUDA)"),
                 "mps": QT_TRANSLATE_NOOP("SettingsDialog", "Apple GPU (MPS)")}  # fmt: skip

SENSITIVITY_LABELS = {
    "low": QT_TRANSLATE_NOOP("SettingsDialog", "Low: sort more photos, some by a guess"),
    "normal": QT_TRANSLATE_NOOP("SettingsDialog", "Normal"),
    "high": QT_TRANSLATE_NOOP("SettingsDialog", "High: leave doubtful photos in Uncategorized"),
}
CUSTOM = "custom"  # an earlier version's minimum confidence, kept until another is chosen


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def file_rules(categories: CategorySet | None) -> str:
    """What the categories file itself asks for (threshold, margin), in words; "" if none."""
    if categories is None:
        return ""
    rules = []
    if categories.threshold:
        rules.append(_tr("a score of at least {0:.0%}").format(categories.threshold))
    if categories.margin:
        rules.append(_tr("a lead of {0:.0%} over the runner-up").format(categories.margin))
    if not rules:
        return ""
    name = categories.source.name if categories.source else ""
    return _tr("Also {0} (from the categories file {1}).").format(_tr(" and ").join(rules), name)


def origin_text(override: Override, saved: str, changed: bool) -> str:
    """Where a setting in effect comes from, or what choosing another one here replaces."""
    where = (
        _tr("the command line ({0})") if override.origin == "command line"
        else _tr("the environment variable {0}")
    ).format(override.name)  # fmt: skip
    if changed:
        return _tr("Replaces “{0}” from {1}, now and when saved.").format(override.value, where)
    return _tr("“{0}” comes from {1} for this run; your saved setting is “{2}”.").format(
        override.value, where, saved
    )


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
    """Model, device, how sure to be, default action, destination, watch polling.

    It shows what is in effect: a model, device or backend given on the command line (or
    by $PHOTOSORTER_MODEL) is shown with where it came from, and changing it says what the
    new choice replaces. An override the user leaves alone is not saved as a setting.
    """

    def __init__(
        self,
        parent: QWidget | None,
        settings: Settings,
        list_models: bool = True,
        categories: CategorySet | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self._settings = settings
        self._overrides = overrides or Overrides()
        self._effective = self._overrides.apply(settings)
        self.model = self._model_choice()
        self.device = self._device_choice()
        self.fast = QCheckBox(
            self.tr("Use the fastest image encoder that passes its accuracy check")
        )
        self.fast.setChecked(self._effective.backend != "pytorch")
        self.fast.setToolTip(
            self.tr(
                "OpenVINO int8 or bf16 on CPUs, fp16 on GPUs. Each is checked against plain "
                "PyTorch on your own photos first and dropped if it disagrees. Untick to force "
                "plain PyTorch."
            )
        )
        self.origins = {key: self._note(self._origin(key)) for key in OVERRIDABLE}
        self.model.currentTextChanged.connect(self._show_origins)
        self.device.currentIndexChanged.connect(self._show_origins)
        self.fast.toggled.connect(self._show_origins)
        self.sensitivity = self._sensitivity_choice(settings)
        self.file_rules = self._note(file_rules(categories))
        self.action = QComboBox()
        for value, label in ACTION_LABELS.items():
            self.action.addItem(QCoreApplication.translate("ActionLabels", label), value)
        self.action.setCurrentIndex(max(0, self.action.findData(settings.action)))
        self.action.setToolTip(self.tr("What happens to new photos in watched folders"))
        self.destination = QLineEdit(str(settings.destination or ""))
        self.destination.setPlaceholderText(self.tr("Asked for on first move or copy"))
        self.polling = QCheckBox(self.tr("Network drive: check for new photos by polling"))
        self.polling.setChecked(settings.watch_polling)
        self.polling.setToolTip(
            self.tr(
                "For watched folders on network drives (SMB, NFS), where change notifications "
                "do not arrive, or when the system's inotify limit is reached. Slower."
            )
        )
        self.cluster = QLineEdit(settings.cluster)
        self.cluster.setPlaceholderText(self.tr("This computer"))
        self.cluster.setToolTip(
            self.tr(
                "A Ray cluster's address (HOST:PORT, or auto) to read and encode new photos "
                "on; needs photosorter[cluster]. Empty: this computer does it."
            )
        )
        self._lay_out()
        if list_models:
            lister = _PretrainedLister()
            lister.signals.listed.connect(self._add_models)
            self._lister_signals = lister.signals  # keep the QObject alive until it answers
            QThreadPool.globalInstance().start(lister)

    def _lay_out(self) -> None:
        local = QPushButton(self.tr("Local Folder…"))
        local.clicked.connect(self.choose_local_model)
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self.choose_destination)
        model_note = self._note(
            self.tr(
                "Models download once from the internet, then work offline. Without internet, "
                "choose a local folder holding open_clip_config.json and the weights."
            )
        )
        form = QFormLayout()
        form.addRow(self.tr("Model:"), _row(self.model, local))
        form.addRow("", self.origins["model"])
        form.addRow("", model_note)
        form.addRow(self.tr("&Device:"), self.device)
        form.addRow("", self.origins["device"])
        form.addRow(self.tr("Speed:"), self.fast)
        form.addRow("", self.origins["backend"])
        form.addRow(self.tr("Sort only when &sure:"), self.sensitivity)
        form.addRow("", self.file_rules)
        form.addRow(self.tr("Default &action:"), self.action)
        form.addRow(self.tr("Destination folder:"), _row(self.destination, browse))
        form.addRow(self.tr("Watched folders:"), self.polling)
        form.addRow(self.tr("Index on &cluster:"), self.cluster)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(buttons)
        # QFormLayout underestimates wrapped notes' height: leave them room (two lines each).
        notes = sum(1 for label in self.origins.values() if label.text())
        self.resize(680, 330 + 40 * notes)

    @staticmethod
    def _note(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setVisible(bool(text))
        return label

    def _model_choice(self) -> QComboBox:
        box = QComboBox()
        box.setEditable(True)
        box.setMinimumContentsLength(36)
        for name in dict.fromkeys((self._effective.model, self._settings.model, DEFAULT_MODEL)):
            box.addItem(name)
        return box

    def _device_choice(self) -> QComboBox:
        box = QComboBox()
        for value, label in DEVICE_LABELS.items():
            box.addItem(self.tr(label), value)
        device = self._effective.device
        if box.findData(device) < 0:  # e.g. --device cuda:1
            box.addItem(device, device)
        box.setCurrentIndex(box.findData(device))
        return box

    def _sensitivity_choice(self, settings: Settings) -> QComboBox:
        box = QComboBox()
        for value, label in SENSITIVITY_LABELS.items():
            box.addItem(self.tr(label), value)
        box.setCurrentIndex(box.findData(settings.sensitivity))
        if settings.threshold:  # set by an earlier version: kept until changed here
            box.addItem(
                self.tr("At least {0:.0%} confidence (earlier setting)").format(settings.threshold),
                CUSTOM,
            )
            box.setCurrentIndex(box.count() - 1)
        box.setToolTip(
            self.tr(
                "How well a photo must match its best category to be sorted. Photos that fit "
                "no category well enough stay in Uncategorized."
            )
        )
        return box

    def _chosen(self, key: str) -> str:
        """The value the dialog's field for `key` (model, device, backend) holds now."""
        if key == "model":
            return self.model.currentText().strip() or DEFAULT_MODEL
        if key == "device":
            return self.device.currentData()
        in_effect = self._effective.backend
        if self.fast.isChecked() == (in_effect != "pytorch"):
            return in_effect  # untouched: keeps e.g. --backend openvino-int8
        return "auto" if self.fast.isChecked() else "pytorch"

    def released(self) -> set[str]:
        """The overridden settings the user has chosen another value for here."""
        return {k for k in self._overrides.items if self._chosen(k) != getattr(self._effective, k)}

    def _origin(self, key: str) -> str:
        """Where the value in effect for `key` comes from; "" when from the settings."""
        override = self._overrides.get(key)
        if override is None:
            return ""
        changed = self._chosen(key) != getattr(self._effective, key)
        return origin_text(override, str(getattr(self._settings, key)), changed)

    @Slot()
    def _show_origins(self) -> None:
        for key, label in self.origins.items():
            label.setText(self._origin(key))
            label.setVisible(bool(label.text()))

    @Slot(list)
    def _add_models(self, names: list[str]) -> None:
        current = self.model.currentText()
        existing = {self.model.itemText(i) for i in range(self.model.count())}
        self.model.addItems([n for n in names if n not in existing])
        self.model.setEditText(current)

    def choose_local_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a local model folder"))
        if folder:
            self.model.setEditText(LOCAL_PREFIX + folder)

    def choose_destination(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose the destination folder"))
        if folder:
            self.destination.setText(folder)

    def settings(self) -> Settings:
        """The settings to save: an override left alone keeps the saved value under it."""
        destination = self.destination.text().strip()
        kept = set(self._overrides.items) - self.released()
        engine = {k: self._chosen(k) for k in OVERRIDABLE if k not in kept}
        return replace(
            self._settings,
            **engine,
            **self._chosen_sensitivity(),
            action=self.action.currentData(),
            destination=Path(destination) if destination else None,
            watch_polling=self.polling.isChecked(),
            cluster=self.cluster.text().strip(),
        )

    def _chosen_sensitivity(self) -> dict[str, object]:
        chosen = self.sensitivity.currentData()
        if chosen == CUSTOM:
            return {}  # unchanged
        return {"sensitivity": chosen, "threshold": 0.0}


def _row(main: QWidget, button: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(main, 1)
    row.addWidget(button)
    return row


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
