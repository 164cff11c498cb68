"""`photosorter index`: embed the photos under PATHs into the store, here or on a cluster."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from photosorter.cli.options import add_cluster_options, add_model_options, make_engine, open_store
from photosorter.cli.output import EXIT_OK, EXIT_SOME_FAILED


def add_index_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="index photos ahead of sorting and searching (on a Ray cluster with --cluster)",
        description="Reads and encodes every new photo under PATH into the store, so that "
        "later sort, search and duplicates runs only look them up. With --cluster, the "
        "photos that need the model are decoded and encoded on a Ray cluster.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or images")
    add_model_options(p)
    add_cluster_options(p)


def cmd_index(args: argparse.Namespace) -> int:
    from photosorter.cli.indexing import index_paths, report_errors
    from photosorter.cli.options import open_cluster

    out, err = sys.stdout, sys.stderr
    started = time.monotonic()
    with open_cluster(args) as cluster, open_store(args.cache) as store:
        indexed = index_paths(args.paths, make_engine(args), store, err, cluster=cluster)
    elapsed = time.monotonic() - started
    p = indexed.progress
    new = p.done - p.cached - p.failed if p else 0
    out.write(
        f"{len(indexed.photos)} photo(s) indexed ({new} encoded, "
        f"{len(indexed.photos) - new} already known), {len(indexed.errors)} failed, "
        f"in {elapsed:.1f} s\n"
    )
    out.flush()
    report_errors(indexed.errors, err)
    return EXIT_SOME_FAILED if indexed.errors else EXIT_OK
