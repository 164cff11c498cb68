"""What the command line prints: exit codes, JSON lines, summaries, a progress line."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def emit_json(out: TextIO, item, **extra: object) -> None:
    record = {
        "path": str(item.path),
        "category": item.category,
        "score": round(item.score, 4),
        "margin": round(item.margin, 4),
        "error": item.error,
    }
    if item.manual:
        record["manual"] = True
    record.update(extra)
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def report_recovery(store, err: TextIO) -> None:
    """Finish or roll back a file operation an earlier crash interrupted; say what happened."""
    from photosorter.core.files.fileops import recover_interrupted

    lines = recover_interrupted(store)
    if lines:
        print("photosorter: recovered from an interrupted file operation:", file=err)
        for line in lines:
            print(f"  {line}", file=err)


def print_summary(results, out: TextIO) -> None:
    from photosorter.core.categories import UNCATEGORIZED

    counts = Counter(r.category or UNCATEGORIZED for r in results if not r.error)
    failed = sum(1 for r in results if r.error)
    width = max([len(n) for n in counts] + [len("Errors")])
    for name, n in sorted(counts.items(), key=lambda kv: (kv[0] == UNCATEGORIZED, -kv[1])):
        out.write(f"{name:<{width}}  {n:>6}\n")
    if failed:
        out.write(f"{'Errors':<{width}}  {failed:>6}\n")
    out.write(f"{len(results)} image(s) found\n")


class ProgressLine:
    """A one-line progress bar for terminals."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def update(self, p) -> None:
        width = 30
        filled = int(width * p.done / max(p.total, 1))
        eta = f" {p.eta_s:.0f}s left" if p.eta_s else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}{eta}   ")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def undo_command(cache: Path | None) -> str:
    """The `photosorter undo` command line for this store."""
    return "photosorter undo" + (f" --cache {shlex.quote(str(cache))}" if cache else "")
