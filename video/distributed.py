"""Running the shots of a video as Ray tasks: ``run_shots(jobs, stylise_shot, ClusterConfig, workdir)``.

Shots are independent units of work (nothing is coherent across a hard cut), so each is one Ray task that
stylises its frames into the shared work directory. Everything a task produces is a per-frame file written
atomically, which is what makes the run fault tolerant without any state in Ray:

- a worker killed mid-shot loses at most its frame in progress; Ray retries the task (``max_retries``) and the
  retry starts at the shot's first missing frame;
- a rerun of the whole command after the driver died redoes nothing that is on disk;
- each attempt of each shot leaves a status file ``shots/000002.json`` (host, pid, attempt, status, timings) that
  the run record collects.

``workers=1`` without an address never imports Ray: the shots run in this process, one after the other. With
``workers > 1`` a local Ray instance is started for the run (no dashboard, no usage statistics) and stopped at
the end; with an address (``--ray-address`` or ``RAY_ADDRESS``) the run joins that cluster instead. On a
cluster the work directory must be shared storage mounted at the same path on every machine: each task checks
that it sees a token file the driver wrote there and fails the run with a message saying so if not.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from media.shots import Shot

#: Seconds between two looks at the work directory to move the progress bar.
POLL_SECONDS = 1.0
#: The local instance's object store: tasks exchange only small records, frames go through the work directory.
OBJECT_STORE_BYTES = 100 * 1024**2
#: The folder holding this project's packages (``video/``, ``media/``, ...), put on each worker's path.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ClusterConfig:
    """Where the shots run.

    Attributes:
        workers: shots at once; 1 without ``address`` runs them in this process without Ray.
        address: a Ray cluster to join (``ray://host:10001``, ``host:6379`` or ``auto``); None reads
            ``RAY_ADDRESS``, and without that a run with ``workers > 1`` starts a local instance.
        threads_per_worker: TensorFlow intra-op threads of each task; None: this machine's cores / ``workers``
            locally, the cluster's CPUs / ``workers`` (at most one node's) on a cluster.
        max_retries: how often Ray reruns a shot whose worker died (each rerun resumes at its first missing frame).
    """

    workers: int = 1
    address: str | None = None
    threads_per_worker: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise UserError(f"threads per worker must be at least 1, got {self.threads_per_worker}")
        if self.max_retries < 0:
            raise UserError(f"max retries must be >= 0, got {self.max_retries}")

    @property
    def resolved_address(self) -> str | None:
        return self.address or os.environ.get("RAY_ADDRESS") or None

    @property
    def uses_ray(self) -> bool:
        return self.workers > 1 or self.resolved_address is not None


@dataclass(frozen=True)
class ShotJob:
    """Shot ``number`` (1-based, in time order) of a run, covering frames ``shot.start <= t < shot.end`` (0-based)."""

    number: int
    shot: Shot


class WorkdirNotVisible(Exception):
    """A worker does not see the work directory the driver wrote (not shared storage)."""


def cores() -> int:
    """Return the CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def status_path(workdir: Path, number: int) -> Path:
    """Return the status file of shot ``number``: ``WORKDIR/shots/000002.json``."""
    return Path(workdir) / "shots" / f"{number:06d}.json"


def read_status(workdir: Path, number: int) -> dict:
    """Return the last status shot ``number`` recorded ({} before its first attempt)."""
    path = status_path(workdir, number)
    return json.loads(path.read_text()) if path.exists() else {}


def run_shots(
    jobs: Sequence[ShotJob],
    stylise_shot: Callable[[ShotJob], dict],
    cluster: ClusterConfig,
    workdir: Path,
    frames_done: Callable[[], int] | None = None,
    total_frames: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Run ``stylise_shot(job)`` for every job, on Ray when ``cluster.uses_ray``; return each shot's status record.

    ``stylise_shot`` must be picklable (a module-level function or a ``functools.partial`` of one), must skip
    frames already on disk and returns a small JSON-able record of its work. With Ray, one bar over
    ``total_frames`` follows ``frames_done()`` (a count of finished frame files); in this process the bar is
    ``stylise_shot``'s own. Raises :class:`UserError` for a user-facing failure of any shot.
    """
    workdir = Path(workdir)
    if not cluster.uses_ray:
        return [_attempt(stylise_shot, job, workdir, token=None, threads=None) for job in jobs]
    ray = _import_ray()
    started_here = _connect(ray, cluster)
    token = _write_token(workdir)
    try:
        threads = _threads_per_task(ray, cluster)
        task = ray.remote(_attempt).options(
            num_cpus=threads, max_retries=cluster.max_retries, retry_exceptions=False,
            runtime_env={"env_vars": _worker_env(threads)})
        refs = {task.remote(stylise_shot, job, workdir, token, threads): job for job in jobs}
        return _wait_all(ray, refs, workdir, frames_done, total_frames, progress)
    finally:
        _token_path(workdir, token).unlink(missing_ok=True)
        if started_here:
            ray.shutdown()


def _attempt(stylise_shot: Callable[[ShotJob], dict], job: ShotJob, workdir: Path, token: str | None,
             threads: int | None) -> dict:
    """One attempt at one shot (a Ray task, or a plain call): check the work directory, record, run, record."""
    if token is not None and not _token_path(workdir, token).exists():
        raise WorkdirNotVisible(
            f"{workdir}: the work directory is not visible on worker {socket.gethostname()}; on a Ray cluster it "
            f"must be shared storage (e.g. NFS) mounted at the same path on every machine (pass --workdir)")
    if threads is not None:
        _limit_tensorflow_threads(threads)
    previous = read_status(workdir, job.number)
    status = {"shot": job.number, "start": job.shot.start, "end": job.shot.end, "frames": len(job.shot),
              "attempt": int(previous.get("attempt", 0)) + 1, "host": socket.gethostname(), "pid": os.getpid(),
              "threads": threads, "status": "running", "started": time.time()}
    atomic_write_json(status_path(workdir, job.number), status)
    t0 = time.perf_counter()
    try:
        result = stylise_shot(job)
    except BaseException as exc:
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
        atomic_write_json(status_path(workdir, job.number), status)
        raise
    status.update(status="done", seconds=time.perf_counter() - t0, result=result)
    atomic_write_json(status_path(workdir, job.number), status)
    return status


def _limit_tensorflow_threads(threads: int) -> None:
    """Give this worker's TensorFlow ``threads`` intra-op threads (must run before its first op)."""
    import tensorflow as tf  # deferred: the driver orchestrating Ray never needs TensorFlow itself

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # a reused worker whose TensorFlow already runs: TF_NUM_INTRAOP_THREADS set it at start


def _worker_env(threads: int) -> dict[str, str]:
    """Environment of each worker: thread counts read at TensorFlow's start, quiet logs, and this project's code
    first on the path (workers start in Ray's own folders, so they would otherwise import only what is installed)."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(min(2, threads)),
            "OMP_NUM_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
            "PYTHONPATH": path}


def _import_ray():
    try:
        import ray  # deferred: Ray is optional (the [distributed] extra) and takes seconds to import
    except ImportError:
        raise UserError("--workers N > 1 and --ray-address need Ray: pip install 'paint-your-video[distributed]'"
                        ) from None
    return ray


def _connect(ray, cluster: ClusterConfig) -> bool:
    """Join ``cluster.resolved_address`` or start a local instance; return True if this call started Ray."""
    import logging

    if ray.is_initialized():
        return False
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    address = cluster.resolved_address
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": True}
    if address is not None:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"--ray-address {address}: cannot join the Ray cluster ({exc})") from None
        return True
    threads = cluster.threads_per_worker or max(1, cores() // cluster.workers)
    ray.init(num_cpus=cluster.workers * threads, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             **quiet)
    return True


def _threads_per_task(ray, cluster: ClusterConfig) -> int:
    """Return the CPUs (= TensorFlow threads) of each task: the cluster's CPUs shared by ``workers`` shots."""
    if cluster.threads_per_worker is not None:
        return cluster.threads_per_worker
    total = int(ray.cluster_resources().get("CPU", 1))
    largest = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=total)
    return max(1, min(total // cluster.workers, largest))


def _wait_all(ray, refs: dict, workdir: Path, frames_done, total_frames: int, progress: bool) -> list[dict]:
    """Wait for every task, moving one bar over all frames; return the records in shot order."""
    from tqdm.auto import tqdm

    pending = list(refs)
    results: dict[int, dict] = {}
    count = frames_done or (lambda: 0)
    with tqdm(total=total_frames, initial=count(), desc=f"stylize ({len(refs)} shots)", unit="frame",
              disable=not progress or not total_frames, dynamic_ncols=True) as bar:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                job = refs[ref]
                try:
                    results[job.number] = ray.get(ref)
                except Exception as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise _user_facing(ray, exc, job, workdir) from None
            bar.n = count()
            bar.set_postfix(shots_done=f"{len(results)}/{len(refs)}")
            bar.refresh()
    return [results[n] for n in sorted(results)]


def _user_facing(ray, exc: Exception, job: ShotJob, workdir: Path) -> Exception:
    """Translate a task's failure into the exception the driver raises."""
    where = f"shot {job.number} (frames {job.shot.start}-{job.shot.end - 1})"
    cause = getattr(exc, "cause", None)
    if isinstance(cause, WorkdirNotVisible | UserError):
        return UserError(str(cause))
    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
        attempts = read_status(workdir, job.number).get("attempt", "?")
        return RuntimeError(f"{where}: its worker died on each of {attempts} attempts; rerun the command to resume")
    return RuntimeError(f"{where} failed: {cause!r}" if cause is not None else f"{where} failed: {exc}")


def _write_token(workdir: Path) -> str:
    token = uuid.uuid4().hex
    atomic_write_json(_token_path(workdir, token), {"written_by": socket.gethostname()})
    return token


def _token_path(workdir: Path, token: str) -> Path:
    return Path(workdir) / "shots" / f".visible-{token}.json"
