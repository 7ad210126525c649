"""The studio's job manager: one job at a time in a background thread, a FIFO queue, jobs persisted on disk.

Each job lives in ``ROOT/<id>/``: ``job.json`` (the :class:`JobSpec`, status, timestamps, one-line error, outputs;
written atomically), ``input/`` (the uploads under names the studio chose) and whatever the runner writes (the
video runner's work directory, the MP4s). Statuses: ``queued`` -> ``running`` -> ``done`` | ``failed``.

A job survives the browser (it runs in the server's worker thread) and the server: a manager started on a root
holding ``queued`` or ``running`` jobs (a server killed mid-job) queues them again in their original order, and
the video runner resumes from the job's work directory.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from foundation.atomic import atomic_write_json
from foundation.errors import UserError

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: optimize: Gatys + Ruder per frame; fast: a per-style network (train-style); arbitrary: the any-painting network;
#: keyframes: the artist's own painted frames are the style, carried along the motion (``paintvid video --keyframe``).
METHODS = ("optimize", "fast", "arbitrary", "keyframes")
UNFINISHED = (QUEUED, RUNNING)
_JOB_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
#: The studio's name of an uploaded keyframe in a job folder: ``input/keyframe_0090.png`` paints frame 90.
_KEYFRAME_NAME = re.compile(r"^input/keyframe_(\d+)\.[a-z]+$")


@dataclass(frozen=True)
class Choices:
    """The job options a page or an API call gives (None: the video runner's default, as ``paintvid video``).

    method: ``optimize`` (Gatys + Ruder per frame), ``fast`` (``model``: a trained ``.keras`` network, by name on
    the page, by path in a job), ``arbitrary`` (one network for any painting; ``model``: None for the committed
    default weights, else a ``.npz``, by name under ``models/`` in the studio, by path in a job) or ``keyframes``
    (the artist's painted keyframes are the style; no painting, no model; the film is made at ``width``).
    width: working width in pixels (the method paints at it); seconds / frames: how much of the clip (None = all).
    output_width: width of the film (None: the clip's own, at most 3840, as ``paintvid video``).
    temporal_weight, preserve_colors, style_schedule, first_iterations, iterations: as ``paintvid video``.
    strength: arbitrary only, as ``paintvid video --strength``: 0 keeps each frame's own look, 1 the painting's.
    stroke_scale: arbitrary only, as ``paintvid video --stroke-scale``: size of the painted marks (2 = twice as large).
    """

    method: str = "optimize"
    model: str | None = None
    width: int = 256
    seconds: float | None = None
    frames: int | None = None
    temporal_weight: float | None = None
    preserve_colors: str = "none"
    style_schedule: str | None = None
    first_iterations: int | None = None
    iterations: int | None = None
    strength: float = 1.0
    output_width: int | None = None
    stroke_scale: float = 1.0


@dataclass(frozen=True, kw_only=True)
class JobSpec(Choices):
    """What one studio job stylises and how (the :class:`Choices` plus its files); file names are relative to the
    job folder.

    Attributes:
        clip: the input clip, e.g. ``input/clip.mp4``; paintings: style images (``input/painting_0.jpg``, ...).
        keyframes: the keyframes method's painted frames, named by the frame they paint (1-based, among the frames
            the job reads): ``input/keyframe_0001.png``, ``input/keyframe_0090.jpg`` (see :func:`keyframe_frame`).
        weights: the VGG16 weights (``bundled`` or a path); side_by_side: also write the comparison video;
        evaluate: measure warping error and per-frame style loss afterwards (optimisation path only).
    """

    clip: str
    paintings: tuple[str, ...] = ()
    keyframes: tuple[str, ...] = ()
    weights: str = "bundled"
    side_by_side: bool = True
    evaluate: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"method {self.method!r}: choose {', '.join(METHODS[:-1])} or {METHODS[-1]}")
        if self.method == "fast" and not self.model:
            raise UserError("fast mode needs a model (train one with `make train-style STYLE=...`)")
        if self.method in ("optimize", "arbitrary") and not self.paintings:
            raise UserError("painting: give at least one painting")
        if self.method == "keyframes":
            self._check_keyframes()
        if self.method == "arbitrary" and self.model and not self.model.endswith(".npz"):
            raise UserError(f"model {self.model!r}: the arbitrary method takes arbitrary-style weights (.npz)")
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"strength {self.strength}: use 0..1")
        if not 0.25 <= self.stroke_scale <= 4.0:
            raise UserError(f"stroke scale {self.stroke_scale}: use 0.25..4")

    def _check_keyframes(self) -> None:
        if not self.keyframes:
            raise UserError("keyframes: give at least one painted keyframe (files named by frame number, e.g. "
                            "0001.png)")
        if self.paintings:
            raise UserError("keyframes: the painted keyframes are the style; give no painting")
        for name in self.keyframes:
            keyframe_frame(name)

    @classmethod
    def from_json(cls, data: Mapping) -> JobSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["paintings"] = tuple(values.get("paintings", ()))
        values["keyframes"] = tuple(values.get("keyframes", ()))
        return cls(**values)


def keyframe_frame(name: str) -> int:
    """Return the frame (1-based) a job's keyframe file paints, from its name ``input/keyframe_0090.png`` -> 90;
    UserError for a name the studio does not give."""
    match = _KEYFRAME_NAME.match(name)
    if not match or int(match.group(1)) < 1:
        raise UserError(f"keyframe {name!r}: expected input/keyframe_N.png with N the frame it paints, from 1")
    return int(match.group(1))


#: ``runner(job_dir, spec) -> outputs``: does the work of one job; outputs are JSON-able (paths relative to job_dir).
Runner = Callable[[Path, JobSpec], dict]


def one_line(exc: BaseException) -> str:
    """Return the one-line message shown for a failed job (a UserError's own text, else ``Type: message``)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, UserError):
        return text or "bad input"
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


@dataclass
class JobManager:
    """Runs jobs one at a time, first in first out, in a background thread; jobs persist under ``root``.

    ``start=False`` leaves the worker stopped (tests call :meth:`start`); unfinished jobs found under ``root``
    are queued again at construction, oldest first.
    """

    root: Path
    runner: Runner
    start_worker: bool = True
    _pending: deque = field(default_factory=deque, init=False, repr=False)
    _running: str | None = field(default=None, init=False, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _stop: bool = field(default=False, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        for record in self.list_jobs(oldest_first=True):
            if record["status"] in UNFINISHED:
                self._pending.append(record["id"])
        if self.start_worker:
            self.start()

    # -- public API ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (once)."""
        with self._cond:
            if self._thread is None:
                self._stop = False
                self._thread = threading.Thread(target=self._work, name="studio-jobs", daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker after the job it is running (queued jobs stay queued on disk)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def submit(self, spec: JobSpec, files: Mapping[str, Path] | None = None) -> str:
        """Create a job folder, copy ``files`` (name in the job folder -> source) into it, queue it; return its id.

        The names are the studio's (see :func:`studio.uploads.store_upload`); a name that leaves the folder
        raises ValueError before anything is written.
        """
        files = dict(files or {})
        for name in files:
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ValueError(f"{name!r}: job files must stay inside the job folder")
        job_id = self._new_id()
        job_dir = self.root / job_id
        job_dir.mkdir(parents=True)
        for name, src in files.items():
            (job_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, job_dir / name)
        record = {"id": job_id, "status": QUEUED, "created": time.time(), "started": None, "finished": None,
                  "error": None, "spec": asdict(spec), "outputs": {}}
        with self._cond:
            self._write(record)
            self._pending.append(job_id)
            self._cond.notify_all()
        return job_id

    def job_dir(self, job_id: str) -> Path:
        """Return the folder of job ``job_id``; raise UserError for an id that is not one of this manager's."""
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id) or not (self.root / job_id).is_dir():
            raise UserError(f"job {job_id!r}: no such job")
        return self.root / job_id

    def get(self, job_id: str) -> dict:
        """Return the job record (``job.json``) plus ``position``: 0 running, k = k-th in the queue, None otherwise."""
        record = json.loads((self.job_dir(job_id) / "job.json").read_text())
        record["position"] = self.position(job_id)
        return record

    def position(self, job_id: str) -> int | None:
        with self._cond:
            if job_id == self._running:
                return 0
            return self._pending.index(job_id) + 1 if job_id in self._pending else None

    def list_jobs(self, oldest_first: bool = False) -> list[dict]:
        """Return every job record under ``root``, newest first (folders without a readable job.json skipped)."""
        records = []
        for path in self.root.glob("*/job.json"):
            if _JOB_ID.match(path.parent.name):
                try:
                    records.append(json.loads(path.read_text()))
                except (OSError, json.JSONDecodeError):
                    continue
        records.sort(key=lambda r: (r.get("created", 0), r["id"]), reverse=not oldest_first)
        return records

    def wait(self, job_id: str, timeout: float | None = None) -> dict:
        """Block until job ``job_id`` is done or failed (or ``timeout`` seconds passed); return its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                record = json.loads((self.job_dir(job_id) / "job.json").read_text())
                if record["status"] not in UNFINISHED:
                    return record
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return record
                self._cond.wait(0.5 if left is None else min(left, 0.5))

    # -- worker -------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                job_id = self._pending.popleft()
                self._running = job_id
            try:
                self._run_one(job_id)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def _run_one(self, job_id: str) -> None:
        job_dir = self.root / job_id
        record = json.loads((job_dir / "job.json").read_text())
        record.update(status=RUNNING, started=time.time(), error=None)
        self._write(record)
        try:
            outputs = self.runner(job_dir, JobSpec.from_json(record["spec"]))
        except Exception as exc:  # noqa: BLE001 - any failure becomes the job's one-line error; the server lives on
            record.update(status=FAILED, finished=time.time(), error=one_line(exc))
        else:
            record.update(status=DONE, finished=time.time(), outputs=outputs)
        self._write(record)

    def _write(self, record: dict) -> None:
        atomic_write_json(self.root / record["id"] / "job.json", {k: v for k, v in record.items() if k != "position"})

    def _new_id(self) -> str:
        while True:
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            if not (self.root / job_id).exists():
                return job_id
