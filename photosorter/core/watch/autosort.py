"""Watched folders: new photos are classified, then moved, copied or tagged as they arrive.

`AutoSorter` is what `photosorter watch` runs: it pulls settled batches from a
FolderWatcher, classifies them with the cached pipeline (learning from the categories
file's example photos and from the user's manual placements, read again for each batch,
so a correction made in the app meanwhile counts) and applies the chosen action
through fileops, so every safety rule of a manual sort holds. The app's watch toggle runs
the same steps on its own workers and shares the rules: `new_since_last_run` (catch-up)
and `own_writes` (what to ignore).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photosorter.core.categories import CategorySet
from photosorter.core.files.fileops import Action, OpReport, Plan, apply_plan, plan_operation
from photosorter.core.files.journal import Journal
from photosorter.core.library.cache import Store
from photosorter.core.library.formats import is_paired_raw
from photosorter.core.library.pipeline import (
    CancelToken,
    Classified,
    classify_photos,
    scoring_params,
)
from photosorter.core.model.classifier import (
    CategoryMatrix,
    Examples,
    build_matrix,
    with_examples,
)
from photosorter.core.model.engine import Engine, ScoringParams
from photosorter.core.model.examples import file_examples, override_examples
from photosorter.core.watch.watcher import FolderWatcher


@dataclass
class AutoSortEvent:
    """What one round did: photos classified, what the action did, files gone, problems."""

    classified: list[Classified] = field(default_factory=list)
    report: OpReport | None = None
    plan: Plan | None = None
    removed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    catch_up: bool = False  # photos that arrived while PhotoSorter was not running


def new_since_last_run(store: Store, paths: Sequence[Path], action: str | None) -> list[Path]:
    """The catch-up rule: for move, every photo still there; for copy and tag, those not
    copied or tagged yet (the journal says), or changed since PhotoSorter last saw them."""
    if action not in ("copy", "tag"):
        return list(paths)
    done = Journal(store).handled(action)
    known = store.lookup_files([str(p) for p in paths])
    fresh = []
    for path in paths:
        entry = known.get(str(path))
        try:
            st = path.stat()
        except OSError:
            continue
        changed = entry is None or entry[:2] != (st.st_size, st.st_mtime_ns)
        if changed or done.get(str(path)) != entry[2]:
            fresh.append(path)
    return fresh


def own_writes(plan: Plan) -> list[Path]:
    """Every file `plan` writes (destinations and companions): what a watcher must ignore
    so that PhotoSorter's own moves and copies never come back as new photos."""
    found: list[Path] = []
    for step in plan.steps:
        found += [t for t in (step.destination, *(d for _, d in step.companions)) if t]
    return found


class AutoSorter:
    """Classify and act on photos in watched folders; one instance per watch session."""

    def __init__(
        self,
        roots: Sequence[str | os.PathLike[str]],
        engine: Engine,
        store: Store,
        categories: CategorySet,
        action: Action | None,
        dest_root: Path | None = None,
        *,
        settle_s: float = 1.0,
        polling: bool = False,
    ) -> None:
        self.engine, self.store, self.categories = engine, store, categories
        self.action = action
        self.dest_root = Path(os.path.abspath(dest_root)) if dest_root else None
        dest = self.dest_root
        self.watcher = FolderWatcher(
            roots,
            settle_s=settle_s,
            polling=polling,
            ignore=(lambda p: p.is_relative_to(dest)) if dest else None,
        )
        self._moved_away: set[Path] = set()
        self._zero_shot: tuple[CategoryMatrix, ScoringParams, Examples] | None = None
        self._learned: tuple[list[tuple[str, str]], CategoryMatrix] | None = None

    def _scoring(self) -> tuple[CategoryMatrix, ScoringParams]:
        """The matrix learned from the examples; learned again only when the user's
        manual placements changed since the last batch."""
        if self._zero_shot is None:
            self._zero_shot = (
                build_matrix(self.engine, self.store, self.categories),
                scoring_params(self.engine, self.store),
                file_examples(self.categories, self.engine, self.store),
            )
        matrix, params, from_file = self._zero_shot
        placed = sorted(self.store.overrides().items())
        if self._learned is None or self._learned[0] != placed:
            corrections = override_examples(self.store, self.engine.model_id, self.categories.names)
            self._learned = (placed, with_examples(matrix, from_file + corrections, params))
        return self._learned[1], params

    def process(self, paths: Sequence[Path], cancel: CancelToken | None = None) -> AutoSortEvent:
        """Classify `paths` and apply the action to those with a category."""
        event = AutoSortEvent()
        paths = [p for p in paths if not is_paired_raw(p)]  # its JPEG carries it
        if not paths:
            return event
        matrix, params = self._scoring()
        found = classify_photos(
            list(paths), self.engine, self.store, self.categories, matrix, params, cancel=cancel
        )
        for _batch, placed in found:
            # A file its writer is still adding to is retried once it settles, not an error.
            event.classified += [c for c in placed if not self._still_changing(c)]
        if self.action is None or (cancel and cancel.is_set()):
            return event
        items = [(c.path, c.category) for c in event.classified if c.category and not c.error]
        event.plan = plan_operation(items, self.action, self.dest_root, self.categories.folders)
        for target in own_writes(event.plan):  # our own writes must never come back as new
            self.watcher.ignore_path(target)
        event.report = apply_plan(event.plan, self.store, cancel=cancel)
        if self.action == "move":  # their removal events are ours, not news
            for outcome in event.report.outcomes:
                if outcome.status == "ok":
                    self._moved_away.add(outcome.source)
                    self._moved_away.update(was for was, _now in outcome.companions)
        return event

    def _still_changing(self, found: Classified) -> bool:
        return found.error is not None and self.watcher.retry_if_changed(found.path)

    def run(self, cancel: CancelToken, poll_s: float = 0.5) -> Iterator[AutoSortEvent]:
        """Catch up, then handle new arrivals until `cancel` is set. Starts/stops the watch."""
        self.watcher.start()
        try:
            existing = new_since_last_run(self.store, self.watcher.existing_files(), self.action)
            if existing:
                event = self.process(existing, cancel)
                event.catch_up = True
                yield event
            while not cancel.is_set():
                batch = self.watcher.next_batch(timeout=poll_s)
                if not batch:
                    continue
                event = self.process(batch.added, cancel)
                event.problems = batch.problems
                event.removed = [p for p in batch.removed if p not in self._moved_away]
                self._moved_away.difference_update(batch.removed)
                yield event
        finally:
            self.watcher.stop()
