"""The studio's behaviour without the page: check inputs, preview, submit jobs, describe a job for display.

:mod:`studio.app` only lays out Gradio components and wires them to a :class:`Studio`; bad input raises
:class:`foundation.errors.UserError` here (one line) and becomes a message on the page there.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from foundation.errors import UserError
from media.schedule import parse_schedule
from media.upsample import check_output_width
from media.video_io import ReadOptions, expected_frames
from studio.config import StudioConfig
from studio.jobs import DONE, FAILED, QUEUED, RUNNING, Choices, JobManager, JobSpec
from studio.progress import format_seconds, read_progress, read_run_json
from studio.runner import KEYFRAMES_NO_PREVIEW, check_keyframe_output_width, find_fast_models, preview, run_job
from studio.uploads import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    check_clip,
    check_job_size,
    check_keyframes,
    check_painting,
    keyframe_name,
    safe_suffix,
)
from transfer.arbitrary.weights_file import read_header

SAMPLE_VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm")
SAMPLE_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class JobView:
    """A job as the page shows it: one status line, the latest frame, and the results once there are some."""

    job_id: str | None
    status: str
    markdown: str
    latest_frame: str | None = None
    video: str | None = None
    side_by_side: str | None = None
    evaluation: str = ""
    losses: pd.DataFrame | None = None

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)


@dataclass
class Studio:
    """One studio: its configuration and its job manager (``manager`` is made from the config when not given)."""

    config: StudioConfig
    manager: JobManager | None = None

    def __post_init__(self) -> None:
        if self.manager is None:
            self.manager = JobManager(self.config.jobs_dir, run_job)

    # -- what the page offers ------------------------------------------------------------------------------
    def sample_clips(self) -> list[str]:
        return _files(self.config.samples, SAMPLE_VIDEO_SUFFIXES)

    def sample_paintings(self) -> list[str]:
        return _files(self.config.samples, SAMPLE_IMAGE_SUFFIXES)

    def models(self) -> dict[str, Path]:
        """Return the fast-mode models under ``models/`` by file name."""
        return {p.name: p for p in find_fast_models(self.config.models)}

    def model_path(self, name: str | None) -> Path:
        models = self.models()
        if not name or name not in models:
            known = ", ".join(models) or f"none under {self.config.models}/ (train one with `make train-style`)"
            raise UserError(f"model {name!r}: not a fast-mode model of this studio (known: {known})")
        return models[name]

    def arbitrary_model(self, name: str | None) -> Path | None:
        """Return None (the any-painting painter), or the previous network's ``.npz`` called ``name`` under
        ``models/`` (by name only, like the fast-mode models); raise UserError for a missing or wrong file."""
        if name and (Path(name).name != name or not name.endswith(".npz")):
            raise UserError(f"model {name!r}: give the name of a .npz under {self.config.models}/, or none for the "
                            "default weights")
        if not name:
            return None
        path = self.config.models / name
        read_header(path)
        return path

    def clip_info(self, clip: str | None) -> str:
        """Return one line about an uploaded clip for the page (raises UserError for a bad one)."""
        info = check_clip(clip, self.config.limits)
        audio = f", audio ({info.audio_codec})" if info.has_audio else ", no audio"
        size = f"{info.width}x{info.height}, {info.fps:.3g} fps ({info.duration:.1f} s)"
        return f"{info.frame_count} frames, {size}{audio}"

    # -- preview -------------------------------------------------------------------------------------------
    def preview(self, clip: str | None, paintings: list[str], choices: Choices, frame: int = 0, width: int = 128,
                iterations: int = 20) -> str:
        """Stylise one frame at low resolution; return the PNG's path (none for painted keyframes: UserError)."""
        if choices.method == "keyframes":
            raise UserError(KEYFRAMES_NO_PREVIEW)
        limits = self.config.limits
        info = check_clip(clip, limits)
        model = self._model(choices)
        if choices.method != "fast":
            _check_paintings(paintings, limits)
        if not 16 <= int(width) <= min(512, limits.max_width):
            raise UserError(f"preview width {width}: use 16..{min(512, limits.max_width)} pixels")
        if not 1 <= int(iterations) <= 300:
            raise UserError(f"preview iterations {iterations}: use 1..300")
        if not 0 <= int(frame) < info.frame_count:
            raise UserError(f"preview frame {frame}: the clip has frames 0..{info.frame_count - 1}")
        out_dir = self._preview_dir()
        path = preview(Path(clip), [Path(p) for p in paintings], out_dir, frame=int(frame), width=int(width),
                       iterations=int(iterations), method=choices.method, model=model,
                       style_schedule=choices.style_schedule, preserve_colors=choices.preserve_colors,
                       weights=self.config.resolved_weights, strength=choices.strength,
                       stroke_scale=choices.stroke_scale)
        return str(path)

    def _model(self, choices: Choices) -> Path | None:
        """Return the network file of ``choices`` (None for the optimisation path)."""
        if choices.method == "fast":
            return self.model_path(choices.model)
        if choices.method == "arbitrary":
            return self.arbitrary_model(choices.model)
        return None

    def _preview_dir(self) -> Path:
        root = self.config.previews_dir
        root.mkdir(parents=True, exist_ok=True)
        old = sorted(p for p in root.iterdir() if p.is_dir())
        for stale in old[: max(0, len(old) - self.config.keep_previews + 1)]:
            shutil.rmtree(stale, ignore_errors=True)
        out = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.perf_counter_ns() % 10**9:09d}"
        out.mkdir()
        return out

    # -- jobs ----------------------------------------------------------------------------------------------
    def submit(self, clip: str | None, paintings: list[str], choices: Choices,
               keyframes: list[str] | None = None) -> str:
        """Check everything, copy the uploads into a new job folder, queue the job; return its id.

        ``keyframes`` (painted frames named by frame number) are the keyframes method's style and are ignored by
        the others, as ``paintings`` are by it.
        """
        limits = self.config.limits
        info = check_clip(clip, limits)
        model = self._model(choices)
        model = str(model.resolve()) if model else None
        painted = choices.method == "keyframes"
        paintings = [] if painted else paintings
        if choices.method not in ("fast", "keyframes"):
            _check_paintings(paintings, limits)
        read = ReadOptions(frames=choices.frames, seconds=choices.seconds, width=choices.width)
        n_frames = expected_frames(info, read)
        check_job_size(info, n_frames, int(choices.width), limits)
        check_output_width(choices.output_width, int(choices.width))
        if painted:
            check_keyframe_output_width(choices.output_width)
        if choices.style_schedule and choices.method not in ("fast", "keyframes"):
            parse_schedule(choices.style_schedule, len(paintings), info.fps)  # a bad schedule fails here
        clip_name = f"input/clip{safe_suffix(clip, VIDEO_SUFFIXES)}"
        files = {clip_name: Path(clip)}
        for k, p in enumerate(paintings):
            files[f"input/painting_{k}{safe_suffix(p, IMAGE_SUFFIXES)}"] = Path(p)
        painted_frames = check_keyframes(keyframes or [], info, n_frames, limits) if painted else {}
        key_names = {keyframe_name(frame, p): p for frame, p in painted_frames.items()}
        spec = JobSpec(clip=clip_name, paintings=tuple(list(files)[1:]), keyframes=tuple(key_names),
                       **{**asdict(choices), "model": model, "width": int(choices.width)},
                       weights=self.config.resolved_weights, evaluate=choices.method == "optimize")
        return self.manager.submit(spec, {**files, **key_names})

    def active_job(self) -> str | None:
        """Return the job to show when a page opens: the running one, else the next queued, else the newest."""
        jobs = self.manager.list_jobs()
        for status in (RUNNING, QUEUED):
            unfinished = [r for r in jobs if r["status"] == status]
            if unfinished:
                return unfinished[-1]["id"]
        return jobs[0]["id"] if jobs else None

    def view(self, job_id: str | None) -> JobView:
        """Return how the page shows job ``job_id`` (an empty view for None)."""
        if not job_id:
            return JobView(None, "", "No job yet: choose a clip and a painting, then **Paint the video**.")
        record = self.manager.get(job_id)
        job_dir = self.manager.job_dir(job_id)
        status, progress = record["status"], read_progress(job_dir / "work")
        latest = str(progress.latest_frame) if progress.latest_frame else None
        if status == QUEUED:
            ahead = record["position"] - 1 if record["position"] else 0
            text = (f"queued: {ahead} job{'s' if ahead != 1 else ''} ahead of it "
                    "(one job runs at a time on this machine)")
        elif status == RUNNING:
            text = f"running: {progress.describe()}"
        elif status == FAILED:
            text = f"failed: {record['error']}"
        else:
            took = format_seconds(record["finished"] - record["started"]) if record.get("started") else "?"
            text = f"done in {took}"
        markdown = f"**Job `{job_id}`** — {text}"
        if status != DONE:
            return JobView(job_id, status, markdown, latest)
        return self._finished_view(job_id, job_dir, record, markdown, latest)

    def _finished_view(self, job_id: str, job_dir: Path, record: dict, markdown: str, latest: str | None) -> JobView:
        outputs = record.get("outputs", {})
        video = _existing(job_dir, outputs.get("video"))
        sbs = _existing(job_dir, outputs.get("side_by_side"))
        evaluation, losses = "", None
        report = read_run_json(job_dir / "work") if not outputs.get("evaluation") else None
        ev = _read_json(job_dir / outputs["evaluation"]) if outputs.get("evaluation") else {}
        if ev:
            evaluation = (f"Warping error **{ev['temporal_error']:.4g}** (the input's own floor "
                          f"{ev['input_temporal_error']:.4g}); mean style loss {ev.get('mean_style_loss', 0):.4g}, "
                          f"mean content loss {ev.get('mean_content_loss', 0):.4g} over {ev['frames']} frames.")
            style = ev.get("per_frame", {}).get("style_loss", [])
            losses = pd.DataFrame({"frame": list(range(1, len(style) + 1)), "style loss": style})
        elif report and report.get("fps"):
            what = {"arbitrary": "Any-painting network", "keyframes": "Painted keyframes"}.get(
                record["spec"].get("method"), "Fast mode")
            evaluation = f"{what}: {report.get('n_frames', '?')} frames at {report['fps']:.1f} frames/s."
        return JobView(job_id, DONE, markdown, latest, video, sbs, evaluation, losses)

    def gallery(self, limit: int = 24) -> list[tuple[str, str]]:
        """Return (image, caption) of earlier jobs, newest first: the last stylised frame, or the input clip's."""
        items = []
        for record in self.manager.list_jobs()[:limit]:
            progress = read_progress(self.manager.job_dir(record["id"]) / "work")
            if progress.latest_frame is not None:
                items.append((str(progress.latest_frame), f"{record['id']} · {record['status']}"))
        return items

    def job_ids(self) -> list[str]:
        return [r["id"] for r in self.manager.list_jobs()]


def _check_paintings(paintings: list[str], limits) -> None:
    if not paintings:
        raise UserError("painting: no file given, expected an image file")
    for k, p in enumerate(paintings):
        check_painting(p, limits, label="painting" if k == 0 else f"painting {k + 1}")


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    folder = Path(folder)
    return sorted(str(p) for p in folder.glob("*") if p.suffix.lower() in suffixes) if folder.is_dir() else []


def _existing(job_dir: Path, name: str | None) -> str | None:
    return str(job_dir / name) if name and (job_dir / name).is_file() else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
