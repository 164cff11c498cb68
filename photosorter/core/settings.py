"""The user's settings: one typed object saved as TOML under the config dir.

Loading never fails: a missing file gives the defaults, and an unreadable file or a bad
value falls back to its default with a plain warning the GUI can show. Qt-free.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from photosorter.core import paths
from photosorter.core.errors import StorageError
from photosorter.core.model import DEFAULT_MIN_FIT, DEFAULT_MODEL

ACTIONS: tuple[str, ...] = ("move", "copy", "tag")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
BACKENDS: tuple[str, ...] = ("auto", "pytorch")  # what Settings offers; the CLI has more
FILE_NAME = "settings.toml"
# "Sort only when sure": how well a photo must fit its best category to be sorted
# (classifier.classify's min_fit); below it, it stays Uncategorized.
SENSITIVITY_MIN_FIT: dict[str, float] = {"low": 0.6, "normal": DEFAULT_MIN_FIT, "high": 0.8}
OVERRIDABLE: tuple[str, ...] = ("model", "device", "backend")  # by the command line
MODEL_ENV = "PHOTOSORTER_MODEL"  # a model for every command, unless --model names another
SORTS: tuple[str, ...] = ("confidence", "date-taken", "file-date", "name", "size")
THUMBNAIL_SIZES = (80, 400)  # the grid's smallest and largest tile, in logical pixels


@dataclass(frozen=True)
class Source:
    """A folder (or single image) the user sorts; `watch` is for the inbox feature."""

    path: Path
    watch: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything the app remembers between runs (window geometry lives in QSettings)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    backend: str = "auto"  # image encoder: "auto" (fastest that passes its check), "pytorch"...
    sensitivity: str = "normal"  # sort only when sure: "low" | "normal" | "high"
    threshold: float = 0.0  # a minimum score (older versions' setting); 0: the file's
    action: str = "move"
    destination: Path | None = None
    sources: tuple[Source, ...] = ()
    categories_file: Path | None = None
    watch_polling: bool = False  # watch by polling: network drives, no inotify limit
    sort: str = "confidence"  # the grid's order (one of SORTS)
    sort_descending: bool = True  # largest (most confident, newest, Z) first
    thumbnail_size: int = 160  # the grid's tile side, within THUMBNAIL_SIZES
    cluster: str = ""  # a Ray cluster's address ("auto", HOST:PORT) to index on; "": here
    # Keys this version does not know, kept so a newer version's settings survive a save.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def with_source(self, path: Path) -> Settings:
        """The settings with `path` added to the sources (no duplicates)."""
        path = Path(path)
        if any(s.path == path for s in self.sources):
            return self
        return replace(self, sources=(*self.sources, Source(path)))

    def without_source(self, path: Path) -> Settings:
        return replace(self, sources=tuple(s for s in self.sources if s.path != Path(path)))

    def with_watch(self, path: Path, watch: bool) -> Settings:
        """The settings with `path` (added if missing) watched or not."""
        path = Path(path)
        settings = self.with_source(path)
        sources = tuple(replace(s, watch=watch) if s.path == path else s for s in settings.sources)
        return replace(settings, sources=sources)

    @property
    def min_fit(self) -> float:
        """The classifier's min_fit for the chosen sensitivity."""
        return SENSITIVITY_MIN_FIT[self.sensitivity]

    @property
    def watched(self) -> list[Path]:
        """The sources watched for new photos."""
        return [s.path for s in self.sources if s.watch]

    def to_toml(self) -> str:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            model=self.model,
            device=self.device,
            backend=self.backend,
            sensitivity=self.sensitivity,
            threshold=self.threshold,
            action=self.action,
            watch_polling=self.watch_polling,
            sort=self.sort,
            sort_descending=self.sort_descending,
            thumbnail_size=self.thumbnail_size,
            cluster=self.cluster,
        )
        if self.destination is not None:
            data["destination"] = str(self.destination)
        if self.categories_file is not None:
            data["categories_file"] = str(self.categories_file)
        data["sources"] = [{"path": str(s.path), "watch": s.watch} for s in self.sources]
        import tomli_w  # here: the command line reads overrides only, never the TOML

        return tomli_w.dumps(data)


@dataclass(frozen=True)
class Override:
    """A value given for this run only, and where: `origin` is "command line" or
    "environment", `name` the option or variable that gave it ("--model", MODEL_ENV)."""

    value: str
    origin: str
    name: str


@dataclass(frozen=True)
class Overrides:
    """Settings the command line or the environment override for this run (model, device,
    backend). They win over the saved settings until the user changes that setting."""

    items: Mapping[str, Override] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls,
        model: str | None = None,
        device: str | None = None,
        backend: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Overrides:
        """The overrides of `--model/--device/--backend` and of $PHOTOSORTER_MODEL."""
        items = {
            key: Override(value, "command line", f"--{key}")
            for key, value in zip(OVERRIDABLE, (model, device, backend), strict=True)
            if value
        }
        env_model = environ.get(MODEL_ENV, "").strip()
        if "model" not in items and env_model:
            items["model"] = Override(env_model, "environment", MODEL_ENV)
        return cls(items)

    def get(self, key: str) -> Override | None:
        return self.items.get(key)

    def apply(self, settings: Settings) -> Settings:
        """The settings in effect: the saved ones with these values on top."""
        return replace(settings, **{key: o.value for key, o in self.items.items()})

    def without(self, keys: Iterable[str]) -> Overrides:
        """These overrides less `keys` (settings the user has chosen since)."""
        dropped = set(keys)
        return Overrides({k: o for k, o in self.items.items() if k not in dropped})


def settings_path() -> Path:
    return paths.config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings plus warnings about anything that was ignored."""
    path = Path(path) if path else settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as exc:
        return Settings(), [f"Could not read the settings file {path}: {exc}; using defaults."]
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"The settings file {path} is not valid TOML ({exc}); using defaults."]
    return parse_settings(data, str(path))


def parse_settings(data: dict[str, Any], where: str = "settings") -> tuple[Settings, list[str]]:
    """Build Settings from a decoded TOML table; bad values fall back with a warning."""
    warnings: list[str] = []
    defaults = Settings()

    def bad(key: str, value: Any, expected: str) -> None:
        warnings.append(f"{where}: {key} = {value!r} is not {expected}; using the default.")

    values: dict[str, Any] = {}
    model = data.get("model", defaults.model)
    if isinstance(model, str) and model.strip():
        values["model"] = model.strip()
    else:
        bad("model", model, "a model name")
    choices = (("device", DEVICES), ("backend", BACKENDS), ("action", ACTIONS),
               ("sensitivity", tuple(SENSITIVITY_MIN_FIT)), ("sort", SORTS))  # fmt: skip
    for key, allowed in choices:
        choice = data.get(key, getattr(defaults, key))
        if choice in allowed:
            values[key] = choice
        else:
            bad(key, choice, f"one of {', '.join(allowed)}")
    threshold = data.get("threshold", defaults.threshold)
    if (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and math.isfinite(threshold)
        and 0 <= threshold < 1
    ):
        values["threshold"] = float(threshold)
    else:
        bad("threshold", threshold, "a number from 0 to 1")
    for key in ("watch_polling", "sort_descending"):
        flag = data.get(key, getattr(defaults, key))
        if isinstance(flag, bool):
            values[key] = flag
        else:
            bad(key, flag, "true or false")
    side = data.get("thumbnail_size", defaults.thumbnail_size)
    low, high = THUMBNAIL_SIZES
    if isinstance(side, int) and not isinstance(side, bool) and low <= side <= high:
        values["thumbnail_size"] = side
    else:
        bad("thumbnail_size", side, f"a whole number from {low} to {high}")
    cluster = data.get("cluster", defaults.cluster)
    if isinstance(cluster, str):
        values["cluster"] = cluster.strip()
    else:
        bad("cluster", cluster, "a cluster address")
    for key in ("destination", "categories_file"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str) and value.strip():
            values[key] = Path(os.path.expanduser(value.strip()))
        else:
            bad(key, value, "a path")
    values["sources"] = tuple(_parse_sources(data.get("sources", []), where, warnings))
    known = {"model", "device", "backend", "sensitivity", "threshold", "action", "destination",
             "categories_file", "sources", "watch_polling", "sort", "sort_descending",
             "thumbnail_size", "cluster"}  # fmt: skip
    extra = {k: v for k, v in data.items() if k not in known}
    return Settings(**values, extra=extra), warnings


def _parse_sources(raw: Any, where: str, warnings: list[str]) -> list[Source]:
    if not isinstance(raw, list):
        warnings.append(f"{where}: sources must be a list of folders; ignoring it.")
        return []
    out: list[Source] = []
    for entry in raw:
        if isinstance(entry, str):  # a bare path is fine too
            entry = {"path": entry}
        path = entry.get("path") if isinstance(entry, dict) else None
        watch = entry.get("watch", False) if isinstance(entry, dict) else False
        if not isinstance(path, str) or not path.strip() or not isinstance(watch, bool):
            warnings.append(f"{where}: ignoring an invalid source entry {entry!r}.")
            continue
        source = Source(Path(os.path.expanduser(path.strip())), watch)
        if all(s.path != source.path for s in out):
            out.append(source)
    return out


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically: a crash never leaves a half-written settings file. A folder that
    cannot be written raises a StorageError naming the file."""
    path = Path(path) if path else settings_path()
    paths.make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(settings.to_toml(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise StorageError(f"Cannot save the settings to {path}: {exc.strerror or exc}") from None
