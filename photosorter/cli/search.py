"""`photosorter search`: photos ranked by words, by likeness to a photo, or both."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from photosorter.cli.options import (
    add_cluster_options,
    add_model_options,
    make_engine,
    open_cluster,
    open_store,
)
from photosorter.cli.output import EXIT_OK, EXIT_SOME_FAILED

DEFAULT_LIMIT = 20


def add_search_parser(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "search",
        help="find photos by words or by likeness to a photo (--like)",
        description="Ranks the photos under PATH by how well they match QUERY (words), a "
        "photo (--like), or both: each part counts equally, on the scale of its own "
        "similarities. With --like, a first argument that is no existing file or folder "
        "is the QUERY.",
    )
    p.add_argument("terms", nargs="+", metavar="[QUERY] PATH", help="words, then folders")
    p.add_argument("--like", type=Path, metavar="PHOTO", help="photos that look like this one")
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N (default {DEFAULT_LIMIT})",
    )
    p.add_argument("--json", action="store_true", help='JSON Lines: {"path": ..., "score": ...}')
    add_model_options(p)
    add_cluster_options(p)


def split_terms(terms: list[str], like: Path | None) -> tuple[str | None, list[Path]]:
    """(QUERY or None, PATHs) from the positional arguments."""
    from photosorter.core.errors import ConfigError

    if like is None or (len(terms) > 1 and not os.path.lexists(terms[0])):
        query, rest = terms[0], terms[1:]
    else:
        query, rest = None, terms
    if not rest:
        raise ConfigError("search needs a folder (PATH) to search in")
    if query is not None and not query.strip():
        raise ConfigError("the search QUERY is empty")
    return query, [Path(p) for p in rest]


def cmd_search(args: argparse.Namespace) -> int:
    from photosorter.cli.indexing import index_paths, report_errors
    from photosorter.core.errors import ConfigError
    from photosorter.core.find.search import combine, rank, text_query

    out, err = sys.stdout, sys.stderr
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    query, roots = split_terms(args.terms, args.like)
    like = args.like.resolve() if args.like else None
    if like is not None and not like.is_file():
        raise ConfigError(f"--like {args.like}: no such photo")
    with open_cluster(args) as cluster, open_store(args.cache) as store:
        engine = make_engine(args)
        indexed = index_paths(
            roots, engine, store, err, extra=[like] if like else [], cluster=cluster
        )
        parts = [text_query(engine, store, query)] if query is not None else []
    rows = [i for i, r in enumerate(indexed.photos) if r.path != like]  # not the query itself
    if like is not None:
        parts.append(_like_vector(indexed, like, args.like))
    vectors = indexed.vectors[rows] if rows else indexed.vectors[:0]
    ranked = rank(vectors, combine(parts, vectors), args.limit)
    for row, score in zip(ranked.index, ranked.score, strict=True):
        path = str(indexed.photos[rows[row]].path)
        if args.json:
            out.write(json.dumps({"path": path, "score": round(float(score), 4)}) + "\n")
        else:
            out.write(f"{score:.4f}  {path}\n")
    out.flush()
    report_errors(indexed.errors, err)
    return EXIT_SOME_FAILED if indexed.errors else EXIT_OK


def _like_vector(indexed, like: Path, shown: Path):
    """The embedding of the --like photo (a ConfigError when it could not be read)."""
    from photosorter.core.errors import ConfigError

    for i, r in enumerate(indexed.photos):
        if r.path == like:
            return indexed.vectors[i]
    failed = [r.error for r in indexed.errors if r.path == like]
    raise ConfigError(f"--like {shown}: {failed[0] if failed else 'not an image'}")
