"""The records of the operation journal, and what a crash-safe step needs of it.

`safeio` carries out one step and records each state change through a `StepLog`;
`journal.Journal` is the SQLite-backed one. Keeping these here lets both import them
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class StepRow:
    id: int
    op: int
    kind: str  # move | copy | sidecar | delete | mkdir | trash
    source: Path
    dest: Path
    temp: Path | None
    hash: str | None
    data: dict
    state: str  # pending | copied | done | failed | undone
    message: str | None
    main: int | None  # the photo step this companion travels with
    undoes: int | None  # the step this one reverts


@dataclass
class OpRow:
    id: int
    action: str  # move | copy | tag | trash | undo
    state: str  # running | applied | empty | undone
    pid: int
    started: float
    undoes: int | None
    steps: list[StepRow] = field(default_factory=list)


class StepLog(Protocol):
    """Where a step's states are recorded, durably, before the disk changes."""

    def add(self, op: int, kind: str, source: Path, dest: Path, **extra: object) -> StepRow:
        """Record a new step as `pending`."""
        ...

    def update(self, row: StepRow, state: str, **changes: object) -> None:
        """Record `row`'s new state (and changed fields)."""
        ...

    def moved(self, source: Path, dest: Path) -> None:
        """A photo now lives at `dest`: what is known about `source` follows it."""
        ...
