"""ModelSpec.model_id: the cache key of a model's embeddings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photosorter.core import filehashes
from photosorter.core.model.engine import ModelSpec


def _local_model(folder: Path) -> Path:
    """A local-dir model folder with 3 MiB of weights (never loaded: only hashed)."""
    folder.mkdir()
    (folder / "open_clip_config.json").write_text('{"model_cfg": {}}')
    weights = folder / "open_clip_model.safetensors"
    weights.write_bytes(os.urandom(3 << 20))
    return weights


def _rewrite_middle(weights: Path) -> None:
    """Change one byte in the middle, same size, as an in-place tensor update would."""
    st = weights.stat()
    with weights.open("r+b") as fh:
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_local_model_id_changes_when_a_middle_tensor_changes(tmp_path: Path) -> None:
    weights = _local_model(tmp_path / "my-clip")
    spec = ModelSpec.parse(f"local-dir:{tmp_path / 'my-clip'}")
    before = spec.model_id()
    assert before.startswith("local:my-clip:") and spec.model_id() == before  # stable
    _rewrite_middle(weights)
    assert spec.model_id() != before


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    hashed: list[int] = []
    real = filehashes.hash_stream
    monkeypatch.setattr(filehashes, "hash_stream", lambda fh: hashed.append(1) or real(fh))
    return hashed


def test_weights_are_hashed_once_while_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = _local_model(tmp_path / "my-clip")
    spec = ModelSpec.parse(f"local-dir:{tmp_path / 'my-clip'}")
    hashed = _count_hashing(monkeypatch)
    first = spec.model_id()
    assert len(hashed) == 2  # config and weights
    assert spec.model_id() == first and len(hashed) == 2  # from the cache in the data dir
    _rewrite_middle(weights)
    assert spec.model_id() != first and len(hashed) == 3  # only the changed file again


def test_unwritable_or_damaged_hash_cache_means_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_model(tmp_path / "my-clip")
    spec = ModelSpec.parse(f"local-dir:{tmp_path / 'my-clip'}")
    expected = spec.model_id()
    hashed = _count_hashing(monkeypatch)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PHOTOSORTER_DATA_DIR", str(blocker / "data"))  # mkdir fails, even as root
    assert spec.model_id() == expected and spec.model_id() == expected
    assert len(hashed) == 4  # works, uncached
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / filehashes.CACHE_NAME).write_text("{not json")
    monkeypatch.setenv("PHOTOSORTER_DATA_DIR", str(damaged))
    assert spec.model_id() == expected and spec.model_id() == expected
    assert len(hashed) == 6  # hashed again once, then cached in the rewritten file
    assert set(os.listdir(damaged)) == {filehashes.CACHE_NAME}  # no temporary file left
