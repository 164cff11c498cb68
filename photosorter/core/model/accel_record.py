"""What this machine learned about one model's image encoders: verdicts and timings.

A verdict says whether a backend matched eager fp32 on the user's own photos; the cost
table holds measured seconds per photo and one-time preparation costs. Both are kept in
`verdicts.json` beside the exports, and dropped with them when torch, OpenVINO or NNCF
change (their outputs could differ).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from photosorter.core.model.accel_choice import CostTable

log = logging.getLogger(__name__)
_FILE = "verdicts.json"


def software_versions() -> str:
    """Software whose upgrade invalidates a verdict (and the exports made with it)."""
    from importlib import metadata

    found = []
    for name in ("torch", "openvino", "nncf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name}={metadata.version(name)}")
    return " ".join(found)


class BackendRecord:
    """Verdicts and costs of the backends of one model, saved in `folder`."""

    def __init__(self, folder: Path, verdicts: dict[str, dict], costs: CostTable) -> None:
        self.folder = folder
        self.verdicts = verdicts
        self.costs = costs

    @classmethod
    def load(cls, folder: Path) -> BackendRecord:
        """What was saved in `folder`; nothing when it is missing, damaged or made by other
        software (then its exports go too)."""
        try:
            data = json.loads((folder / _FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(folder, {}, CostTable())
        if not isinstance(data, dict) or data.get("versions") != software_versions():
            with contextlib.suppress(OSError):
                shutil.rmtree(folder)
            return cls(folder, {}, CostTable())
        found = data.get("backends", {})
        verdicts = found if isinstance(found, dict) else {}
        return cls(folder, verdicts, CostTable.from_json(data.get("costs")))

    def ok(self, name: str) -> bool:
        return self.verdicts.get(name, {}).get("ok") is True

    def failed(self, name: str) -> bool:
        return self.verdicts.get(name, {}).get("ok") is False

    def judge(self, name: str, ok: bool, cosine: float, images: int) -> None:
        """Keep `name`'s verdict (and save)."""
        self.verdicts[name] = {"ok": ok, "cosine": round(cosine, 5), "images": images}
        self.save()

    def save(self) -> None:
        """Verdicts and timings, atomically (a read-only data dir: they are made again)."""
        path = self.folder / _FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{_FILE}.{os.getpid()}.{threading.get_ident()}")
            payload = {"versions": software_versions(), "backends": self.verdicts}
            payload["costs"] = self.costs.to_json()
            tmp.write_text(json.dumps(payload, indent=1, allow_nan=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot save %s: %s", path, exc)
