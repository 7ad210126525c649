"""Optimisation path vs the per-frame independent baseline on the sample clip, side by side in one run.

All runs use the same frames, style, backbone and first-frame iterations; the independent baseline starts
every frame from its content with no temporal loss and gets the first frame's iteration budget on every frame;
"temporal" is the default configuration with a third of that budget on later frames; "multipass" (full mode)
spends the same third over two passes.
All outputs are measured by :func:`video.evaluate.evaluate_frames` with the input's DeepFlow flow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transfer.objective import LossWeights
from transfer.stylize import StyleSpec
from video.config import DEFAULT_TEMPORAL_WEIGHT, Init, VideoConfig

SAMPLES = Path("samples")
CLIP, STYLE = SAMPLES / "vtest.avi", SAMPLES / "starry_night.jpg"


def optimise(video: Path, out: Path, read, first: int, later: int, **kw) -> tuple[dict, Path]:
    """Stylise ``video`` with the optimisation path into ``out`` (DeepFlow, the sample style, ``first`` / ``later``
    iterations, other :class:`VideoConfig` fields from ``kw``); return its report and work directory."""
    from video.pipeline import stylize_video

    config = VideoConfig(video=video, output=out, style=StyleSpec(styles=(STYLE,)), read=read, flow="deepflow",
                         first_iterations=first, iterations=later, progress=False, **kw)
    return stylize_video(config), out.with_suffix(".work")


def run(quick: bool, out_dir: Path) -> dict:
    from media.video_io import ReadOptions
    from video.evaluate import load_workdir_frames

    if not CLIP.exists():
        return {"skipped": f"{CLIP} missing (run make samples)"}
    width, frames, first = (128, 6, 60) if quick else (256, 10, 200)
    later = first // 3
    read = ReadOptions(width=width, frames=frames)
    default = LossWeights(temporal=DEFAULT_TEMPORAL_WEIGHT)  # what paintvid video uses
    methods = {
        "independent": dict(first=first, later=first, init=Init.CONTENT, loss=LossWeights(temporal=0.0)),
        "temporal": dict(first=first, later=later, init=Init.PREV_WARPED, loss=default),
    }
    if not quick:
        # the same budget per later frame as one pass: two thirds of it forward, one third on the way back
        methods["multipass"] = dict(first=first, later=2 * later // 3, init=Init.PREV_WARPED, loss=default,
                                    passes=2, pass_iterations=later - 2 * later // 3)
    runs = {name: optimise(CLIP, out_dir / "video" / f"{name}.mp4", read, **kw) for name, kw in methods.items()}

    ref = reference(runs["temporal"][1])
    results = {}
    for name, (report, workdir) in runs.items():
        m = measure(ref, load_workdir_frames(workdir)[1])
        results[name] = {
            "temporal_error": m["temporal_error"],
            "input_temporal_error": m["input_temporal_error"],
            "mean_style_loss": m["mean_style_loss"],
            "mean_content_loss": m["mean_content_loss"],
            "seconds_per_frame": report.summary.mean_seconds_per_frame,
            "first_frame_iterations": report.summary.first_frame_iterations,
            "mean_later_iterations": report.summary.mean_later_iterations,
            "per_frame_temporal_error": m["per_frame"]["temporal_error"],
        }
    base, ours = results["independent"], results["temporal"]
    targets = {
        "temporal_error_ratio": ours["temporal_error"] / base["temporal_error"],
        "temporal_error_ratio_target": 0.15,
        "style_loss_change": ours["mean_style_loss"] / base["mean_style_loss"] - 1,
        "style_loss_change_target": 0.15,
        "later_to_first_iterations": ours["mean_later_iterations"] / ours["first_frame_iterations"],
        "later_to_first_iterations_target": 1 / 3,
    }
    _plot(results, out_dir / "video_temporal_error.png")
    return {"clip": str(CLIP), "style": str(STYLE), "width": width, "frames": frames, "methods": results,
            "targets": targets}


def reference(ref_workdir: Path) -> dict:
    """Return what every method is measured against: the input frames of a run's work directory, its DeepFlow
    flows between them (``back``/``fwd``, frame t -> t-1 and t-1 -> t) and the objective with the style's Grams."""
    from media.flo import read_flo
    from transfer.losses import blend_grams
    from transfer.stylize import blend_weights, build_objective, load_styles, style_grams_for
    from video.evaluate import load_workdir_frames

    inputs, _ = load_workdir_frames(ref_workdir)
    n = len(inputs)
    spec = StyleSpec(styles=(STYLE,))
    objective = build_objective(spec)
    grams = blend_grams(style_grams_for(objective, spec, load_styles(spec), inputs[0].shape[1]), blend_weights(spec))
    return {"inputs": inputs, "objective": objective, "grams": grams,
            "back": [read_flo(ref_workdir / "flow" / f"{i:06d}_{i - 1:06d}.flo") for i in range(2, n + 1)],
            "fwd": [read_flo(ref_workdir / "flow" / f"{i - 1:06d}_{i:06d}.flo") for i in range(2, n + 1)]}


def measure(ref: dict, outputs: list) -> dict:
    """Return :func:`video.evaluate.evaluate_frames` of ``outputs`` ((H, W, 3) uint8 BGR, one per input frame) on
    the frames, flows and style of ``ref`` (from :func:`reference`)."""
    from video.evaluate import evaluate_frames

    return evaluate_frames(ref["inputs"], outputs, ref["back"], ref["fwd"], ref["objective"], ref["grams"])


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for name, r in results.items():
        ax.plot(np.arange(2, len(r["per_frame_temporal_error"]) + 2), r["per_frame_temporal_error"], label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel("warping error")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
