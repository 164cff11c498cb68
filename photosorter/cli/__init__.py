"""Command line: `photosorter [gui] [PATH...]` and its sub-commands; a thin shell over core.

One module per sub-command (sort, actions: --action and undo, watch); options.py and
output.py hold what they share. This module only parses and dispatches.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from photosorter.cli.actions import add_undo_parser
from photosorter.cli.duplicates import add_duplicates_parser
from photosorter.cli.index import add_index_parser
from photosorter.cli.options import add_model_options
from photosorter.cli.output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from photosorter.cli.search import add_search_parser
from photosorter.cli.sort import add_sort_parser
from photosorter.cli.watch import add_watch_parser
from photosorter.core.errors import PhotoSorterError

COMMANDS = ("gui", "sort", "index", "undo", "watch", "search", "duplicates", "models", "bench")


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
    add_model_options(gui)

    for add_parser in (
        add_sort_parser, add_index_parser, add_undo_parser, add_watch_parser, add_search_parser,
        add_duplicates_parser,
    ):  # fmt: skip
        add_parser(sub)
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
    from photosorter.core.model import DEFAULT_MODEL
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
# -- bench ---------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from photosorter.bench import run

    return run(args)


def cmd_watch(args: argparse.Namespace) -> int:
    from photosorter.cli.watch import cmd_watch as run_watch

    return run_watch(args)


def cmd_sort(args: argparse.Namespace) -> int:
    from photosorter.cli.sort import cmd_sort as run_sort

    return run_sort(args)


def cmd_undo(args: argparse.Namespace) -> int:
    from photosorter.cli.actions import cmd_undo as run_undo

    return run_undo(args)


def cmd_index(args: argparse.Namespace) -> int:
    from photosorter.cli.index import cmd_index as run_index

    return run_index(args)


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
    "index": cmd_index,
    "undo": cmd_undo,
    "models": cmd_models,
    "bench": cmd_bench,
}
