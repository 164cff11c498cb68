"""The settings dialog: model, device, how sure to be, default action, destination,
watch polling and cluster, each shown with where the value in effect comes from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QObject,
    QRunnable,
    QThreadPool,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photosorter.core.categories import CategorySet
from photosorter.core.model.engine import DEFAULT_MODEL, LOCAL_PREFIX
from photosorter.core.settings import OVERRIDABLE, Override, Overrides, Settings
from photosorter.gui.dialogs import ACTION_LABELS
from photosorter.gui.texts import unbreakable

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
    ).format(unbreakable(override.name))  # fmt: skip
    value = unbreakable(override.value)
    if changed:
        return _tr("Replaces “{0}” from {1}, now and when saved.").format(value, where)
    return _tr("“{0}” comes from {1} for this run; your saved setting is “{2}”.").format(
        value, where, unbreakable(saved)
    )


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
