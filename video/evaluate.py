"""Measure a stylised video: temporal warping error (output vs the input's floor), style and content loss per frame.

Works on any pair of frame sequences, so the optimisation path, the independent baseline and fast mode are
measured the same way. ``paintvid evaluate-video`` is the CLI edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from media.flow import input_flows
from media.metrics import warping_error
from media.video_io import ReadOptions, read_frames
from transfer import losses
from transfer.features import preprocess
from transfer.losses import blend_grams
from transfer.stylize import StyleSpec, blend_weights, build_objective, load_styles, style_grams_for
from video.workdir import WorkDir


@dataclass(frozen=True)
class EvaluateVideoConfig:
    """What to measure.

    Attributes:
        stylized: a run's work directory (``frames/`` and ``stylized/`` inside) or a stylised video file.
        original: the input video; needed when ``stylized`` is a video file (read with ``read``).
        style: the style(s) the loss is measured against (and the backbone that measures it).
        flow: method for the input's flow when the work directory has none.
        output: JSON report path (default: ``evaluation.json`` in the work directory or beside the video).
    """

    stylized: Path
    style: StyleSpec
    original: Path | None = None
    read: object = None  # media.video_io.ReadOptions
    flow: str = "deepflow"
    output: Path | None = None


def frame_losses(objective, grams: dict, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> dict:
    """Return per-frame unweighted ``style`` and ``content`` losses of outputs against their inputs and ``grams``."""
    style, content = [], []
    for inp, out in zip(inputs, outputs, strict=True):
        feats_out = objective.extractor(preprocess(out))
        feats_in = objective.extractor(preprocess(inp))
        own = {n: losses.gram_matrix(feats_out[n]) for n in objective.style_layer_weights}
        style.append(float(losses.style_loss(own, grams, objective.style_layer_weights)))
        layer = objective.content_layer
        content.append(float(losses.content_loss(feats_out[layer], feats_in[layer])))
    return {"style": style, "content": content}


def evaluate_frames(
    inputs: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray],
    flows_back: Sequence[np.ndarray],
    flows_forward: Sequence[np.ndarray],
    objective=None,
    grams: dict | None = None,
) -> dict:
    """Return the metrics of one stylised sequence; frames are (H, W, 3) uint8 BGR of equal size.

    ``temporal_error`` is Lai et al.'s warping error of the outputs under the input's flow and occlusions;
    ``input_temporal_error`` the same for the input itself (the floor a perfectly stable output could reach).
    """
    if len(inputs) != len(outputs):
        raise UserError(f"{len(outputs)} stylised frames for {len(inputs)} input frames")
    out_err = warping_error(outputs, flows_back, flows_forward=flows_forward)
    in_err = warping_error(inputs, flows_back, flows_forward=flows_forward)
    report = {
        "frames": len(outputs),
        "temporal_error": float(np.nanmean(out_err)) if len(out_err) else 0.0,
        "input_temporal_error": float(np.nanmean(in_err)) if len(in_err) else 0.0,
        "per_frame": {"temporal_error": [float(e) for e in out_err],
                      "input_temporal_error": [float(e) for e in in_err]},
    }
    if objective is not None:
        fl = frame_losses(objective, grams, inputs, outputs)
        report["per_frame"].update(style_loss=fl["style"], content_loss=fl["content"])
        report["mean_style_loss"] = float(np.mean(fl["style"]))
        report["mean_content_loss"] = float(np.mean(fl["content"]))
    return report


def load_workdir_frames(workdir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (input frames, stylised frames) of a run's work directory."""
    wd = WorkDir(workdir)
    stylized = sorted((wd.root / "stylized").glob("*.png"))
    if not stylized:
        raise UserError(f"{workdir}: no stylized/*.png frames (not a finished work directory)")
    inputs = [wd.read_png(wd.frame(int(p.stem))) for p in stylized]
    return inputs, [wd.read_png(p) for p in stylized]


def evaluate_video(config: EvaluateVideoConfig) -> dict:
    """Measure ``config.stylized`` and write the JSON report; returns it."""
    path = Path(config.stylized)
    if path.is_dir():
        inputs, outputs = load_workdir_frames(path)
        default_out = path / "evaluation.json"
    else:
        if config.original is None:
            raise UserError(f"{path}: give --original VIDEO to compare a stylised video file with its input")
        outputs = read_frames(path, ReadOptions())
        h, w = outputs[0].shape[:2]
        read = config.read or ReadOptions(width=w)
        inputs = read_frames(config.original, read)[: len(outputs)]
        if inputs and inputs[0].shape[:2] != (h, w):
            inputs = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in inputs]
        default_out = path.with_suffix(".evaluation.json")
    styles = load_styles(config.style)
    back, fwd = input_flows(inputs, config.flow)
    objective = build_objective(config.style)
    grams = blend_grams(style_grams_for(objective, config.style, styles, inputs[0].shape[1]),
                        blend_weights(config.style))
    report = evaluate_frames(inputs, outputs, back, fwd, objective, grams)
    report["stylized"] = str(path)
    atomic_write_json(config.output or default_out, report)
    return report
