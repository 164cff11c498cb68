"""What the user is told: notices for the message bar, and the files that had a problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


@dataclass(frozen=True)
class Notice:
    """A plain message for the message bar; `settings_hint` offers to open Settings."""

    text: str
    level: str = "warning"  # "info" | "warning" | "error"
    settings_hint: bool = False
    model_problem: bool = False  # gone once a model works
