"""Fetch a model's weights from the Hugging Face hub first, reporting bytes as they come.

open_clip downloads silently; a first run fetches ~600 MB, so the app fetches the same
file itself (into the same HF cache, where open_clip then finds it) with a progress
callback. Any failure here is left to open_clip's own download and its error handling.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def hub_files(kind: str, name: str, tag: str | None) -> tuple[str, list[str]] | None:
    """(repo id, candidate file names, safetensors first) open_clip would fetch, or None."""
    from open_clip import pretrained

    if kind == "pretrained":
        cfg = pretrained.get_pretrained_cfg(name, tag or "") or {}
        hub = cfg.get("hf_hub")
        if not hub:
            return None
        repo, filename = os.path.split(hub)
    elif kind == "hf-hub":
        repo, filename = name, ""
    else:
        return None
    filename = filename or pretrained.HF_WEIGHTS_NAME
    safe = getattr(pretrained, "_get_safe_alternatives", None)  # open_clip's preference order
    names = [*(safe(filename) if safe else []), filename]
    return repo, list(dict.fromkeys(names))


def _reporting_tqdm(report: Progress) -> type:
    from tqdm.auto import tqdm

    class ReportingTqdm(tqdm):  # type: ignore[misc, valid-type]
        """A silent progress bar that forwards its count to `report`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(disable=False, file=io.StringIO())
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            report(int(self.n), int(self.total) if self.total else None)
            return shown

    return ReportingTqdm


def prefetch_weights(kind: str, name: str, tag: str | None, report: Progress) -> bool:
    """Download the weights open_clip will load for this model; True when they are cached."""
    try:
        from huggingface_hub import hf_hub_download

        found = hub_files(kind, name, tag)
        if found is None:
            return False
        repo, names = found
        for filename in names:
            try:
                hf_hub_download(repo, filename, tqdm_class=_reporting_tqdm(report))
                return True
            except Exception as exc:  # not there under this name, or offline: next one
                log.debug("prefetch of %s/%s failed: %s", repo, filename, exc)
    except Exception as exc:  # never worse than open_clip's own download
        log.debug("weights prefetch skipped: %s", exc)
    return False
