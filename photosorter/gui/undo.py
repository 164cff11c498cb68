"""The one undo stack's commands: every edit the user makes, named in the Edit menu.

Edits of the session's state (manual placements, category edits) are `Change`s: a state
before and after, and the function that applies one. File operations are
`FileOperation`s, run in the background by a `FileOperationRunner`: undone through the
journal (that operation only, while it is still the last one), redone by planning the
same action for the same photos again. The stack moves when they start; when one cannot
be carried out, the runner steps the stack back with `without_running`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QUndoCommand

from photosorter.core.categories import CategorySet

State = TypeVar("State")


class Change(QUndoCommand, Generic[State]):
    """An edit as two states of the session; `apply` makes one of them current."""

    def __init__(self, text: str, apply: Callable[[State], None], before: State, after: State):
        super().__init__(text)
        self._apply, self._before, self._after = apply, before, after

    def redo(self) -> None:
        self._apply(self._after)

    def undo(self) -> None:
        self._apply(self._before)


@dataclass(frozen=True)
class FileJob:
    """What a file operation did: the action, the photos (path, category), where to."""

    action: str  # "move" | "copy" | "tag" | "trash"
    items: tuple[tuple[Path, str], ...]  # (photo, category; "" for the trash)
    dest: Path | None


class FileOperationRunner(Protocol):
    def undo_operation(self, command: FileOperation) -> None: ...
    def redo_operation(self, command: FileOperation) -> None: ...


class FileOperation(QUndoCommand):
    """A move, copy, tag or trash the user ran; `op_id` is its operation in the journal (None when
    its redo changed no file)."""

    def __init__(self, runner: FileOperationRunner, job: FileJob, op_id: int | None) -> None:
        super().__init__(action_name(job.action))
        self.runner, self.job, self.op_id = runner, job, op_id
        self._quiet = True  # pushed after it ran: the push's redo does nothing

    def redo(self) -> None:
        if not self._quiet:
            self.runner.redo_operation(self)

    def undo(self) -> None:
        if not self._quiet:
            self.runner.undo_operation(self)

    def without_running(self, move: Callable[[], None]) -> None:
        """Move the stack over this command (push, or step back) without touching a file."""
        self._quiet = True
        try:
            move()
        finally:
            self._quiet = False


def action_name(action: str) -> str:
    """The menu name of a file action, as in "Undo Move to Folders"."""
    names = {
        "move": QCoreApplication.translate("Undo", "Move to Folders"),
        "copy": QCoreApplication.translate("Undo", "Copy to Folders"),
        "tag": QCoreApplication.translate("Undo", "Write Tags"),
        "trash": QCoreApplication.translate("Undo", "Move to the Trash"),
    }
    return names[action]


def edit_name(old: CategorySet, new: CategorySet, renamed: dict[str, str]) -> str:
    """The menu name of a category edit, from the categories before and after it."""
    tr = QCoreApplication.translate
    before, after = old.names, new.names
    added = [n for n in after if n not in before and n not in renamed.values()]
    removed = [n for n in before if n not in after and n not in renamed]
    if len(renamed) == 1 and not added and not removed:
        old, new = next(iter(renamed.items()))
        return tr("Undo", "Rename “{old}” to “{new}”").format(old=old, new=new)
    if len(added) == 1 and not removed and not renamed:
        return tr("Undo", "Add Category “{name}”").format(name=added[0])
    if len(removed) == 1 and not added and not renamed:
        return tr("Undo", "Delete Category “{name}”").format(name=removed[0])
    if added or removed or renamed:
        return tr("Undo", "Replace the Categories")
    changed = [c.name for c in new.categories if old.get(c.name) != c]
    if len(changed) == 1:
        return tr("Undo", "Edit Category “{name}”").format(name=changed[0])
    return tr("Undo", "Edit Categories")
