"""The studio's job manager without a browser or TensorFlow: FIFO queue, one job at a time, resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from foundation.errors import UserError
from studio.jobs import DONE, FAILED, QUEUED, RUNNING, JobManager, JobSpec, one_line
from studio.progress import read_progress

REPO = Path(__file__).resolve().parents[2]


def spec(name: str = "a") -> JobSpec:
    return JobSpec(clip=f"input/{name}.mp4", paintings=("input/painting_0.png",))


class GatedRunner:
    """Records which jobs run, how many at once, and holds each until the test opens its gate."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.active = 0
        self.max_active = 0
        self.gates: dict[str, threading.Event] = {}
        self.started = threading.Semaphore(0)
        self.lock = threading.Lock()

    def gate(self, job_id: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(job_id, threading.Event())

    def __call__(self, job_dir: Path, job_spec: JobSpec) -> dict:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.order.append(job_dir.name)
        self.started.release()
        assert self.gate(job_dir.name).wait(20), "test never released the job"
        with self.lock:
            self.active -= 1
        (job_dir / "result.txt").write_text(job_spec.clip)
        return {"video": "result.txt"}


@pytest.fixture
def gated(tmp_path):
    runner = GatedRunner()
    manager = JobManager(tmp_path / "jobs", runner)
    yield manager, runner
    for event in runner.gates.values():
        event.set()
    manager.stop(timeout=5)


def test_jobs_run_one_at_a_time_in_submission_order_and_report_queue_positions(gated):
    manager, runner = gated
    ids = [manager.submit(spec(n)) for n in ("a", "b", "c")]
    assert runner.started.acquire(timeout=10)
    assert runner.order == [ids[0]]
    assert [manager.get(i)["status"] for i in ids] == [RUNNING, QUEUED, QUEUED]
    assert [manager.position(i) for i in ids] == [0, 1, 2]
    runner.gate(ids[0]).set()
    assert runner.started.acquire(timeout=10)
    assert [manager.position(i) for i in ids] == [None, 0, 1]
    runner.gate(ids[1]).set()
    runner.gate(ids[2]).set()
    for i in ids:
        assert manager.wait(i, timeout=10)["status"] == DONE
    assert runner.order == ids
    assert runner.max_active == 1
    record = manager.get(ids[2])
    assert record["outputs"] == {"video": "result.txt"} and record["error"] is None
    assert record["started"] <= record["finished"]
    assert (manager.job_dir(ids[2]) / "result.txt").read_text() == "input/c.mp4"
    assert [r["id"] for r in manager.list_jobs()] == ids[::-1]


def test_failed_job_records_one_line_and_the_next_job_still_runs(tmp_path):
    def runner(job_dir: Path, job_spec: JobSpec) -> dict:
        if job_spec.clip.endswith("bad.mp4"):
            raise RuntimeError("decoder exploded\nTraceback line that must not reach the page")
        if job_spec.clip.endswith("user.mp4"):
            raise UserError("painting (x.png): not an image OpenCV can decode")
        return {}

    manager = JobManager(tmp_path / "jobs", runner)
    try:
        bad, user, good = (manager.submit(spec(n)) for n in ("bad", "user", "good"))
        record = manager.wait(bad, 10)
        assert (record["status"], record["error"]) == (FAILED, "RuntimeError: decoder exploded")
        assert manager.wait(user, 10)["error"] == "painting (x.png): not an image OpenCV can decode"
        assert manager.wait(good, 10)["status"] == DONE
        on_disk = json.loads((manager.job_dir(bad) / "job.json").read_text())
        assert on_disk["status"] == FAILED and "\n" not in on_disk["error"]
    finally:
        manager.stop(5)


def test_one_line_messages():
    message = "clip (a.txt): not a video OpenCV can read"
    assert one_line(UserError(message)) == message
    assert one_line(ValueError("x\ny")) == "ValueError: x"
    assert one_line(MemoryError()) == "MemoryError"


_KILLED_SERVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from studio.jobs import JobManager, JobSpec

    def runner(job_dir, spec):
        (job_dir / "work").mkdir(exist_ok=True)
        (job_dir / "work" / "partial.txt").write_text("frame 1 done")
        time.sleep(600)

    manager = JobManager(Path(sys.argv[1]), runner)
    ids = [manager.submit(JobSpec(clip=f"input/{n}.mp4", paintings=("p.png",))) for n in ("first", "second")]
    print(" ".join(ids), flush=True)
    time.sleep(600)
""")


def test_jobs_of_a_killed_server_resume_in_order_from_their_folders(tmp_path):
    root = tmp_path / "jobs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SERVER, str(root)], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        first, second = proc.stdout.readline().split()
        deadline = time.monotonic() + 20
        while not (root / first / "work" / "partial.txt").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the server never started the first job"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert json.loads((root / first / "job.json").read_text())["status"] == RUNNING

    seen = []

    def runner(job_dir: Path, job_spec: JobSpec) -> dict:
        partial = job_dir / "work" / "partial.txt"
        seen.append((job_dir.name, partial.read_text() if partial.exists() else None))
        return {"video": "out.mp4"}

    manager = JobManager(root, runner)
    try:
        assert manager.wait(first, 10)["status"] == DONE
        assert manager.wait(second, 10)["status"] == DONE
    finally:
        manager.stop(5)
    assert seen == [(first, "frame 1 done"), (second, None)]  # same folder, work kept, original order
    assert len(list(root.iterdir())) == 2  # no new job folders


def test_finished_jobs_are_not_rerun_after_restart(tmp_path):
    calls = []
    manager = JobManager(tmp_path / "jobs", lambda d, s: calls.append(d.name) or {})
    job = manager.submit(spec())
    manager.wait(job, 10)
    manager.stop(5)
    again = JobManager(tmp_path / "jobs", lambda d, s: calls.append(d.name) or {})
    later = again.submit(spec("later"))  # resumed jobs would be queued before it
    again.wait(later, 10)
    again.stop(5)
    assert calls == [job, later]


def test_job_files_and_ids_cannot_leave_the_jobs_folder(tmp_path):
    manager = JobManager(tmp_path / "jobs", lambda d, s: {}, start_worker=False)
    src = tmp_path / "upload.mp4"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="inside the job folder"):
        manager.submit(spec(), {"../escape.mp4": src})
    with pytest.raises(ValueError, match="inside the job folder"):
        manager.submit(spec(), {str(tmp_path / "abs.mp4"): src})
    assert list((tmp_path / "jobs").iterdir()) == []
    for bad in ("../../etc", "..", "20260101-000000-abcdef/../x", ""):
        with pytest.raises(UserError, match="no such job"):
            manager.job_dir(bad)


def test_spec_checks_and_round_trip():
    with pytest.raises(UserError, match="painting"):
        JobSpec(clip="input/clip.mp4")
    with pytest.raises(UserError, match="model"):
        JobSpec(clip="input/clip.mp4", method="fast")
    s = JobSpec(clip="input/clip.mp4", paintings=("a.png", "b.png"), style_schedule="0:0,4:1", frames=3)
    assert JobSpec.from_json(json.loads(json.dumps(s.__dict__))) == s


def test_progress_read_from_a_work_directory(tmp_path):
    work = tmp_path / "work"
    assert read_progress(work).describe() == "preparing frames and optical flow"
    for folder, count in (("frames", 5), ("stylized", 3)):
        (work / folder).mkdir(parents=True)
        for i in range(1, count + 1):
            (work / folder / f"{i:06d}.png").write_bytes(b"png")
    for i, at in ((1, 100.0), (2, 103.0), (3, 120.0)):  # a pause (a restart) between frames 2 and 3
        os.utime(work / "stylized" / f"{i:06d}.png", (at, at))
    (work / "shots").mkdir()
    records = {"1:000002": {"frame": 2, "pass": 1, "seconds": 3.0, "losses": {"total": 9.0}},
               "1:000003": {"frame": 3, "pass": 1, "seconds": 3.0, "losses": {"total": 5.0}}}
    (work / "shots" / "000001_frames.json").write_text(json.dumps(records))
    p = read_progress(work)
    assert (p.frames_done, p.frames_total, p.seconds_per_frame, p.eta_seconds, p.loss) == (3, 5, 3.0, 6.0, 5.0)
    assert p.latest_frame.name == "000003.png"
    assert p.describe() == "3 / 5 frames · 3.0 s/frame · ETA 6 s · loss 5"
    (work / "run.json").write_text(json.dumps({"n_frames": 4, "frames": {}}))
    assert read_progress(work).frames_total == 4


def test_seconds_per_frame_is_the_median_gap(tmp_path):
    from studio.progress import seconds_per_frame

    paths = []
    for i, at in enumerate((0.0, 2.0, 4.0, 50.0, 52.0)):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(b"")
        os.utime(paths[-1], (at, at))
    assert seconds_per_frame(paths) == 2.0
    assert seconds_per_frame(paths[:1]) is None
