"""Indexing on a Ray cluster: this machine scans, hashes and keeps the store; the cluster's
workers decode and encode the photos whose content is new, with the code a local run uses.

Ray is optional (`pip install 'photosorter[cluster]'`) and imported here only, inside
functions. Workers are long-lived actors that load the model once (one per GPU where the
cluster has GPUs). A photo reaches a worker by its path on shared storage when a PathMap
maps it there and the worker finds the same content there (its hash); else its bytes are
sent from here, the bytes in flight bounded. Results are written here as they arrive, a
batch at a time (one writer), so a lost worker loses no finished work and a re-run resumes
from the store.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photosorter.core.errors import ConfigError, ModelError, PhotoSorterError
from photosorter.core.library.cache import ImageInfo
from photosorter.core.library.images import open_image_file, stream_digest
from photosorter.core.library.pipeline import (
    BatchWriter,
    CancelToken,
    IndexBatch,
    PhotoResult,
    Prepared,
    decode_for_model,
    failed_read,
    guarded_read,
)
from photosorter.core.model.engine import Engine
from photosorter.core.userfiles import hash_bytes

INSTALL_HINT = "Indexing on a cluster needs Ray: pip install 'photosorter[cluster]'."
MAX_BYTES_IN_FLIGHT = 256 << 20  # photos' bytes sent to the cluster and not yet answered
BATCHES_PER_WORKER = 2  # one encoding, one on its way: a worker never waits for the next
CPUS_PER_WORKER = 2  # on a CPU-only cluster: threads decoding, then encoding, per worker
CONNECT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 300.0  # for a worker to load the model (an autoscaler may add a node first)
LOST = "the cluster worker indexing it was lost; run again to index it"


class ClusterError(PhotoSorterError):
    """Ray is missing, or the cluster cannot be reached or lost all its workers."""


def import_ray() -> Any:
    """The ray module, or a ClusterError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class PathMap:
    """Where this machine's folders are on the cluster's shared storage (LOCAL=CLUSTER)."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, texts: Sequence[str]) -> PathMap:
        pairs = []
        for text in texts:
            local, sep, remote = text.partition("=")
            if not sep or not local.strip() or not remote.strip():
                raise ConfigError(
                    f"path map {text!r}: expected LOCAL=CLUSTER, e.g. /mnt/photos=/data/photos"
                )
            local_dir = Path(local.strip()).expanduser().absolute().as_posix()
            pairs.append((local_dir.rstrip("/"), remote.strip().rstrip("/")))
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)  # the longest prefix wins
        return cls(tuple(pairs))

    def to_cluster(self, path: Path) -> str | None:
        """`path` as the workers see it, or None when no mapping covers it."""
        name = Path(path).absolute().as_posix()
        for local, remote in self.pairs:
            if name == local or name.startswith(local + "/"):
                return remote + name[len(local) :]
        return None


@dataclass
class _Job:
    """One photo on its way: its result so far and what the worker reads (None: no work)."""

    result: PhotoResult
    source: str | bytes | None = None  # its path on the shared storage, or its bytes

    @property
    def n_bytes(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else 0


@dataclass
class _Sent:
    worker: Any
    jobs: list[_Job]
    n_bytes: int


@dataclass
class _Workers:
    """The actors serving one model, and the batches each has in hand."""

    key: tuple[str, str, str]
    actors: list[Any]
    busy: dict[int, int] = field(default_factory=dict)  # id(actor) -> batches in flight


class Cluster:
    """A connection to a Ray cluster that decodes and encodes photos for this machine."""

    def __init__(self, ray: Any, path_map: PathMap, owns_ray: bool) -> None:
        self._ray = ray
        self.path_map = path_map
        self._owns_ray = owns_ray
        self._workers: _Workers | None = None
        self.bytes_sent = 0  # photos' bytes streamed from here (not read from shared storage)

    @classmethod
    def connect(cls, address: str, path_map: PathMap | None = None) -> Cluster:
        """Connect to the cluster at `address` ("auto": the one `ray start` started here or
        $RAY_ADDRESS names); the Ray session this process already has, if any."""
        ray = import_ray()
        owns = not ray.is_initialized()
        if not owns:
            joined = ray.get_runtime_context().gcs_address
            if address not in ("auto", joined):
                raise ClusterError(f"This process is already connected to the cluster {joined}.")
        else:
            _probe(address)
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError: all mean "no"
                raise ClusterError(_unreachable(address, exc)) from None
        return cls(ray, path_map or PathMap(), owns)

    def close(self) -> None:
        """Stop the workers (and leave the cluster, when this connection joined it)."""
        self.stop_workers()
        if self._owns_ray:
            self._ray.shutdown()

    def stop_workers(self) -> None:
        """Free the cluster's resources this connection holds; the next job starts anew."""
        if self._workers is not None:
            for actor in self._workers.actors:
                self._ray.kill(actor)
            self._workers = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def actors(self) -> list[Any]:
        """The workers now serving (empty before the first job)."""
        return list(self._workers.actors) if self._workers else []

    def index(
        self,
        todo: list[Path],
        engine: Engine,
        writer: BatchWriter,
        *,
        cancel: CancelToken | None = None,
        batch_size: int = 32,
    ) -> Iterator[IndexBatch]:
        """index_photos' second half on the cluster: hash here, decode + encode there."""
        workers = self._workers_for(engine, len(todo))
        inflight: dict[Any, _Sent] = {}
        retry: deque[Path] = deque()  # not found on the shared storage: send the bytes
        batch: list[_Job] = []
        settled: list[_Job] = []  # errors and known content: no worker needed
        readers = min(8, 2 * (os.cpu_count() or 1))

        def cancelled() -> bool:
            return cancel is not None and cancel.is_set()

        def submit() -> Iterator[IndexBatch]:
            while len(inflight) >= len(workers.actors) * BATCHES_PER_WORKER or (
                inflight and sum(s.n_bytes for s in inflight.values()) >= MAX_BYTES_IN_FLIGHT
            ):
                yield from self._collect(workers, inflight, writer, retry, block=True)
            worker = min(workers.actors, key=lambda a: workers.busy.get(id(a), 0))
            items = [(job.result.key, job.source) for job in batch]
            sent = _Sent(worker, list(batch), sum(job.n_bytes for job in batch))
            inflight[worker.encode.remote(items)] = sent
            workers.busy[id(worker)] = workers.busy.get(id(worker), 0) + 1
            self.bytes_sent += sent.n_bytes
            batch.clear()

        with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="hash") as pool:
            queue: deque[Future[_Job]] = deque()
            pending = iter(todo)
            try:
                while not cancelled():
                    while len(queue) < batch_size + readers:
                        if retry:
                            path, shared = retry.popleft(), False
                        elif (path := next(pending, None)) is not None:
                            shared = True
                        else:
                            break
                        queue.append(pool.submit(self._identify, path, writer, shared))
                    if not queue:
                        if not inflight:
                            break
                        yield from self._collect(workers, inflight, writer, retry, block=True)
                        continue
                    job = queue.popleft().result()
                    (batch if job.source is not None else settled).append(job)
                    if len(settled) >= batch_size:
                        yield writer.write([j.result for j in settled], {})
                        settled.clear()
                    if batch and (len(batch) >= batch_size or not queue):
                        yield from submit()
                    yield from self._collect(workers, inflight, writer, retry, block=False)
                if settled and not cancelled():
                    yield writer.write([j.result for j in settled], {})
            finally:
                for fut in queue:
                    fut.cancel()

    def _identify(self, path: Path, writer: BatchWriter, shared: bool) -> _Job:
        """Check and hash one photo here; its source for the worker when it needs encoding."""
        remote = self.path_map.to_cluster(path) if shared else None

        def read() -> _Job:
            fh, st = open_image_file(path)
            with fh:
                data = None if remote else fh.read()
                key = stream_digest(fh) if data is None else hash_bytes(data)
            result = PhotoResult(path, key, size=st.st_size, mtime_ns=st.st_mtime_ns)
            if writer.store.get_embeddings(writer.model, [key]):  # known content: no work
                return _Job(result)
            return _Job(result, remote or data)

        job = guarded_read(path, read)
        return _Job(job.result) if isinstance(job, Prepared) else job

    def _collect(
        self,
        workers: _Workers,
        inflight: dict[Any, _Sent],
        writer: BatchWriter,
        retry: deque[Path],
        *,
        block: bool,
    ) -> Iterator[IndexBatch]:
        """Write the answers that came back (waiting for one when `block`)."""
        if not inflight:
            return
        ray = self._ray
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=None if block else 0)
        for ref in ready:
            sent = inflight.pop(ref)
            workers.busy[id(sent.worker)] -= 1
            try:
                vectors, outcomes = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                _drop(workers, sent.worker)
                yield writer.write([_lost(job.result) for job in sent.jobs], {})
                if not workers.actors:
                    raise ClusterError(
                        f"The cluster lost all its workers ({_first_line(exc)}). The photos "
                        "indexed so far are saved: run again to resume, or index on this "
                        "machine without a cluster."
                    ) from None
                continue
            yield writer.write(*_answers(sent.jobs, vectors, outcomes, retry))

    def _workers_for(self, engine: Engine, count: int) -> _Workers:
        """The actors for `engine`'s model, started once and kept for later jobs."""
        key = (str(engine.spec), engine.requested_device or "auto", engine.requested_backend)
        if self._workers is not None and self._workers.key == key and self._workers.actors:
            for actor in self._workers.actors:
                actor.plan.remote(count // len(self._workers.actors))
            return self._workers
        self.stop_workers()
        ray = self._ray
        n, options = _worker_shape(ray.available_resources(), ray.cluster_resources(), key[1])
        remote = ray.remote(PhotoEncoder).options(max_restarts=1, max_task_retries=1, **options)
        threads = options["num_cpus"]
        actors = [
            remote.remote(key[0], key[1], key[2], engine.model_id, threads, count // n)
            for _ in range(n)
        ]
        self._workers = _Workers(key, self._started(actors))
        return self._workers

    def _started(self, actors: list[Any]) -> list[Any]:
        """The actors that loaded the model; a ClusterError (with the reason) if none did."""
        ray = self._ray
        calls = {actor.ready.remote(): actor for actor in actors}
        ready, late = ray.wait(list(calls), num_returns=len(calls), timeout=START_TIMEOUT_S)
        started, reason = [], f"none found room on the cluster within {START_TIMEOUT_S:.0f} s"
        for ref in ready:
            try:
                ray.get(ref)
                started.append(calls[ref])
            except ray.exceptions.RayError as exc:
                reason = _cause(exc)
        for ref in late:
            ray.kill(calls[ref])
        if not started:
            for actor in actors:
                ray.kill(actor)
            raise ClusterError(f"The cluster's workers could not start: {reason}.")
        return started


def _worker_shape(
    free: dict[str, float], total: dict[str, float], device: str
) -> tuple[int, dict[str, int]]:
    """How many workers fit in the cluster's free resources now (at least one, which waits
    for room), and what each takes: a GPU and a share of the CPUs where GPUs are free, else
    CPUS_PER_WORKER CPUs."""
    cpus, gpus = int(free.get("CPU", 0)), int(free.get("GPU", 0))
    if gpus and device in ("auto", "cuda"):
        return gpus, {"num_gpus": 1, "num_cpus": max(1, min(8, cpus // gpus))}
    per = min(CPUS_PER_WORKER, max(1, int(total.get("CPU", 1))))
    return max(1, cpus // per), {"num_cpus": per}


def _answers(
    jobs: list[_Job], vectors: np.ndarray, outcomes: list[ImageInfo | str | None], retry: deque
) -> tuple[list[PhotoResult], dict[str, tuple[np.ndarray, ImageInfo]]]:
    """A worker's answer as BatchWriter.write's arguments; photos it did not find on the
    shared storage go to `retry` (their bytes will be sent)."""
    results: list[PhotoResult] = []
    fresh: dict[str, tuple[np.ndarray, ImageInfo]] = {}
    rows = iter(vectors)
    for job, outcome in zip(jobs, outcomes, strict=True):
        if outcome is None:
            retry.append(job.result.path)
        elif isinstance(outcome, str):
            results.append(PhotoResult(job.result.path, error=outcome))
        else:
            results.append(job.result)
            fresh[job.result.key] = (next(rows), outcome)  # type: ignore[index]
    return results, fresh


def _lost(result: PhotoResult) -> PhotoResult:
    return PhotoResult(result.path, error=LOST)


def _drop(workers: _Workers, actor: Any) -> None:
    workers.actors = [a for a in workers.actors if a is not actor]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _cause(exc: BaseException) -> str:
    """The worker's own error inside a Ray error (a missing model, say), in one line."""
    cause = getattr(exc, "cause", None) or getattr(exc, "error_msg", None)
    if isinstance(cause, BaseException):
        return _cause(cause)
    if isinstance(cause, str):
        return cause.strip().splitlines()[-1] if cause.strip() else _first_line(exc)
    return _first_line(exc)


def _probe(address: str) -> None:
    """A plain TCP connect to HOST:PORT first: an unreachable cluster fails in seconds."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local": Ray finds (or starts) the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(_unreachable(address, exc)) from None


def _unreachable(address: str, exc: BaseException) -> str:
    return (
        f"Cannot reach the Ray cluster at {address} ({_first_line(exc)}). Start it "
        "(ray start --head) or check the address; without a cluster, PhotoSorter indexes "
        "on this machine."
    )


class PhotoEncoder:
    """A cluster worker (a Ray actor): loads the model once, then decodes and encodes batches
    of photos exactly as a local run does (same decode, same self-checked image encoder)."""

    def __init__(
        self, model: str, device: str, backend: str, model_id: str, threads: int, planned: int
    ) -> None:
        self.engine = Engine(model, None if device == "auto" else device, backend=backend)
        if self.engine.model_id != model_id:  # another model folder or other weights there
            raise ModelError(f"the cluster's copy of the model {model} differs from this one's")
        self.spec = self.engine.preprocess_spec  # loads the model
        self.threads = threads
        if self.engine.device == "cpu":
            import torch

            torch.set_num_threads(threads)
        self.plan(planned)

    def ready(self) -> bool:
        """Answers once the model is loaded (a failure to load raised in __init__)."""
        return True

    def plan(self, count: int) -> None:
        """A job of about `count` photos for this worker (Engine.plan_images)."""
        self.engine.plan_images(max(1, count))

    def encode(
        self, items: list[tuple[str, str | bytes]]
    ) -> tuple[np.ndarray, list[ImageInfo | str | None]]:
        """(key, path on the shared storage or bytes) -> the vectors of the photos decoded,
        in order, and per photo its ImageInfo, its error, or None: not found at that path."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            prepared = list(pool.map(lambda item: self._load(*item), items))
        pixels = [p.pixels for p in prepared if p is not None and p.pixels is not None]
        vectors = self.engine.encode_images(np.stack(pixels)) if pixels else np.zeros((0, 0))
        outcomes = [
            None if p is None else p.info if p.pixels is not None else p.result.error
            for p in prepared
        ]
        return vectors, outcomes

    def _load(self, key: str, source: str | bytes) -> Prepared | None:
        if isinstance(source, bytes):
            result = PhotoResult(Path(key), key)
            if hash_bytes(source) != key:
                return failed_read(result.path, "damaged on its way to the cluster")
            return guarded_read(result.path, lambda: decode_for_model(source, result, self.spec))
        path = Path(source)
        try:
            fh, st = open_image_file(path)
        except (OSError, PhotoSorterError):
            return None  # not on the shared storage (or not readable there): send the bytes
        with fh:
            if stream_digest(fh) != key:
                return None  # another file at that path
            fh.seek(0)
            result = PhotoResult(path, key)
            return guarded_read(result.path, lambda: decode_for_model(fh, result, self.spec, st))
