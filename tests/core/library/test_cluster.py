"""Indexing on a real (local, in-process) Ray cluster: the same vectors as a local run, shared
storage read in place, a lost worker losing no finished work, cancel, and the CLI."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photosorter import cli
from photosorter.core.library.cache import Store
from photosorter.core.library.cluster import Cluster, ClusterError, PathMap
from photosorter.core.library.pipeline import CancelToken, IndexBatch, index_photos
from photosorter.core.model.engine import Engine
from tests.conftest import REPO

ray = pytest.importorskip("ray", reason="needs Ray: pip install -e '.[test,cluster]'")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """One 2-CPU Ray cluster for the module; its workers import this checkout."""
    dirs = tmp_path_factory.mktemp("worker-dirs")
    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.update({f"PHOTOSORTER_{n}_DIR": str(dirs / n.lower()) for n in ("CACHE", "CONFIG", "DATA")})
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():  # Ray's own processes (prestarted workers) too
            mp.setenv(name, value)
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
    try:
        with Cluster.connect("auto") as joined:
            yield joined
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from photosorter.bench.inputs import make_photos

    return sorted(make_photos(tmp_path_factory.mktemp("photos"), 10, 200, 150))


@pytest.fixture(scope="module")
def local(photos: list[Path], tiny_spec: str, tmp_path_factory) -> dict[str, np.ndarray]:
    """The local pipeline's vectors, by content hash."""
    db = tmp_path_factory.mktemp("local") / "s.db"
    with Store(db) as store:
        batches = list(index_photos(photos, Engine(tiny_spec, "cpu", backend="pytorch"), store))
    return _by_key(batches)


def _by_key(batches: list[IndexBatch]) -> dict[str, np.ndarray]:
    return {r.key: v for b in batches for r, v in zip(b.ok, b.vectors, strict=True)}  # type: ignore[misc]


def _engine(spec: str) -> Engine:
    return Engine(spec, "cpu", backend="pytorch")


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for key, vector in want.items():
        cosine = np.dot(got[key], vector) / (np.linalg.norm(got[key]) * np.linalg.norm(vector))
        assert float(cosine) >= 0.9999, key


def test_cluster_run_matches_local_run_and_resumes_from_the_store(
    cluster: Cluster, photos: list[Path], local, tiny_spec: str, tmp_path: Path
) -> None:
    engine = _engine(tiny_spec)
    with Store(tmp_path / "s.db") as store:
        sent = cluster.bytes_sent
        batches = list(index_photos(photos, engine, store, cluster=cluster, batch_size=4))
        assert not engine.loaded  # this machine never loaded the model
        assert not [r.error for b in batches for r in b.results if r.error]
        assert batches[-1].progress.done == len(photos)
        _assert_same(_by_key(batches), local)
        assert cluster.bytes_sent - sent == sum(p.stat().st_size for p in photos)  # streamed
        assert len(store.get_image_info(list(local))) == len(photos)

        again = list(index_photos(photos, engine, store, cluster=cluster))
        assert again[-1].progress.cached == len(photos)


def test_shared_storage_is_read_in_place_else_the_bytes_are_sent(
    cluster: Cluster, photos: list[Path], local, tiny_spec: str, tmp_path: Path
) -> None:
    mount = tmp_path / "cluster-mount"  # the same folder as the workers see it
    shutil.copytree(photos[0].parent, mount)
    (mount / photos[0].name).unlink()  # not there yet
    (mount / photos[1].name).write_bytes(b"another file")  # not the same content
    cluster.path_map = PathMap.parse([f"{photos[0].parent}={mount}"])
    try:
        with Store(tmp_path / "s.db") as store:
            sent = cluster.bytes_sent
            batches = list(index_photos(photos, _engine(tiny_spec), store, cluster=cluster))
    finally:
        cluster.path_map = PathMap()
    assert not [r.error for b in batches for r in b.results if r.error]
    _assert_same(_by_key(batches), local)
    assert cluster.bytes_sent - sent == sum(p.stat().st_size for p in photos[:2])


def test_a_lost_worker_loses_no_finished_work(
    cluster: Cluster, photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    engine = _engine(tiny_spec)
    with Store(tmp_path / "s.db") as store:
        run = index_photos(photos, engine, store, cluster=cluster, batch_size=2)
        first = next(run)
        assert first.ok
        for actor in cluster.actors:
            ray.kill(actor, no_restart=True)
        with pytest.raises(ClusterError, match=r"lost all its workers.*run again to resume"):
            list(run)
        finished = store.get_embeddings(engine.model_id, [r.key for r in first.ok])  # type: ignore[misc]
        assert len(finished) == len(first.ok)

        again = list(index_photos(photos, engine, store, cluster=cluster, batch_size=2))
    assert again[-1].progress.cached >= len(first.ok)
    assert sum(len(b.ok) for b in again) == len(photos)


def test_cancel_stops_a_cluster_run(
    cluster: Cluster, photos: list[Path], tiny_spec: str, tmp_path: Path
) -> None:
    cancel = CancelToken()
    with Store(tmp_path / "s.db") as store:
        run = index_photos(photos, _engine(tiny_spec), store, cluster=cluster, batch_size=2,
                           cancel=cancel)  # fmt: skip
        first = next(run)
        cancel.cancel()
        rest = list(run)
    assert sum(len(b.results) for b in [first, *rest]) < len(photos)


def test_cli_index_then_search_with_the_cluster(
    cluster: Cluster, photos: list[Path], tiny_spec: str, tmp_path: Path, capsys
) -> None:
    cluster.stop_workers()  # the CLI's connection starts its own, on the same 2 CPUs
    address = ray.get_runtime_context().gcs_address
    common = ["--model", tiny_spec, "--backend", "pytorch", "--cache", str(tmp_path / "s.db")]
    folder = str(photos[0].parent)
    assert cli.main(["index", folder, "--cluster", address, *common]) == 0
    out = capsys.readouterr().out
    assert f"{len(photos)} photo(s) indexed ({len(photos)} encoded, 0 already known)" in out
    assert cli.main(["search", "red", folder, "--cluster", "auto", "--limit", "3", *common]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    """In a fresh process (this one has joined the test cluster): exit 2, one plain line."""
    done = subprocess.run(
        [sys.executable, "-m", "photosorter", "index", str(tmp_path), "--cluster", "127.0.0.1:9"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Cannot reach the Ray cluster at 127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr
