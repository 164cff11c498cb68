"""`photosorter sort --action move|copy|tag` and its output: plan, apply, report."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from photosorter.cli.options import open_store
from photosorter.cli.output import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    emit_json,
    report_recovery,
    undo_command,
)


def default_dest(paths: Sequence[Path]) -> Path:
    """A `Sorted` folder beside the first PATH."""
    return Path(os.path.abspath(paths[0])).parent / "Sorted"


def run_action(args: argparse.Namespace, store, results, out: TextIO, err: TextIO) -> int:
    """Plan, then (unless --dry-run) apply the --action to the classified photos."""
    from photosorter.core.categories import load_categories
    from photosorter.core.files.fileops import apply_plan, plan_operation
    from photosorter.core.library.pipeline import CancelToken

    dest = None
    if args.action != "tag":
        dest = args.dest or default_dest(args.paths)
        if args.dest is None:
            note = f"Destination: {dest} (beside {args.paths[0]}; choose another with --dest)"
            print(note, file=err if args.json else out)
    items = [(r.path, r.category) for r in results if not r.error]
    plan = plan_operation(items, args.action, dest, load_categories(args.categories).folders)
    failed = [r for r in results if r.error]
    if args.dry_run:
        if args.json:
            steps = {s.source: s for s in plan.steps}
            for r in results:
                step = steps.get(r.path)
                extra = {"status": "planned" if step else "stays"}
                if step and step.destination:
                    extra["dest"] = str(step.destination)
                elif step:
                    extra["keywords"] = list(step.keywords)
                emit_json(out, r, **extra)
        else:
            for line in plan.describe():
                print(line, file=out)
            _print_plan_summary(plan.action, plan.summary(), out, would=True)
        for r in failed:
            print(f"error: {r.path}: {r.error}", file=err)
        return EXIT_SOME_FAILED if failed else EXIT_OK

    cancel = CancelToken()
    progress = None
    if err.isatty() and not args.json:

        def progress(done: int, total: int) -> None:
            err.write(f"\r{args.action}: {done}/{total}   ")
            err.flush()

    with cancel_on_sigint(cancel, err):
        report = apply_plan(plan, store, cancel=cancel, progress=progress)
    if progress is not None:
        err.write("\n")
    outcomes = {o.source: o for o in report.outcomes}
    for o in report.outcomes:  # files that travelled along (a RAW with its JPEG)
        for was, now in o.companions:
            outcomes.setdefault(was, replace(o, source=was, dest=now, companions=()))
    if args.json:
        for r in results:
            o = outcomes.get(r.path)
            if o is None:
                stayed = {"keywords": []} if args.action == "tag" else {"dest": None}
                emit_json(out, r, status="stayed", **stayed)
                continue
            extra: dict = {"status": o.status}
            if o.status == "error":
                extra["error"] = o.message
            if args.action == "tag":
                extra["keywords"] = list(o.keywords) if o.status != "error" else []
            else:
                extra["dest"] = str(o.dest) if o.dest else None
            if o.companions:  # where the RAW of a pair went, or its sidecar (tag)
                extra["companions"] = [str(now) for _was, now in o.companions]
            emit_json(out, r, **extra)
    else:
        counts = Counter(
            str(o.dest.parent) if o.dest else o.category
            for o in report.outcomes
            if o.status == "ok"
        )
        _print_plan_summary(args.action, sorted(counts.items()), out, would=False)
        done_before = sum(1 for o in report.outcomes if o.status == "skipped-identical")
        if done_before and args.action == "tag":
            print(f"{done_before} photo(s) already had their keywords", file=out)
        elif done_before:
            print(f"{done_before} identical file(s) already there, not copied again", file=out)
        unsure = sum(1 for _, why in plan.left if why.startswith("uncategorized"))
        if unsure:
            print(f"{unsure} uncategorized photo(s) left where they are", file=out)
        if len(plan.left) > unsure:
            print(f"{len(plan.left) - unsure} photo(s) already in their folder", file=out)
        if report.cancelled:
            print("Stopped early: the rest was left as it was.", file=out)
    op_failed = [o for o in report.outcomes if o.status == "error"]
    for r in failed:
        print(f"error: {r.path}: {r.error}", file=err)
    for o in op_failed:
        print(f"error: {o.source}: {o.message}", file=err)
    if any(o.status == "ok" for o in report.outcomes):
        print(f"Undo with: {undo_command(args.cache)}", file=err if args.json else out)
    if report.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed or op_failed else EXIT_OK


def _print_plan_summary(action: str, summary, out: TextIO, would: bool) -> None:
    verbs = {"move": ("Would move", "Moved"), "copy": ("Would copy", "Copied")}
    head = verbs.get(action, ("Would tag", "Tagged"))[0 if would else 1]
    print(f"{head} {sum(n for _, n in summary)} photo(s):", file=out)
    for where, n in summary:
        print(f"  {n:>6} {'->' if action != 'tag' else 'as'} {where}", file=out)


@contextlib.contextmanager
def cancel_on_sigint(cancel, err: TextIO):
    """First Ctrl-C: finish the file in hand, then stop cleanly (the rest stays undoable)."""
    import signal

    def handler(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.cancel()
        print("\nphotosorter: stopping after the current file...", file=err)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def add_undo_parser(sub: argparse._SubParsersAction) -> None:
    """The `undo` sub-command's options."""
    undo = sub.add_parser("undo", help="revert the last move, copy or tag")
    undo.add_argument("--cache", type=Path, default=None, metavar="PATH", help="SQLite store file")


def cmd_undo(args: argparse.Namespace) -> int:
    from photosorter.core.files.fileops import undo_last

    out, err = sys.stdout, sys.stderr
    with open_store(args.cache) as store:
        report_recovery(store, err)
        report = undo_last(store)
    if report.op_id is None:
        print("Nothing to undo.", file=out)
        return EXIT_OK
    done, failed = report.reverted, report.not_reverted
    print(
        f"Undid {report.action} (operation {report.op_id}): {len(done)} file(s) reverted", file=out
    )
    for item in failed:
        print(f"not reverted: {item.path}: {item.message}", file=err)
    if report.to_retry:
        print(
            f"{len(report.to_retry)} file(s) still to revert: fix what is named above, then run "
            f"{undo_command(args.cache)} again",
            file=err,
        )
    return EXIT_SOME_FAILED if failed else EXIT_OK
