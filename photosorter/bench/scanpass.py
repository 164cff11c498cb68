"""Seconds of the scan and the stat pass over an indexed folder: what `photosorter search`,
`duplicates` and `index` spend before any model or ranking work when the store knows the
photos. The store is written to by nothing here, but use a copy of a library's store anyway.

    python -m photosorter.bench.scanpass FOLDER --cache STORE --model SPEC [--limit N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path


def scan_and_stat(folder: Path, store_path: Path, model: str, limit: int | None) -> dict:
    """The first `limit` photos under `folder` (all when None) scanned, then stat-passed
    against the store at `store_path` for `model`: seconds and counts."""
    from photosorter.core.library.cache import Store
    from photosorter.core.library.known import stat_pass
    from photosorter.core.library.scanner import scan_names
    from photosorter.core.model.engine import Engine

    model_id = Engine(model, "cpu").model_id  # names the model; loads nothing
    started, cpu = time.perf_counter(), time.process_time()
    names = list(itertools.islice(scan_names([folder]), limit))
    scanned = time.perf_counter()
    with Store(store_path) as store:
        known = stat_pass(names, store, model_id)
    done = time.perf_counter()
    return {
        "photos": len(names),
        "scan_s": round(scanned - started, 2),
        "stat_s": round(done - scanned, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "known": len(known.fast),
        "failed": len(known.errors),
        "todo": len(known.todo),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m photosorter.bench.scanpass", description=__doc__)
    p.add_argument("folder", type=Path, help="an indexed folder of photos")
    p.add_argument("--cache", type=Path, required=True, help="the store (a copy)")
    p.add_argument("--model", required=True, help="the model the folder was indexed with")
    p.add_argument("--limit", type=int, default=None, help="the first N photos only")
    args = p.parse_args(argv)
    print(json.dumps(scan_and_stat(args.folder, args.cache, args.model, args.limit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
