"""`photosorter search`: photos ranked by words, by likeness to a photo, or both."""

from __future__ import annotations

import argparse
import json
import os
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
    from photosorter.core.find.search import text_query

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
    if like is not None:
        parts.append(_like_vector(indexed, like, args.like))
    for path, score in _best(indexed, parts, like, args.limit, err):
        if args.json:
            out.write(json.dumps({"path": str(path), "score": round(float(score), 4)}) + "\n")
        else:
            out.write(f"{score:.4f}  {path}\n")
    out.flush()
    report_errors(indexed.errors, err)
    return EXIT_SOME_FAILED if indexed.errors else EXIT_OK


def _best(indexed, parts: list, like: Path | None, limit: int, err: TextIO):
    """(path, score) of the `limit` photos best matching `parts`, the --like photo left out:
    its content's other copies stay. Past `ann.EXACT_LIMIT` photos, through the search index
    (built once, with progress on `err`)."""
    import numpy as np

    from photosorter.core.find.ann import search
    from photosorter.core.find.search import combine, spread_sample

    searched = [i for i, r in enumerate(indexed.photos) if not _is_photo(r, like)]
    if not searched:
        return
    rows = np.unique(indexed.rows[searched])
    vectors = indexed.matrix.vectors
    query = combine(parts, spread_sample(vectors, rows))
    ranked = search(indexed.matrix, query, limit, rows=rows, on_progress=_IndexProgress(err))
    by_row = np.argsort(indexed.rows, kind="stable")  # photos in row order: copies together
    sorted_rows = indexed.rows[by_row]
    shown = 0
    for row, score in zip(ranked.index, ranked.score, strict=True):
        lo, hi = np.searchsorted(sorted_rows, [row, row + 1])
        for i in by_row[lo:hi]:
            path = indexed.photos[i].path
            if path != like and shown < limit:
                shown += 1
                yield path, score


class _IndexProgress:
    """Says on `err` that the search index is being built (minutes at 10M photos, once), with
    a progress line on a terminal."""

    def __init__(self, err: TextIO) -> None:
        from photosorter.cli.output import ProgressLine

        self.err = err
        self.line = ProgressLine(err) if err.isatty() else None

    def __call__(self, progress) -> None:
        if progress.done == 0:
            print("building the search index (once; later searches reuse it)", file=self.err)
        elif self.line:
            self.line.update(progress)
        if self.line and progress.done >= progress.total:
            self.line.finish()


def _like_vector(indexed, like: Path, shown: Path):
    """The embedding of the --like photo (a ConfigError when it could not be read)."""
    from photosorter.core.errors import ConfigError

    for i, r in enumerate(indexed.photos):
        if _is_photo(r, like):
            return indexed.vectors([i])[0]
    failed = [r.error for r in indexed.errors if _is_photo(r, like)]
    raise ConfigError(f"--like {shown}: {failed[0] if failed else 'not an image'}")


def _is_photo(result, photo: Path | None) -> bool:
    """Whether `result` is of `photo` (a resolved path), by name: no `Path` made for it."""
    return photo is not None and os.path.normcase(result.where) == os.path.normcase(photo)
