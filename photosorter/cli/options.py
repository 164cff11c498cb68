"""Options and set-up shared by the sub-commands: model, store, categories."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from photosorter.core.errors import PhotoSorterError

if TYPE_CHECKING:  # loaded by the commands that use them, not to build the parser
    from photosorter.core.categories import CategorySet

ACTIONS = ("move", "copy", "tag")  # photosorter.core.files.fileops.ACTIONS, without importing it


def add_model_options(p: argparse.ArgumentParser) -> None:
    from photosorter.core.model import DEFAULT_MODEL

    p.add_argument(
        "--model",
        default=None,
        metavar="SPEC",
        help=f"ARCH:TAG, hf-hub:ORG/NAME or local-dir:PATH (default {DEFAULT_MODEL})",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the fastest found)")
    p.add_argument(
        "--backend",
        default=None,
        help="image encoder: auto (fastest proven), pytorch (plain), openvino-int8, "
        "openvino-bf16, openvino-fp32, torch-bf16, torch-fp16",
    )
    p.add_argument("--cache", type=Path, default=None, metavar="PATH", help="SQLite store file")


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        default=None,
        metavar="auto|ADDRESS",
        help="decode and encode new photos on a Ray cluster: auto (the one `ray start` "
        "started here, or $RAY_ADDRESS) or HOST:PORT; needs photosorter[cluster]",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="LOCAL=CLUSTER",
        help="a folder of this machine as the cluster's workers see it on shared storage "
        "(repeatable); photos elsewhere are sent to the workers",
    )


def open_cluster(args: argparse.Namespace):
    """A context manager giving the Cluster that --cluster names, or None."""
    if not getattr(args, "cluster", None):
        if getattr(args, "path_map", None):
            raise PhotoSorterError("--path-map goes with --cluster")
        return contextlib.nullcontext()
    from photosorter.core.library.cluster import Cluster, PathMap

    return _on_stderr(Cluster.connect(args.cluster, PathMap.parse(args.path_map)))


@contextlib.contextmanager
def _on_stderr(cluster):
    """`cluster`, with whatever else prints to sys.stdout meanwhile sent to stderr: Ray prints
    a lost worker's "(raylet) ..." lines to sys.stdout from a thread of its own, which would
    break --json. The commands write their results to the stdout they took at their start."""
    with contextlib.redirect_stdout(sys.stderr), cluster as opened:
        yield opened


def open_store(path: Path | None):
    from photosorter.core.library.cache import Store

    return Store(path)


def make_engine(args: argparse.Namespace):
    from photosorter.core.model.engine import DEFAULT_MODEL, Engine
    from photosorter.core.settings import Overrides

    model = Overrides.from_options(args.model).get("model")  # --model, else $PHOTOSORTER_MODEL
    return Engine(
        model.value if model else DEFAULT_MODEL,
        args.device,
        backend=getattr(args, "backend", None) or "auto",
    )


def load_category_args(args: argparse.Namespace) -> CategorySet:
    from photosorter.core.categories import load_categories

    categories = load_categories(args.categories)
    if getattr(args, "threshold", None) is not None:
        if not 0 <= args.threshold <= 1:
            raise PhotoSorterError("--threshold must be between 0 and 1")
        from dataclasses import replace

        categories = replace(categories, threshold=args.threshold)
    return categories
