"""Tables and figures comparing stylised videos, for ``notebooks/evaluate_video.ipynb``.

Reads only what the CLI writes:

- a run's work directory (``paintvid video``: ``frames/*.png``, ``stylized/*.png``, ``run.json``; fast mode
  writes only ``run.json`` there), and
- the JSON report of ``paintvid evaluate-video`` (:func:`video.evaluate.evaluate_frames`: ``temporal_error``,
  ``input_temporal_error``, ``mean_style_loss``, ``mean_content_loss`` and ``per_frame`` lists of the same names),
  found as ``WORKDIR/evaluation.json`` or ``OUTPUT.evaluation.json`` beside ``OUTPUT.work``.

Figures use matplotlib's object API (no GUI backend needed). Frame indices are 0-based output frames (the work
directory's ``000001.png`` is frame 0); ``temporal_error[k]`` belongs to frame ``k + 1`` (frame 0 has no
predecessor). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from foundation.errors import UserError
from media.flow import input_flows
from media.image_io import read_image
from media.metrics import flicker_map
from transfer.color import luminance, match_histogram, match_luminance, recombine

#: Curves drawn by :func:`curves_figure`, in this order.
METRICS = ("temporal_error", "style_loss", "content_loss")
_REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class MethodRun:
    """One stylised result to compare.

    Attributes:
        name: label in tables and legends.
        kind: ``independent``, ``temporal``, ``long-term``, ``multi-pass``, ``fast`` or ``unknown`` (from run.json).
        workdir: the run's work directory, if known.
        run: ``run.json`` (empty if absent); evaluation: the ``evaluate-video`` report (empty if absent).
        inputs, stylized: paths of matching input and stylised frames (empty for fast mode, which keeps no PNGs).
    """

    name: str
    kind: str
    workdir: Path | None
    run: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    inputs: tuple[Path, ...] = ()
    stylized: tuple[Path, ...] = ()

    @property
    def n_frames(self) -> int:
        return len(self.stylized) or int(self.evaluation.get("frames") or self.run.get("n_frames") or 0)


def parse_runs(text: str) -> dict[str, Path]:
    """Return ``{name: path}`` from ``"name=path,name=path"`` (e.g. the ``PAINTVID_VIDEO_RUNS`` variable).

    Each path is a work directory or an ``evaluate-video`` JSON file.
    """
    runs: dict[str, Path] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f'runs: "{item}" is not NAME=PATH (a work directory or an evaluation JSON)')
        runs[name.strip()] = Path(path.strip())
    if not runs:
        raise UserError("runs: none given; write NAME=PATH,NAME=PATH")
    return runs


def discover_runs(folder: str | Path) -> dict[str, Path]:
    """Return ``{name: work directory}`` for every ``*.work`` folder in ``folder`` that holds results."""
    found = {}
    for d in sorted(Path(folder).glob("*.work")):
        has_eval = (d / "evaluation.json").is_file() or d.with_suffix(".evaluation.json").is_file()
        if d.is_dir() and ((d / "run.json").is_file() or has_eval or any((d / "stylized").glob("*.png"))):
            found[d.stem] = d
    return found


def load_run(name: str, path: str | Path) -> MethodRun:
    """Return the :class:`MethodRun` of a work directory or of an ``evaluate-video`` JSON report."""
    path = Path(path)
    evaluation: dict = {}
    if path.is_file():
        evaluation = _read_json(path)
        target = Path(evaluation.get("stylized", ""))
        workdir = target if target.is_dir() else target.with_suffix(".work")
        workdir = workdir if workdir.is_dir() else None
    elif path.is_dir():
        workdir = path
        for candidate in (path / "evaluation.json", path.with_suffix(".evaluation.json")):
            if candidate.is_file():
                evaluation = _read_json(candidate)
                break
    else:
        raise UserError(f"{path}: no such work directory or evaluation JSON")
    run = _read_json(workdir / "run.json") if workdir and (workdir / "run.json").is_file() else {}
    stylized = tuple(sorted((workdir / "stylized").glob("*.png"))) if workdir else ()
    inputs = tuple(workdir / "frames" / p.name for p in stylized)
    if stylized and not all(p.is_file() for p in inputs):
        raise UserError(f"{workdir}: stylized frames without their input frames in frames/")
    if not (evaluation or run or stylized):
        raise UserError(f"{path}: holds no run.json, evaluation JSON or stylized/*.png")
    return MethodRun(name=name, kind=method_kind(run), workdir=workdir, run=run, evaluation=evaluation,
                     inputs=inputs, stylized=stylized)


def load_runs(paths: Mapping[str, str | Path]) -> list[MethodRun]:
    """Return :func:`load_run` of every ``{name: path}`` item, in order."""
    return [load_run(name, p) for name, p in paths.items()]


def method_kind(run: Mapping) -> str:
    """Return which method produced ``run.json``: fast, multi-pass, independent, long-term, temporal or unknown."""
    if run.get("method") == "fast":
        return "fast"
    config = run.get("config") or {}
    if not config:
        return "unknown"
    if int(config.get("passes", 1)) > 1:
        return "multi-pass"
    if float((config.get("loss") or {}).get("temporal", 1.0)) == 0.0:
        return "independent"
    return "long-term" if len(config.get("long_term") or [1]) > 1 else "temporal"


def summary_table(runs: Sequence[MethodRun]) -> pd.DataFrame:
    """Return one row per run: kind, frames, temporal error (and the input's floor and their ratio), mean style and
    content loss (from the evaluation), and speed (seconds per frame; frames per second for fast mode)."""
    rows = {}
    for r in runs:
        ev, summary = r.evaluation, r.run.get("summary") or {}
        out, floor = ev.get("temporal_error"), ev.get("input_temporal_error")
        if r.kind == "fast":
            fps = r.run.get("fps")
            seconds = 1.0 / fps if fps else None
        else:
            seconds = summary.get("mean_seconds_per_frame")
            fps = 1.0 / seconds if seconds else None
        rows[r.name] = {
            "kind": r.kind,
            "frames": r.n_frames,
            "temporal_error": out,
            "input_temporal_error": floor,
            "error_over_input": out / floor if out is not None and floor else None,
            "mean_style_loss": ev.get("mean_style_loss"),
            "mean_content_loss": ev.get("mean_content_loss"),
            "seconds_per_frame": seconds,
            "fps": fps,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    return table


def per_frame(run: MethodRun, metric: str) -> tuple[pd.Series | None, str]:
    """Return (per-frame values of ``metric`` indexed by output frame, where they come from).

    ``metric`` is ``temporal_error``, ``input_temporal_error``, ``style_loss`` or ``content_loss``. The evaluation
    report is preferred (``"evaluation"``: unweighted losses against the same style target for every method);
    without it the style and content losses come from run.json's last pass (``"run.json (weighted)"``: what the
    optimiser minimised, multiplied by the loss weights). ``(None, "")`` when neither has it.
    """
    values = (run.evaluation.get("per_frame") or {}).get(metric)
    if values is not None:
        start = 1 if metric.endswith("temporal_error") else 0
        return pd.Series(values, index=range(start, start + len(values)), dtype=float, name=run.name), "evaluation"
    part = {"style_loss": "style", "content_loss": "content"}.get(metric)
    frames = list((run.run.get("frames") or {}).values())
    if part is None or not frames:
        return None, ""
    last = max(int(f.get("pass", 1)) for f in frames)
    chosen = sorted((f for f in frames if int(f.get("pass", 1)) == last), key=lambda f: f["frame"])
    series = pd.Series([f["losses"][part] for f in chosen], index=[int(f["frame"]) - 1 for f in chosen],
                       dtype=float, name=run.name)
    return series, "run.json (weighted)"


def curves_figure(runs: Sequence[MethodRun]) -> Figure:
    """Return three panels over output frames: temporal (warping) error with the input's floor, style loss, and
    content loss, one line per run (dashed where the losses come from run.json rather than the evaluation)."""
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, len(METRICS))
    floor_drawn = False
    for ax, metric in zip(axes, METRICS, strict=True):
        for k, r in enumerate(runs):
            series, source = per_frame(r, metric)
            if series is None:
                continue
            style = "-" if source == "evaluation" else "--"
            label = r.name if source == "evaluation" else f"{r.name}, {source}"
            ax.plot(series.index, series.to_numpy(), style, marker=".", color=f"C{k}", label=label)
            if metric == "temporal_error" and not floor_drawn:
                floor, _ = per_frame(r, "input_temporal_error")
                if floor is not None:
                    ax.plot(floor.index, floor.to_numpy(), ":", color="grey", label="input video (floor)")
                    floor_drawn = True
        ax.set(xlabel="output frame", title=metric.replace("_", " "))
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    axes[0].set_ylabel("mean squared error, [0, 1] colours")
    fig.tight_layout()
    return fig


def flicker_maps(runs: Sequence[MethodRun], flow: str = "dis") -> dict[str, np.ndarray]:
    """Return ``{name: (H, W) float32}`` per-pixel warping error averaged over time (:func:`media.metrics.flicker_map`)
    for every run with stylised frames, under the INPUT video's flow; ``"input video"`` is the input's own map.

    Flows are estimated once per distinct input sequence with ``flow`` (``dis`` by default: fast, and as accurate as
    DeepFlow on small motions). Runs without frames (fast mode) are left out.
    """
    maps: dict[str, np.ndarray] = {}
    flows: dict[bytes, tuple[list, list]] = {}
    for r in runs:
        if len(r.stylized) < 2:
            continue
        inputs = [_read(p) for p in r.inputs]
        key = _digest(inputs)
        if key not in flows:
            flows[key] = input_flows(inputs, flow)
            if "input video" not in maps:
                maps["input video"] = flicker_map(inputs, flows[key][0], flows_forward=flows[key][1])
        back, fwd = flows[key]
        maps[r.name] = flicker_map([_read(p) for p in r.stylized], back, flows_forward=fwd)
    return maps


def flicker_figure(maps: Mapping[str, np.ndarray]) -> Figure:
    """Return one heat map per run (shared colour scale up to the 99th percentile), titled with its mean."""
    n = max(len(maps), 1)
    fig = Figure(figsize=(3.6 * n + 0.8, 3.4))
    axes = np.atleast_1d(fig.subplots(1, n))
    if not maps:
        axes[0].text(0.5, 0.5, "no run with stylised frames", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
        return fig
    vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps.values()]), 99)) or 1e-6
    image = None
    for ax, (name, m) in zip(axes, maps.items(), strict=True):
        image = ax.imshow(m, cmap="inferno", vmin=0.0, vmax=vmax)
        ax.set_title(f"{name}\nmean {float(m.mean()):.2e}", fontsize=9)
        ax.set_axis_off()
    fig.colorbar(image, ax=list(axes), shrink=0.85, label="warping error per pixel")
    return fig


def frame_strip_figure(runs: Sequence[MethodRun], columns: int = 5) -> Figure:
    """Return a grid of frames: the input in the first row, each run with stylised frames below, at up to
    ``columns`` evenly spaced output frames common to all of them."""
    shown = [r for r in runs if r.stylized]
    if not shown:
        fig = Figure(figsize=(4, 1.5))
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no run with stylised frames", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    n = min(len(r.stylized) for r in shown)
    picks = sorted({int(round(x)) for x in np.linspace(0, n - 1, min(columns, n))})
    rows = [("input", shown[0].inputs)] + [(r.name, r.stylized) for r in shown]
    h, w = _read(shown[0].stylized[0]).shape[:2]
    cell = 2.2  # inches per frame across
    fig = Figure(figsize=(cell * len(picks) + 0.6, cell * h / w * len(rows) + 0.6))
    axes = np.array(fig.subplots(len(rows), len(picks), squeeze=False))
    for i, (name, paths) in enumerate(rows):
        for j, k in enumerate(picks):
            ax = axes[i, j]
            ax.imshow(cv2.cvtColor(_read(paths[k]), cv2.COLOR_BGR2RGB))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"frame {k}", fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


def color_example(runs: Sequence[MethodRun]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return (content, style, stylised) images for :func:`color_preservation_figure` from the first run that has
    frames and whose run.json names a style image that still exists; None if there is none."""
    for r in runs:
        styles = ((r.run.get("config") or {}).get("style") or {}).get("styles") or []
        if not r.stylized or not styles:
            continue
        style = _resolve(styles[0], r.workdir)
        if style is not None:
            return _read(r.inputs[0]), read_image(style), _read(r.stylized[0])
    return None


def color_preservation_figure(content: np.ndarray, style: np.ndarray, stylized: np.ndarray | None = None) -> Figure:
    """Return Gatys et al. 2016's two colour-preservation options side by side (``transfer.color``).

    Top row: the content, the style, and what each mode hands the optimiser as the style: the style recoloured to
    the content's colour statistics (histogram mode) and its luminance matched to the content's (luminance mode).
    Bottom row, when a ``stylized`` result (made without colour preservation) is given: that result, and its
    luminance recombined with the content's chroma, i.e. what luminance mode keeps of the content's colours.
    All images (H, W, 3) uint8 BGR.
    """
    top = [("content", content), ("style", style),
           ("style, histogram-matched\nto the content", match_histogram(style, content)),
           ("style luminance, matched\nto the content's", match_luminance(luminance(style), luminance(content)))]
    bottom = []
    if stylized is not None:
        fitted = cv2.resize(content, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
        bottom = [("stylised (no preservation)", stylized), ("content luminance\n(what luminance mode stylises)",
                                                             luminance(fitted)),
                  ("stylised luminance +\ncontent chroma", recombine(stylized, fitted))]
    n_rows = 2 if bottom else 1
    fig = Figure(figsize=(12, 3.2 * n_rows))
    axes = np.array(fig.subplots(n_rows, len(top), squeeze=False))
    for row, panels in enumerate([top, bottom][:n_rows]):
        for j in range(len(top)):
            ax = axes[row, j]
            ax.set_axis_off()
            if j < len(panels):
                title, image = panels[j]
                ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig




def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"{path}: cannot read frame")
    return image


def _digest(frames: Sequence[np.ndarray]) -> bytes:
    h = hashlib.sha256()
    for f in frames:
        h.update(f.tobytes())
    return h.digest()


def _resolve(path: str, workdir: Path | None) -> Path | None:
    """Return ``path`` if it exists as given, beside the work directory, or under the repository; else None."""
    p = Path(path)
    bases = [Path.cwd()] + ([workdir.parent, workdir.parent.parent] if workdir else []) + [_REPO]
    for candidate in [p] if p.is_absolute() else [b / p for b in bases]:
        if candidate.is_file():
            return candidate
    return None
