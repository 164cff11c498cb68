"""`photosorter watch`: sort or tag new photos as they arrive, until Ctrl+C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from photosorter.cli.actions import cancel_on_sigint, default_dest
from photosorter.cli.options import (
    ACTIONS,
    add_model_options,
    load_category_args,
    make_engine,
    open_store,
)
from photosorter.cli.output import EXIT_OK, emit_json, report_recovery

if TYPE_CHECKING:  # the core loads when the command runs, not when the parser is built
    from photosorter.core.watch.autosort import AutoSortEvent


def add_watch_parser(sub: argparse._SubParsersAction) -> None:

    watch = sub.add_parser(
        "watch", help="sort, copy or tag new photos in folders as they arrive (Ctrl+C stops)"
    )
    watch.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders to watch")
    watch.add_argument("--categories", type=Path, required=True, metavar="FILE")
    watch.add_argument("--action", choices=ACTIONS, required=True)
    watch.add_argument(
        "--dest", type=Path, metavar="DIR", help="root of the category folders (move/copy)"
    )
    add_model_options(watch)
    watch.add_argument("--json", action="store_true", help="JSON Lines, one object per image")
    watch.add_argument("--threshold", type=float, default=None, help="minimum score (0-1)")
    watch.add_argument(
        "--poll", action="store_true", help="poll instead of OS events (network drives)"
    )
    watch.add_argument(
        "--settle",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long a file must stay unchanged before it is read (default 1)",
    )


def cmd_watch(args: argparse.Namespace) -> int:
    from photosorter.core.library.pipeline import CancelToken
    from photosorter.core.watch.autosort import AutoSorter

    out, err = sys.stdout, sys.stderr
    dest = (args.dest or default_dest(args.paths)) if args.action != "tag" else None
    categories = load_category_args(args)
    cancel = CancelToken()
    verb = {"move": "moved", "copy": "copied", "tag": "tagged"}[args.action]
    with cancel_on_sigint(cancel, err), open_store(args.cache) as store:
        report_recovery(store, err)
        sorter = AutoSorter(
            args.paths,
            make_engine(args),
            store,
            categories,
            args.action,
            dest,
            settle_s=args.settle,
            polling=args.poll,
        )
        roots = ", ".join(map(str, sorter.watcher.roots))
        where = f" into {dest}" if dest else ""
        print(f"Watching {roots}: new photos are {verb}{where}. Ctrl+C stops.", file=err)
        for event in sorter.run(cancel):
            _print_event(event, args.json, out, err)
    return EXIT_OK


def _print_event(event: AutoSortEvent, as_json: bool, out: TextIO, err: TextIO) -> None:
    for line in event.problems:
        print(f"photosorter: {line}", file=err)
    outcomes = {o.source: o for o in event.report.outcomes} if event.report else {}
    for item in event.classified:
        outcome = outcomes.get(item.path)
        error = item.error or (outcome.message if outcome and outcome.status == "error" else None)
        if as_json:
            extra: dict[str, object] = {"error": error}
            if outcome is not None and outcome.dest is not None:
                extra["dest"] = str(outcome.dest)
            if outcome is not None and outcome.keywords:
                extra["keywords"] = list(outcome.keywords)
            emit_json(out, item, **extra)
        elif error:
            print(f"error: {item.path}: {error}", file=err)
        elif outcome is not None:
            target = outcome.dest or ", ".join(outcome.keywords)
            note = f" ({outcome.message})" if outcome.message else ""
            out.write(f"{item.category}: {item.path} -> {target}{note}\n")
        else:
            out.write(f"{item.category or 'Uncategorized'}: {item.path} (stays)\n")
    for path in event.removed:
        if not as_json:
            out.write(f"removed: {path}\n")
    out.flush()
