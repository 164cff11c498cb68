"""Move / copy / tag / trash and undo, from the GUI: plan, confirm, run off the GUI thread.

`confirm` and `choose_destination` are plain callables so tests (and scripts) can answer
the dialogs; by default they show the plan dialog and a folder picker. `confirm` answers
True (go), False (cancel) or another destination folder (plan again with it); the last
destination chosen is remembered in the settings. `will_write` hears
of every file an operation is about to write, so watched folders can ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QWidget

from photosorter.core.errors import PhotoSorterError
from photosorter.core.files import fileops
from photosorter.core.files.journal import undo_targets
from photosorter.core.library.pipeline import CancelToken
from photosorter.core.watch.autosort import own_writes
from photosorter.gui.dialogs import PlanDialog, pick_folder
from photosorter.gui.notices import Notice, Problem
from photosorter.gui.session import BusyState, Session
from photosorter.gui.texts import plural
from photosorter.gui.undo import FileJob, FileOperation, action_name
from photosorter.gui.workers import (
    JobFailed,
    JobProgress,
    TaskFinished,
    TaskRequest,
    TaskWorker,
    start_thread,
    stop_thread,
)

VERBS = {
    "move": "Moving photos…", "copy": "Copying photos…", "tag": "Tagging photos…",
    "trash": "Moving photos to the trash…", "undo": "Undoing…",
}  # fmt: skip
DONE = {"move": "moved", "copy": "copied", "tag": "tagged"}
APPLIED = {
    "move": "%n photo(s) moved",
    "copy": "%n photo(s) copied",
    "tag": "%n photo(s) tagged",
    "trash": "%n photo(s) moved to the trash",
}
UNDONE = {
    "move": "%n photo(s) moved back.",
    "copy": "%n copied photo(s) removed.",
    "tag": "Keywords removed from %n photo(s).",
    "trash": "%n photo(s) put back from the trash.",
}


@dataclass(frozen=True)
class OperationDone:
    """A file operation (or undo) ended: what to tell the user, what moved where."""

    kind: str  # "move" | "copy" | "tag" | "trash" | "undo"
    message: str
    moved: dict[Path, Path]
    problems: tuple[Problem, ...] = ()
    done: int = 0  # photos moved, copied, tagged or trashed
    auto: bool = False  # started by a watched folder, not by the user
    trashed: tuple[Path, ...] = ()  # photos now in the trash
    restored: tuple[Path, ...] = ()  # photos an undo put back from the trash


class FileActions(QObject):
    """Runs plans and undo on a worker thread; one operation at a time. What the user runs
    goes on the session's undo stack (a watched folder's work does not)."""

    busy_changed = Signal(BusyState)
    finished = Signal(OperationDone)
    can_undo_changed = Signal(bool)

    def __init__(self, session: Session, window: QWidget | None = None) -> None:
        super().__init__()
        self.session = session
        self.window = window
        self.confirm: Callable[[fileops.Plan], bool | Path] = self._confirm_with_dialog
        self.choose_destination: Callable[[str], Path | None] = self._ask_destination
        self.will_write: Callable[[list[Path]], None] = lambda _paths: None
        self.worker = TaskWorker()
        self.worker.progress_changed.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.thread = start_thread(self.worker, "photosorter-fileops")
        self._generation = 0
        self._cancel: CancelToken | None = None
        self._kind = ""
        self._auto = False
        self._job: FileJob | None = None  # the user's operation running, for the undo stack
        self._command: FileOperation | None = None  # the stack's command being undone/redone
        self._dest_root: Path | None = None  # where the running move puts photos
        self._added: dict[int, Path] = {}  # a move's operation id -> the folder it added

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    # -- starting ----------------------------------------------------------------------------
    def run_action(self, action: str) -> bool:
        """Plan `action` for every sorted photo, confirm, then carry it out in the background."""
        if self.busy:
            return False
        session = self.session
        items = session.results.placed_items()
        if not items:
            session.notice.emit(Notice("There are no sorted photos to act on yet.", "info"))
            return False
        dest: Path | None = None
        if action != "tag":
            dest = session.settings.destination or self.choose_destination(action)
            if dest is None:
                return False
        while True:
            self._remember_destination(dest)
            try:
                plan = self._plan(items, action, dest)
            except PhotoSorterError as exc:
                session.notice.emit(Notice(str(exc), "error"))
                return False
            if not plan.steps:
                text = "Nothing to do: every photo is already in place."
                session.notice.emit(Notice(text, "info"))
                return False
            answer = self.confirm(plan)
            if isinstance(answer, Path):  # another destination: plan again
                dest = answer
                continue
            if answer:
                self._apply(plan, job=FileJob(action, tuple(items), dest))
            return bool(answer)

    def _remember_destination(self, dest: Path | None) -> None:
        settings = self.session.settings
        if dest is not None and dest != settings.destination:
            self.session.update_settings(replace(settings, destination=dest), restart=False)

    def trash(self, paths: list[Path]) -> bool:
        """Move these photos (duplicates of ones kept) to the system trash, undoably."""
        if self.busy or not paths:
            return False
        job = FileJob("trash", tuple((p, "") for p in paths), None)
        plan = self._plan(list(job.items), "trash", None)
        if not plan.steps:
            return False
        self._apply(plan, job=job)
        return True

    def apply_automatically(
        self, items: list[tuple[Path, str]], action: str, dest: Path | None
    ) -> bool:
        """Carry out `action` on these photos with no confirmation (a watched folder's new
        photos: the user switched watching on knowingly). False when nothing was started."""
        if self.busy:
            return False
        try:
            plan = self._plan(items, action, dest)
        except PhotoSorterError as exc:
            self.session.notice.emit(Notice(f"New photos were not {DONE[action]}: {exc}", "error"))
            return False
        if not plan.steps:
            return False
        self._apply(plan, auto=True)
        return True

    def _plan(self, items: list[tuple[Path, str]], action: str, dest: Path | None) -> fileops.Plan:
        """The plan for `action`, each category into its own folder (its `folder` key)."""
        if action == "trash":
            return fileops.plan_trash([path for path, _ in items])
        folders = self.session.categories.folders
        return fileops.plan_operation(items, action, dest, folders)  # type: ignore[arg-type]

    def _apply(self, plan: fileops.Plan, auto: bool = False, job: FileJob | None = None) -> None:
        store = self.session.store
        self._job = job
        self._dest_root = plan.dest_root if plan.action == "move" else None
        self.will_write(own_writes(plan))
        self._start(
            plan.action,
            lambda cancel, progress: fileops.apply_plan(
                plan, store, cancel=cancel, progress=progress
            ),
            auto,
        )

    def undo(self, op_id: int | None = None) -> bool:
        """Undo the last file operation in the journal (with `op_id`: only that one)."""
        if self.busy:
            return False
        store = self.session.store
        self._job = None
        self.will_write(undo_targets(store))  # photos put back must not count as new ones
        self._start("undo", lambda _cancel, _progress: fileops.undo_last(store, op_id))
        return True

    # -- the undo stack's file operations ------------------------------------------------------
    def undo_operation(self, command: FileOperation) -> None:
        """Edit > Undo of a move, copy or tag: that operation only, while it is the last."""
        if command.op_id is None:  # its redo changed no file: nothing to put back
            return
        if not self.undo(command.op_id):
            self._step_back(command, undone=True)
            return
        self._command = command

    def redo_operation(self, command: FileOperation) -> None:
        """Edit > Redo of a move, copy or tag: the same photos, planned again from now."""
        job = command.job
        try:
            plan = None if self.busy else self._plan(list(job.items), job.action, job.dest)
        except PhotoSorterError as exc:
            self.session.notice.emit(Notice(str(exc), "error"))
            plan = None
        if plan is None:
            self._step_back(command, undone=False)
            return
        if not plan.steps:
            command.op_id = None
            self.session.notice.emit(
                Notice(self.tr("Nothing to redo: every photo is in place."), "info")
            )
            return
        self._apply(plan, job=job)
        self._command = command

    def _step_back(self, command: FileOperation, undone: bool) -> None:
        """The stack moved over `command`, but it was not carried out: move it back."""
        stack = self.session.undo_stack
        move = stack.redo if undone else stack.undo
        QTimer.singleShot(0, lambda: command.without_running(move))

    def _record(self, report: fileops.OpReport, done: int) -> None:
        """The user's operation ended: push it on the undo stack, or give its redo its id."""
        command, self._command = self._command, None
        job, self._job = self._job, None
        if command is not None:
            command.op_id = report.op_id if done else None
        elif job is not None and done:
            new = FileOperation(self, job, report.op_id)
            new.without_running(lambda: self.session.undo_stack.push(new))

    def _record_undo(self, report: fileops.UndoReport) -> None:
        """An undo ended: the stack follows what happened to the files."""
        command, self._command = self._command, None
        stack = self.session.undo_stack
        if command is not None:
            if report.later or report.to_retry:  # still applied: it stays on the stack
                self._step_back(command, undone=True)
            return
        top = stack.command(stack.index() - 1) if stack.canUndo() else None
        if isinstance(top, FileOperation) and top.op_id == report.op_id and report.op_id:
            top.without_running(stack.undo)  # undone from the journal: Redo offers it again

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _start(self, kind: str, run: Callable, auto: bool = False) -> None:
        self._generation += 1
        request = TaskRequest(self._generation, kind, run)
        self._cancel = request.cancel
        self._kind = kind
        self._auto = auto
        self.busy_changed.emit(BusyState(VERBS[kind], cancellable=kind != "undo"))
        self.worker.start(request)

    # -- dialogs (replaceable) ---------------------------------------------------------------
    def _confirm_with_dialog(self, plan: fileops.Plan) -> bool | Path:
        dialog = PlanDialog(
            self.window, plan.action, plan.summary(), len(plan.left), plan.dest_root
        )
        answer = dialog.exec()
        if answer == PlanDialog.CHANGE_DESTINATION:
            return dialog.new_destination or False
        return bool(answer)

    def _ask_destination(self, action: str) -> Path | None:
        """A folder picker opening beside the photos (the first folder's parent)."""
        title = (
            self.tr("Choose where to move the category folders")
            if action == "move"
            else self.tr("Choose where to copy the category folders")
        )
        roots = self.session.roots()
        return pick_folder(self.window, title, roots[0].parent if roots else None)

    # -- results -----------------------------------------------------------------------------
    @Slot(JobProgress)
    def _on_progress(self, event: JobProgress) -> None:
        if event.generation == self._generation:
            text = VERBS.get(self._kind, "Working…")
            self.busy_changed.emit(BusyState(text, event.done, event.total, None, True))

    @Slot(TaskFinished)
    def _on_finished(self, event: TaskFinished) -> None:
        if event.generation != self._generation:
            return
        self._cancel = None
        self.busy_changed.emit(BusyState(""))
        result = event.result
        done = self._undone(result) if event.kind == "undo" else self._applied(result)
        done = replace(done, auto=self._auto)
        if event.kind == "undo":
            self._record_undo(result)
        else:
            self._record(result, done.done)
        if done.trashed:
            self.session.forget(list(done.trashed))
        if done.restored:
            self.session.start_run(list(done.restored))  # back in the grid
        if done.moved:
            self.session.moved(done.moved)
            if event.kind == "move":
                self._keep_destination(result.op_id)
        if event.kind == "undo":
            self._let_go_of_destination(result)
        if done.problems:
            self.session.problems_added.emit(list(done.problems))
        self.can_undo_changed.emit(True)
        self.finished.emit(done)

    def _keep_destination(self, op_id: int) -> None:
        """Photos moved: their destination joins the library (remembered when it was added
        for this move, so undoing the move takes it out again)."""
        folder = self._dest_root
        if folder is not None and self.session.keep_in_library(folder):
            self._added[op_id] = folder

    def _let_go_of_destination(self, report: fileops.UndoReport) -> None:
        """A move undone: the folder it added to the library leaves, when left empty."""
        if report.op_id is None or report.later or report.action != "move":
            return
        folder = self._added.get(report.op_id)
        if folder is None:
            return
        if not report.to_retry:  # undone for good: the folder's fate is settled now
            del self._added[report.op_id]
        self.session.let_go(folder)

    @Slot(JobFailed)
    def _on_failed(self, event: JobFailed) -> None:
        if event.generation != self._generation:
            return
        self._cancel = None
        self.busy_changed.emit(BusyState(""))
        if event.user_error:
            self.session.notice.emit(Notice(event.message, "error"))
        else:
            self.session.bug.emit(event)
        command, self._command, self._job = self._command, None, None
        if command is not None:  # nothing was carried out: the stack steps back
            self._step_back(command, undone=self._kind == "undo")
        self.finished.emit(OperationDone(self._kind, event.message, {}, auto=self._auto))

    def _applied(self, report: fileops.OpReport) -> OperationDone:
        ok = [o for o in report.outcomes if o.status == "ok"]
        same = [o for o in report.outcomes if o.status == "skipped-identical"]
        problems = tuple(Problem(o.source, o.message) for o in report.errors)
        moved = {o.source: o.dest for o in ok if report.action == "move" and o.dest}
        parts = [plural("FileActions", APPLIED[report.action], len(ok))]
        if same:
            there = "%n already tagged" if report.action == "tag" else "%n already there"
            parts.append(plural("FileActions", there, len(same)))
        if problems:
            parts.append(plural("FileActions", "%n failed (see Problems)", len(problems)))
        if report.cancelled:
            parts.append(self.tr("cancelled"))
        text = ", ".join(parts) + "."
        trashed = tuple(o.source for o in ok if report.action == "trash")
        return OperationDone(report.action, text, moved, problems, len(ok), trashed=trashed)

    def _undone(self, report: fileops.UndoReport) -> OperationDone:
        if report.later:
            text = self.tr("Not undone: a later {later} changed these files since. Undo it first.")
            return OperationDone("undo", text.format(later=action_name(report.later)), {})
        if report.op_id is None:
            return OperationDone("undo", self.tr("Nothing to undo."), {})
        moved = {
            i.path: i.restored
            for i in report.reverted
            if report.action == "move" and i.restored is not None
        }
        problems = tuple(Problem(i.path, i.message) for i in report.not_reverted)
        restored = tuple(
            i.restored for i in report.reverted if report.action == "trash" and i.restored
        )
        name = action_name(report.action or "move")
        text = self.tr("Undid {action}: ").format(action=name)
        photos = len(report.reverted_photos)
        text += plural("FileActions", UNDONE[report.action or "move"], photos)
        if problems:
            text += " " + plural(
                "FileActions", "%n could not be undone (see Problems).", len(problems)
            )
        if report.to_retry:
            text += " " + self.tr("Fix what stands in their way, then Undo again to finish.")
        return OperationDone("undo", text, moved, problems, restored=restored)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        self.cancel()  # stops after the file being handled: nothing is left half-done
        return stop_thread(self.thread, timeout_ms)
