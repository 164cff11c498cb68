"""Settings: TOML round trip, atomic save, bad values fall back with a warning."""

from __future__ import annotations

from pathlib import Path

from photosorter.core.model.classifier import DEFAULT_MIN_FIT
from photosorter.core.model.engine import DEFAULT_MODEL
from photosorter.core.settings import Settings, Source, load_settings, save_settings, settings_path


def test_defaults_when_missing():
    settings, warnings = load_settings()
    assert settings == Settings()
    assert settings.model == DEFAULT_MODEL
    assert warnings == []


def test_round_trip(tmp_path):
    sources = (Source(tmp_path / "a"), Source(tmp_path / "b", watch=True))
    settings = Settings(
        model="local-dir:/models/x", device="cpu", backend="pytorch", threshold=0.25,
        action="copy", sensitivity="high",
        destination=tmp_path / "out", sources=sources, categories_file=tmp_path / "c.toml",
        watch_polling=True, cluster="head.local:6379",
    )  # fmt: skip
    save_settings(settings)
    assert settings_path().is_file()
    loaded, warnings = load_settings()
    assert warnings == []
    assert loaded == settings
    assert not list(settings_path().parent.glob(".*.tmp"))


def test_invalid_values_fall_back_with_warnings():
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(
        'model = ""\ndevice = "tpu"\nbackend = "warp"\nthreshold = 3\naction = "delete"\n'
        'sources = [{path = "/x"}, {nope = 1}, "/y"]\nfuture_key = "kept"\ncluster = 5\n',
        encoding="utf-8",
    )
    settings, warnings = load_settings()
    assert (settings.model, settings.device, settings.threshold, settings.action) == (
        DEFAULT_MODEL, "auto", 0.0, "move",
    )  # fmt: skip
    assert [s.path for s in settings.sources] == [Path("/x"), Path("/y")]
    assert (settings.backend, settings.cluster) == ("auto", "")
    assert len(warnings) == 7
    save_settings(settings)
    assert 'future_key = "kept"' in settings_path().read_text(encoding="utf-8")


def test_sensitivity_maps_to_min_fit_and_old_files_still_load():
    """A settings file from before "Sort only when sure" (a bare threshold) loads as it was;
    a bad sensitivity falls back to Normal with a warning."""
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('model = "m"\nthreshold = 0.3\n', encoding="utf-8")
    old, warnings = load_settings()
    assert (old.threshold, old.sensitivity, warnings) == (0.3, "normal", [])
    assert old.min_fit == DEFAULT_MIN_FIT
    assert (
        Settings(sensitivity="low").min_fit < DEFAULT_MIN_FIT < Settings(sensitivity="high").min_fit
    )
    settings_path().write_text('sensitivity = "extreme"\n', encoding="utf-8")
    bad, warnings = load_settings()
    assert bad.sensitivity == "normal" and len(warnings) == 1 and "sensitivity" in warnings[0]


def test_broken_toml_gives_defaults_and_a_warning():
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text("model = [unclosed", encoding="utf-8")
    settings, warnings = load_settings()
    assert settings == Settings()
    assert len(warnings) == 1 and "not valid TOML" in warnings[0]


def test_sources_without_duplicates(tmp_path):
    s = Settings().with_source(tmp_path).with_source(tmp_path)
    assert len(s.sources) == 1
    assert s.without_source(tmp_path).sources == ()


def test_watch_a_source(tmp_path):
    s = Settings().with_source(tmp_path / "a").with_watch(tmp_path / "b", True)
    assert s.watched == [tmp_path / "b"]  # added when missing
    s = s.with_watch(tmp_path / "a", True).with_watch(tmp_path / "b", False)
    assert s.watched == [tmp_path / "a"]
    assert [src.path for src in s.sources] == [tmp_path / "a", tmp_path / "b"]


def test_bad_watch_polling_falls_back(tmp_path):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('watch_polling = "yes"\n', encoding="utf-8")
    settings, warnings = load_settings()
    assert settings.watch_polling is False and len(warnings) == 1
