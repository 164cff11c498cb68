"""Fetch a model's weights from the Hugging Face hub first, reporting bytes as they come.

open_clip downloads silently, and without a connection huggingface_hub retries every file
name with back-off (over a minute) before giving up. So the app fetches the same file itself
(into the same HF cache, where open_clip then finds it): cached weights need no network;
otherwise one short request tells whether the hub can be reached at all, then the download
reports its progress. Failures other than "no connection" are left to open_clip.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
PROBE_TIMEOUT_S = 8.0  # one request to the hub, no retries: enough to tell "offline"
# Base classes (by name) of transport failures in httpx, requests and urllib3 (a server or
# proxy that hangs up without an answer included).
_NETWORK_CLASSES = frozenset(
    {"NetworkError", "TimeoutException", "ProxyError", "RemoteProtocolError", "NewConnectionError"}
)


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


def is_network_error(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, means the hub could not be reached
    (no connection, DNS, proxy, time-out, offline mode): not a missing or damaged file."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, (ConnectionError, TimeoutError)):  # OfflineModeIsEnabled too
            return True
        if _NETWORK_CLASSES & {c.__name__ for c in type(seen).__mro__}:
            return True
        if type(seen).__name__ == "gaierror":  # socket.gaierror: no DNS
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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


def prefetch_weights(
    kind: str, name: str, tag: str | None, report: Progress, timeout: float = PROBE_TIMEOUT_S
) -> bool:
    """Download the weights open_clip will load for this model; True when they are cached.

    `report(0, None)` announces a download before the first request. When the hub cannot
    be reached, the network error is raised after one attempt (no retries); any other
    failure (a file name the repo lacks, a server error) is left to open_clip.
    """
    try:
        found = hub_files(kind, name, tag)
    except Exception as exc:  # never worse than open_clip's own download
        log.debug("weights prefetch skipped: %s", exc)
        return False
    if found is None:
        return False
    repo, names = found
    if any(_cached(repo, filename) for filename in names):
        return True
    report(0, None)
    for filename in names:
        try:
            _download(repo, filename, report, timeout)
            return True
        except Exception as exc:
            if is_network_error(exc):
                raise
            log.debug("prefetch of %s/%s failed: %s", repo, filename, exc)  # the next name
    return False


def _cached(repo: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, filename), str)


def _download(repo: str, filename: str, report: Progress, timeout: float) -> None:
    """One short request for the file's metadata, then the download itself."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    get_hf_file_metadata(hf_hub_url(repo, filename), timeout=timeout)  # no retries
    hf_hub_download(repo, filename, tqdm_class=_reporting_tqdm(report), etag_timeout=timeout)
