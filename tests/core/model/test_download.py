"""The first model download reports progress (the hub itself is faked: no network here)."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub

from photosorter.core.model.download import hub_files, prefetch_weights
from photosorter.core.model.engine import Engine


def test_default_model_files_are_the_laion_safetensors_first() -> None:
    repo, names = hub_files("pretrained", "ViT-B-32", "laion2b_s34b_b79k")
    assert repo == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert names[0].endswith(".safetensors") and names[-1].endswith(".bin")
    assert hub_files("local-dir", "/models/x", None) is None


def fake_hub(fail_first: bool, calls: list[str]):
    def download(repo_id: str, filename: str, tqdm_class=None, **kwargs) -> str:
        calls.append(filename)
        if fail_first and len(calls) == 1:
            raise huggingface_hub.errors.EntryNotFoundError("no such file")
        bar = tqdm_class(total=3 << 20, unit="B")
        for _ in range(6):
            bar.update(1 << 19)
        bar.close()
        return f"/cache/{repo_id}/{filename}"

    return download


def test_download_progress_reaches_the_status_line(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hub(True, calls))
    seen: list[str] = []
    Engine("ViT-B-32:laion2b_s34b_b79k")._prefetch(seen.append)
    assert len(calls) == 2  # the safetensors name was missing: the next candidate came
    assert seen[0] == "Downloading model ViT-B-32:laion2b_s34b_b79k: 0 of 3 MB…"
    assert seen[-1] == "Downloading model ViT-B-32:laion2b_s34b_b79k: 3 of 3 MB…"
    assert len(seen) == 4  # one line per whole MB, not per chunk


def test_prefetch_failure_is_left_to_open_clip(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    assert prefetch_weights("pretrained", "ViT-B-32", "laion2b_s34b_b79k", print) is False
    assert prefetch_weights("local-dir", str(Path("/nowhere")), None, print) is False
