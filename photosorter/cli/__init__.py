"""Command line: `photosorter [gui] [PATH...]`, `sort`, `undo`, `models`; a thin shell."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from photosorter.core.categories import UNCATEGORIZED, CategorySet, load_categories
from photosorter.core.errors import ConfigError, PhotoSorterError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("gui", "sort", "undo", "watch", "search", "duplicates", "models", "bench")
ACTIONS = ("move", "copy", "tag")  # photosorter.core.files.fileops.ACTIONS, without importing it


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from photosorter.core.model.engine import DEFAULT_MODEL

    p.add_argument(
        "--model",
        default=None,
        metavar="SPEC",
        help=f"ARCH:TAG, hf-hub:ORG/NAME or local-dir:PATH (default {DEFAULT_MODEL})",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the fastest found)")
    p.add_argument(
        "--backend",
        default="auto",
        help="image encoder: auto (fastest proven), pytorch (plain), openvino-int8, "
        "openvino-bf16, openvino-fp32, torch-bf16, torch-fp16",
    )
    p.add_argument("--cache", type=Path, default=None, metavar="PATH", help="SQLite store file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photosorter",
        description="Sort photos into categories you describe in words, locally, with OpenCLIP.",
    )
    parser.add_argument("--version", action="store_true", help="show versions and exit")
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument(
        "--install-desktop",
        action="store_true",
        help="add PhotoSorter to the application menu (current user)",
    )
    desktop.add_argument(
        "--uninstall-desktop", action="store_true", help="remove it from the application menu"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="folders to add")
    gui.add_argument("--categories", type=Path, metavar="FILE", help="categories TOML file")
    _add_model_options(gui)

    sort = sub.add_parser("sort", help="classify photos (and move, copy or tag them)")
    sort.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or images")
    sort.add_argument("--categories", type=Path, required=True, metavar="FILE")
    _add_model_options(sort)
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

    undo = sub.add_parser("undo", help="revert the last move, copy or tag")
    undo.add_argument("--cache", type=Path, default=None, metavar="PATH", help="SQLite store file")

    from photosorter.cli.watch import add_watch_parser

    add_watch_parser(sub)
    from photosorter.cli.duplicates import add_duplicates_parser
    from photosorter.cli.search import add_search_parser

    add_search_parser(sub)
    add_duplicates_parser(sub)
    sub.add_parser("models", help="list the open_clip models that can be downloaded")

    from photosorter.bench import add_arguments as add_bench_arguments

    add_bench_arguments(sub.add_parser("bench", help="measure indexing and re-sorting speed"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `photosorter` alone, or `photosorter FOLDER`, opens the app.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(version_text())
        return EXIT_OK
    if args.install_desktop or args.uninstall_desktop:
        from photosorter import desktop

        changed = desktop.install_desktop() if args.install_desktop else desktop.uninstall_desktop()
        verb = "Installed" if args.install_desktop else "Removed"
        print(f"{verb} {len(changed)} file(s):", *(f"  {p}" for p in changed), sep="\n")
        return EXIT_OK
    if args.command is None:
        args = parser.parse_args(["gui", *argv])
    try:
        return COMMAND_FUNCS[args.command](args)
    except PhotoSorterError as exc:
        print(f"photosorter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photosorter: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `photosorter sort ... --json | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def gui_main() -> int:
    """Entry point of the windowed launcher (no console on Windows)."""
    return main(["gui", *sys.argv[1:]])


def version_text() -> str:
    """Versions of PhotoSorter and what it runs on (from package metadata: fast)."""
    from photosorter.core.model.engine import DEFAULT_MODEL
    from photosorter.versions import component_versions

    versions = component_versions()
    lines = [f"PhotoSorter {versions.pop('PhotoSorter')}", f"default model: {DEFAULT_MODEL}"]
    lines += [f"{name}: {version}" for name, version in versions.items()]
    return "\n".join(lines)


# -- gui -----------------------------------------------------------------------------
def cmd_gui(args: argparse.Namespace) -> int:
    from photosorter.gui.app import run_app

    return run_app(args)


# -- models --------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    import open_clip

    for arch, tag in open_clip.list_pretrained():
        print(f"{arch}:{tag}")
    return EXIT_OK


# -- sort ----------------------------------------------------------------------------
def open_store(path: Path | None):
    from photosorter.core.library.cache import Store

    return Store(path)


def make_engine(args: argparse.Namespace):
    from photosorter.core.model.engine import DEFAULT_MODEL, Engine

    model = args.model or os.environ.get("PHOTOSORTER_MODEL") or DEFAULT_MODEL
    return Engine(model, args.device, backend=getattr(args, "backend", None) or "auto")


def load_category_args(args: argparse.Namespace) -> CategorySet:
    categories = load_categories(args.categories)
    if getattr(args, "threshold", None) is not None:
        if not 0 <= args.threshold <= 1:
            raise PhotoSorterError("--threshold must be between 0 and 1")
        from dataclasses import replace

        categories = replace(categories, threshold=args.threshold)
    return categories


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
    progress = _ProgressLine(err) if err.isatty() and not args.json else None
    results: list[Classified] = list(scan_errors)
    stream = stream and args.json
    if stream:
        for item in scan_errors:
            _emit_json(out, item)
    cancel = CancelToken()
    for batch, placed in classify_photos(
        paths, engine, store, categories, matrix, params, cancel=cancel, batch_size=args.batch_size
    ):
        results.extend(placed)
        if stream:
            for item in placed:
                _emit_json(out, item)
        if progress:
            progress.update(batch.progress)
    if progress:
        progress.finish()
    return results


def _emit_json(out: TextIO, item, **extra: object) -> None:
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


def print_summary(results, out: TextIO) -> None:
    counts = Counter(r.category or UNCATEGORIZED for r in results if not r.error)
    failed = sum(1 for r in results if r.error)
    width = max([len(n) for n in counts] + [len("Errors")])
    for name, n in sorted(counts.items(), key=lambda kv: (kv[0] == UNCATEGORIZED, -kv[1])):
        out.write(f"{name:<{width}}  {n:>6}\n")
    if failed:
        out.write(f"{'Errors':<{width}}  {failed:>6}\n")
    out.write(f"{len(results)} image(s) found\n")


class _ProgressLine:
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


# -- bench ---------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from photosorter.bench import run

    return run(args)


def cmd_watch(args: argparse.Namespace) -> int:
    from photosorter.cli.watch import cmd_watch as run_watch

    return run_watch(args)


def cmd_search(args: argparse.Namespace) -> int:
    from photosorter.cli.search import cmd_search as run_search

    return run_search(args)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from photosorter.cli.duplicates import cmd_duplicates as run_duplicates

    return run_duplicates(args)


COMMAND_FUNCS = {
    "watch": cmd_watch,
    "search": cmd_search,
    "duplicates": cmd_duplicates,
    "gui": cmd_gui,
    "sort": cmd_sort,
    "undo": cmd_undo,
    "models": cmd_models,
    "bench": cmd_bench,
}
