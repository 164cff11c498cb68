"""`photosorter duplicates`: groups of photos that are the same picture, best one first."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from photosorter.cli.options import (
    add_cluster_options,
    add_model_options,
    make_engine,
    open_cluster,
    open_store,
)
from photosorter.cli.output import EXIT_OK, EXIT_SOME_FAILED


def add_duplicates_parser(sub: argparse._SubParsersAction) -> None:
    from photosorter.core.find import DEFAULT_THRESHOLD, MIN_THRESHOLD

    p = sub.add_parser(
        "duplicates",
        help="find photos that are the same picture (copies, re-encoded, resized, converted)",
        description="Groups photos that are the same picture: identical files, and the same "
        "picture at another quality or size, in another format, or rotated by EXIF; other "
        "shots of a subject are not grouped. The first of each group is the one to keep: "
        "most pixels, then least compressed (most bytes per pixel), then oldest.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or images")
    p.add_argument("--json", action="store_true", help='JSON Lines: {"paths": [...], "best": ...}')
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"how alike two photos must look, {MIN_THRESHOLD}-1: the share of their 64 "
        f"perceptual-hash bits that agree (default {DEFAULT_THRESHOLD}: at most 6 differ)",
    )
    add_model_options(p)
    add_cluster_options(p)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from photosorter.cli.indexing import index_paths, report_errors
    from photosorter.core.errors import ConfigError
    from photosorter.core.find.duplicates import MIN_THRESHOLD, find_duplicates, photos_with_info

    out, err = sys.stdout, sys.stderr
    if not MIN_THRESHOLD <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be between {MIN_THRESHOLD} and 1")
    with open_cluster(args) as cluster, open_store(args.cache) as store:
        indexed = index_paths(args.paths, make_engine(args), store, err, cluster=cluster)
        photos, rows, failed = photos_with_info(store, indexed.photos)
    errors = [*indexed.errors, *failed]
    groups = find_duplicates(photos, indexed.vectors(rows), threshold=args.threshold)
    for group in groups:
        if args.json:
            record = {"paths": [str(p) for p in group.paths], "best": str(group.best.path)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            _print_group(group, out)
    if not args.json:
        extra = sum(len(g.photos) - 1 for g in groups)
        out.write(f"{len(groups)} group(s) of duplicates; {extra} photo(s) beside the best\n")
    out.flush()
    report_errors(errors, err)
    return EXIT_SOME_FAILED if errors else EXIT_OK


def _print_group(group, out: TextIO) -> None:
    for i, photo in enumerate(group.photos):
        info = photo.info
        mark = "keep" if i == 0 else "    "
        out.write(
            f"{mark}  {info.width}x{info.height} {info.format:<5} "
            f"{photo.size / 1e6:6.2f} MB  {photo.path}\n"
        )
    out.write("\n")
