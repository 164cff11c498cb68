"""`photosorter sort`: classify photos, print or stream the result, then maybe act on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from photosorter.cli.options import (
    ACTIONS,
    add_cluster_options,
    add_model_options,
    load_category_args,
    make_engine,
    open_cluster,
    open_store,
)
from photosorter.cli.output import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    ProgressLine,
    emit_json,
    print_summary,
    report_recovery,
)
from photosorter.core.errors import ConfigError


def add_sort_parser(sub: argparse._SubParsersAction) -> None:
    """The `sort` sub-command's options."""
    sort = sub.add_parser("sort", help="classify photos (and move, copy or tag them)")
    sort.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or images")
    sort.add_argument("--categories", type=Path, required=True, metavar="FILE")
    add_model_options(sort)
    add_cluster_options(sort)
    sort.add_argument("--json", action="store_true", help="JSON Lines, one object per image")
    sort.add_argument(
        "--threshold", type=float, default=None, help="minimum score, else Uncategorized (0-1)"
    )
    sort.add_argument(
        "--no-examples",
        action="store_true",
        help="plain zero-shot: ignore the example photos and your manual placements",
    )
    sort.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    sort.add_argument(
        "--action",
        choices=ACTIONS,
        help="then move or copy each photo into a folder per category, or tag it (XMP sidecar)",
    )
    sort.add_argument(
        "--dest",
        type=Path,
        metavar="DIR",
        help="where the category folders go (default: a Sorted folder beside the first PATH)",
    )
    sort.add_argument("--dry-run", action="store_true", help="show what --action would do, only")


def classify_paths(args: argparse.Namespace, store, out: TextIO, err: TextIO, stream: bool = True):
    """Scan, index and classify; streams JSON lines when asked. Returns the Classified list."""
    from photosorter.core.library.pipeline import (
        CancelToken,
        Classified,
        classify_photos,
        scoring_params,
    )
    from photosorter.core.library.scanner import check_roots, scan
    from photosorter.core.model.classifier import build_matrix, with_examples
    from photosorter.core.model.examples import load_examples

    categories = load_category_args(args)
    roots = check_roots(args.paths)
    engine = make_engine(args)
    scan_errors: list[Classified] = []
    paths = list(
        scan(roots, on_error=lambda p, msg: scan_errors.append(Classified(p, None, None, 0.0, msg)))
    )
    matrix = build_matrix(engine, store, categories)
    params = scoring_params(engine, store)
    if not args.no_examples:
        matrix = with_examples(matrix, load_examples(categories, engine, store), params)
    progress = ProgressLine(err) if err.isatty() and not args.json else None
    results: list[Classified] = list(scan_errors)
    stream = stream and args.json
    if stream:
        for item in scan_errors:
            emit_json(out, item)
    cancel = CancelToken()
    with open_cluster(args) as cluster:
        for batch, placed in classify_photos(
            paths, engine, store, categories, matrix, params,
            cancel=cancel, batch_size=args.batch_size, cluster=cluster,
        ):  # fmt: skip
            results.extend(placed)
            if stream:
                for item in placed:
                    emit_json(out, item)
            if progress:
                progress.update(batch.progress)
    if progress:
        progress.finish()
    return results


def cmd_sort(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    if (args.dest or args.dry_run) and not args.action:
        raise ConfigError("--dest and --dry-run go with --action move, copy or tag")
    if args.action == "tag" and args.dest:
        raise ConfigError("--dest is for move and copy; tags are written beside each photo")
    with open_store(args.cache) as store:
        report_recovery(store, err)
        results = classify_paths(args, store, out, err, stream=not args.action)
        if args.action:
            from photosorter.cli.actions import run_action

            return run_action(args, store, results, out, err)
    failed = [r for r in results if r.error]
    if not args.json:
        print_summary(results, out)
    for r in failed:
        print(f"error: {r.path}: {r.error}", file=err)
    return EXIT_SOME_FAILED if failed else EXIT_OK
