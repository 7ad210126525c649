"""What a studio job and a preview actually run: the library's public entry points, nothing of their insides.

A job is ``paintvid video``: :func:`video.pipeline.stylize_video` (``VideoConfig``) then
:func:`video.evaluate.evaluate_video`, or, for a fast-mode model or the arbitrary (any-painting) network,
:func:`video.fast_runner.stylize_video_fast` (``FastVideoConfig``; no evaluation, as ``paintvid video``), or, for
painted keyframes, :func:`video.keyframe_runner.stylize_video_keyframes` (``KeyframeVideoConfig``; no evaluation).
A preview stylises one frame at low resolution with few iterations (:func:`transfer.stylize.stylize_image`), runs
the fast network once, or the arbitrary network once (:func:`transfer.arbitrary.image.stylize_image_arbitrary`);
there is no preview for painted keyframes (:data:`KEYFRAMES_NO_PREVIEW`): the keyframes are what the film looks like.
The arbitrary network's weights are the committed default unless a job names a ``.npz``. Fast-mode models are the
``.keras`` files under ``models/`` that ``paintvid train-style`` wrote (it leaves a ``.json`` report with
``options.style`` beside each).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np

from foundation.errors import UserError
from media.image_io import read_image, resize_to_width, write_image
from media.schedule import parse_schedule
from media.upsample import default_output_width
from media.video_io import ReadOptions, iter_frames, probe
from studio.jobs import JobSpec, keyframe_frame
from transfer.arbitrary.image import ArbitraryImageConfig, stylize_image_arbitrary
from transfer.fast.network import load_network
from transfer.objective import LossWeights
from transfer.optimize import OptimizeOptions
from transfer.stylize import StyleSpec, StylizeConfig, stylize_image
from video.config import DEFAULT_TEMPORAL_WEIGHT, VideoConfig
from video.evaluate import EvaluateVideoConfig, evaluate_video
from video.fast_runner import FastVideoConfig, stylize_video_fast
from video.keyframe_runner import KeyframeVideoConfig, stylize_video_keyframes
from video.keyframes import Keyframe
from video.pipeline import stylize_video

OUTPUT = "stylized.mp4"
SIDE_BY_SIDE = "stylized_side_by_side.mp4"
WORKDIR = "work"
KEYFRAMES_NO_PREVIEW = ("preview: not offered for painted keyframes (your keyframes show the look); paint the video, "
                        "a few seconds of clip take seconds")


def find_fast_models(models_dir: Path) -> list[Path]:
    """Return the fast-mode style networks under ``models_dir`` (``X.keras`` with a train-style ``X.json``), sorted."""
    found = []
    for path in sorted(Path(models_dir).glob("*.keras")):
        try:
            report = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and isinstance(report.get("options"), dict) and "style" in report["options"]:
            found.append(path)
    return found


def video_defaults() -> dict:
    """Return the video runner's defaults the page offers (iterations, temporal weight), as ``paintvid video``."""
    defaults = {f.name: f.default for f in fields(VideoConfig)}
    return {"first_iterations": defaults["first_iterations"], "iterations": defaults["iterations"],
            "temporal_weight": DEFAULT_TEMPORAL_WEIGHT}


def read_options(spec: JobSpec) -> ReadOptions:
    """Return the frame selection of ``spec`` (None seconds/frames = the whole clip)."""
    return ReadOptions(frames=spec.frames, seconds=spec.seconds, width=spec.width)


def output_width(spec: JobSpec, clip: Path) -> int:
    """Return the film's width: the job's ``output_width``, else the clip's own (at most 3840, like the CLI)."""
    return spec.output_width or default_output_width(probe(clip).width, spec.width)


def arbitrary_weights(model: str | Path | None) -> Path | None:
    """Return the previous any-painting network's ``.npz`` when ``model`` names one, else None: the painter."""
    return Path(model) if model else None


def check_keyframe_output_width(output_width: int | None) -> None:
    """Raise UserError when a keyframes job asks for a film width (it is made at the working width, as the CLI)."""
    if output_width:
        raise UserError(f"film width {output_width}: with painted keyframes the film is made at the working width; "
                        "give the width you want there")


def job_keyframes(job_dir: Path, spec: JobSpec) -> tuple[Keyframe, ...]:
    """Return the job's keyframes (frame number from the studio's file name, path inside ``job_dir``)."""
    return tuple(Keyframe(keyframe_frame(name), job_dir / name) for name in spec.keyframes)


def run_job(job_dir: Path, spec: JobSpec) -> dict:
    """Run one job in ``job_dir``; return its outputs (paths relative to ``job_dir``) for ``job.json``."""
    clip, work, out = job_dir / spec.clip, job_dir / WORKDIR, job_dir / OUTPUT
    outputs = {"video": OUTPUT, "side_by_side": SIDE_BY_SIDE if spec.side_by_side else None, "evaluation": None,
               "run": f"{WORKDIR}/run.json"}
    if spec.method == "fast":
        stylize_video_fast(FastVideoConfig(video=clip, model=Path(spec.model), output=out, workdir=work,
                                           read=read_options(spec), side_by_side=spec.side_by_side, progress=False,
                                           output_width=output_width(spec, clip)))
        return outputs
    if spec.method == "arbitrary":
        stylize_video_fast(FastVideoConfig(
            video=clip, model=arbitrary_weights(spec.model), output=out, workdir=work, read=read_options(spec),
            paintings=tuple(job_dir / p for p in spec.paintings), strength=spec.strength,
            stroke_scale=spec.stroke_scale, preserve_colors=spec.preserve_colors, style_schedule=spec.style_schedule,
            side_by_side=spec.side_by_side, progress=False, output_width=output_width(spec, clip)))
        return outputs
    if spec.method == "keyframes":
        check_keyframe_output_width(spec.output_width)
        stylize_video_keyframes(KeyframeVideoConfig(
            video=clip, keyframes=job_keyframes(job_dir, spec), output=out, workdir=work, read=read_options(spec),
            side_by_side=spec.side_by_side, progress=False))
        return outputs
    style = StyleSpec(styles=tuple(job_dir / p for p in spec.paintings), weights=spec.weights)
    chosen = {"first_iterations": spec.first_iterations, "iterations": spec.iterations,
              "loss": None if spec.temporal_weight is None else LossWeights(temporal=spec.temporal_weight)}
    stylize_video(VideoConfig(
        video=clip, output=out, style=style, read=read_options(spec), workdir=work,
        style_schedule=spec.style_schedule, preserve_colors=spec.preserve_colors, side_by_side=spec.side_by_side,
        progress=False, output_width=output_width(spec, clip), **{k: v for k, v in chosen.items() if v is not None},
    ))
    if spec.evaluate:
        evaluate_video(EvaluateVideoConfig(stylized=work, style=style, output=work / "evaluation.json"))
        outputs["evaluation"] = f"{WORKDIR}/evaluation.json"
    return outputs


def read_frame(clip: Path, index: int) -> np.ndarray:
    """Return frame ``index`` (0-based, at the source size) of ``clip`` as (H, W, 3) uint8 BGR."""
    info = probe(clip)
    index = min(max(0, int(index)), info.frame_count - 1)
    for _, frame in iter_frames(clip, ReadOptions(start=index / info.fps, frames=1)):
        return frame
    raise UserError(f"{clip.name}: frame {index} cannot be decoded")


def preview(
    clip: Path, paintings: list[Path], out_dir: Path, *, frame: int = 0, width: int = 128, iterations: int = 20,
    method: str = "optimize", model: Path | None = None, style_schedule: str | None = None,
    preserve_colors: str = "none", weights: str = "bundled", strength: float = 1.0, stroke_scale: float = 1.0,
) -> Path:
    """Stylise frame ``frame`` of ``clip`` at ``width`` into ``out_dir/preview.png`` and return that path.

    Several paintings are blended as the style schedule has them at that frame (equally without a schedule).
    ``iterations`` and ``weights`` are the optimisation path's; ``model`` is the fast network (``.keras``) or the
    previous any-painting network's ``.npz`` (None: the painter); ``strength`` and ``stroke_scale`` are the
    any-painting method's.
    """
    if method == "keyframes":
        raise UserError(KEYFRAMES_NO_PREVIEW)
    content = out_dir / "frame.png"
    write_image(content, read_frame(clip, frame))
    out = out_dir / "preview.png"
    if method == "fast":
        return _preview_fast(content, out, model, width)
    blend = None
    if style_schedule and len(paintings) > 1:
        blend = parse_schedule(style_schedule, len(paintings), probe(clip).fps).weights_at(int(frame))
        blend = blend if sum(blend) > 0 else None
    if method == "arbitrary":
        stylize_image_arbitrary(ArbitraryImageConfig(
            content=content, styles=tuple(paintings), output=out, model=arbitrary_weights(model), width=width,
            blend=blend, strength=strength, preserve_colors=preserve_colors, stroke_scale=stroke_scale))
        return out
    spec = StyleSpec(styles=tuple(paintings), blend=blend, weights=weights)
    stylize_image(StylizeConfig(content=content, output=out, style=spec, width=width,
                                optimize=OptimizeOptions(iterations=iterations), preserve_colors=preserve_colors,
                                progress=False))
    return out


def _preview_fast(content: Path, out: Path, model: Path | None, width: int) -> Path:
    """Run the fast network once on ``content`` resized to ``width``; write ``out``."""
    if model is None:
        raise UserError("fast mode needs a model (train one with `make train-style STYLE=...`)")
    net = load_network(model, "float32")
    image = resize_to_width(read_image(content), width, multiple=8)
    result = np.asarray(net(image[None].astype(np.float32)), dtype=np.float32)[0]
    write_image(out, np.clip(np.round(result), 0, 255).astype(np.uint8))
    return out
