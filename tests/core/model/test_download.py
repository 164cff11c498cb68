"""The first model download: progress, and a plain "no connection" found in one attempt.

The hub is faked, or unreachable on purpose (a local port): no test contacts the internet.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import huggingface_hub
import pytest

from photosorter.core.errors import ModelDownloadError, ModelError
from photosorter.core.model.download import hub_files, is_network_error, prefetch_weights
from photosorter.core.model.engine import Engine

DEFAULT = "ViT-B-32:laion2b_s34b_b79k"


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


@pytest.fixture
def online_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty HF cache and a hub that answers every metadata request."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url, **kw: None)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **kw: None)


def test_download_progress_reaches_the_status_line(monkeypatch, online_hub) -> None:
    calls: list[str] = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hub(True, calls))
    seen: list[str] = []
    Engine(DEFAULT)._prefetch(seen.append)
    assert len(calls) == 2  # the safetensors name was missing: the next candidate came
    # Said before the first byte arrives, then one line per whole MB, not per chunk.
    assert seen == [f"Downloading model {DEFAULT}…"] + [
        f"Downloading model {DEFAULT}: {mb} of 3 MB…" for mb in (1, 2, 3)
    ]


def test_prefetch_failure_is_left_to_open_clip(monkeypatch, online_hub) -> None:
    def missing(*args, **kwargs):
        raise huggingface_hub.errors.EntryNotFoundError("no such file")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    assert prefetch_weights("pretrained", "ViT-B-32", "laion2b_s34b_b79k", print) is False
    assert prefetch_weights("local-dir", str(Path("/nowhere")), None, print) is False


def test_no_connection_is_said_after_one_attempt(monkeypatch, online_hub) -> None:
    """The hub unreachable: one request, no retries, and a plain ModelDownloadError."""
    attempts: list[str] = []

    def refused(url: str, **kwargs: object) -> None:
        attempts.append(url)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", refused)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("no"))
    seen: list[str] = []
    with pytest.raises(ModelDownloadError, match="no connection") as caught:
        Engine(DEFAULT)._prefetch(seen.append)
    assert len(attempts) == 1
    assert seen == [f"Downloading model {DEFAULT}…"]
    assert "local-dir:" in str(caught.value)


def test_cached_weights_need_no_request(monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: "/cache/w")
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda *a, **k: pytest.fail())
    seen: list[str] = []
    Engine(DEFAULT)._prefetch(seen.append)
    assert seen == []


def test_network_errors_are_told_from_other_failures() -> None:
    class ConnectError(Exception):  # the shape of httpx's transport errors
        pass

    class NetworkError(Exception):
        pass

    class HttpxConnect(ConnectError, NetworkError):
        pass

    try:
        try:
            raise HttpxConnect("[Errno 111] Connection refused")
        except Exception as inner:
            raise RuntimeError("Failed to download weights for tag 'x'") from inner
    except RuntimeError as wrapped:
        assert is_network_error(wrapped)
    assert is_network_error(socket.gaierror(-2, "Name or service not known"))
    remote_protocol_error = type("RemoteProtocolError", (Exception,), {})  # a proxy hung up
    assert is_network_error(remote_protocol_error("Server disconnected without a response"))
    assert not is_network_error(huggingface_hub.errors.EntryNotFoundError("404"))
    assert not is_network_error(ValueError("/root/.cache/huggingface/hub/x: header too large"))


def test_a_damaged_cached_file_is_not_called_offline(monkeypatch, tmp_path: Path) -> None:
    """A corrupt checkpoint in the HF cache (its path holds "hub"): a load error, naming it."""
    repo, names = hub_files("pretrained", "ViT-B-32", "laion2b_s34b_b79k")
    snapshot = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    (snapshot / names[0]).write_bytes(struct.pack("<Q", 1 << 40) + b"garbage")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError) as caught:
        Engine(DEFAULT, "cpu").load()
    assert not isinstance(caught.value, ModelDownloadError)
    assert "connection" not in str(caught.value) and "internet" not in str(caught.value)
    assert str(caught.value).startswith(f"Could not load the model {DEFAULT}")


def test_a_failure_naming_the_hub_cache_is_not_called_offline() -> None:
    """Only errors that mean "unreachable" are; a path under .../huggingface/hub/ is not."""
    path = "/home/u/.cache/huggingface/hub/models--laion--x/snapshots/1/open_clip_model.bin"
    try:
        try:
            raise IsADirectoryError(21, "Is a directory", path)
        except OSError as inner:
            raise RuntimeError(f"Failed to load checkpoint {path}") from inner
    except RuntimeError as exc:
        error = Engine(DEFAULT)._explain(exc)
    assert not isinstance(error, ModelDownloadError)
    assert path in str(error)
    offline = Engine(DEFAULT)._explain(huggingface_hub.errors.OfflineModeIsEnabled("offline"))
    assert isinstance(offline, ModelDownloadError)


class _Refuser:
    """A local port that resets every connection and counts them (the unreachable "hub")."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stop = threading.Event()
        self.sock.settimeout(0.1)  # so that close() is seen: closing wakes no accept()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.count += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # a reset, as a refusing firewall or a dead proxy gives

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_cli_without_network_says_so_once(tmp_path: Path) -> None:
    """The real download path, network unreachable (not HF_HUB_OFFLINE): one request, one
    plain sentence, exit 2. Every address goes to a local port, never outside."""
    from tests.fixtures.photoset import make_photoset

    make_photoset(tmp_path / "p", n=1, bad_files=False)
    (tmp_path / "c.toml").write_text('[[category]]\nname = "red"\n', encoding="utf-8")
    hub = _Refuser()
    url = f"http://127.0.0.1:{hub.port}"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE" and "PROXY" not in k}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=url, HTTPS_PROXY=url, HTTP_PROXY=url)
    env.update(HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "photosorter", "sort", str(tmp_path / "p"), "--categories",
             str(tmp_path / "c.toml"), "--model", DEFAULT, "--cache", str(tmp_path / "s.db")],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
    finally:
        hub.close()
    assert proc.returncode == 2, proc.stderr
    # One request (the HTTP client may reconnect once), not a minute of retries per file name
    # (14 connections before, and about 60 s).
    assert 1 <= hub.count <= 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no connection" in lines[0] and "local-dir:" in lines[0]
