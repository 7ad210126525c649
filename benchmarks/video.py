"""The optimisation path on the sample clip: defaults against the old defaults and the per-frame baseline, one run.

Methods (same frames, style and backbone):
- ``old_defaults``: what ``paintvid video`` did before issue 12, re-measured here through options --
  ``--precision float32 --first-iterations 300 --coarse-iterations 0 --iterations 100 --stall-tolerance 0
  --content-weight 5 --laplacian-weight 0 --temporal-weight 1 --optimizer lbfgs --lbfgs-memory 100``;
- ``old_defaults_memory20`` (full mode): the same with L-BFGS-B's memory 20, today's default for every optimiser (a
  change that came with issue 12 too, so its share of the speed-up is shown apart);
- ``previous_defaults``: the defaults before the painted first frame, re-measured through options --
  ``--first-init content --coarse-iterations 40 --first-iterations 120 --iterations 40 --temporal-weight 0.5``;
- ``defaults``: today's :class:`video.config.VideoConfig` (bfloat16 VGG pass, the first frame started from the
  any-painting painter's rendering of it, fewer iterations on later frames, early stopping, the Laplacian term with
  a lighter content term, the projected L-BFGS);
- ``independent``: the per-frame baseline with the previous defaults' budget (a fixed yardstick): every frame
  starts from its content, runs the first frame's pyramid and has no temporal loss;
- ``drift`` (full mode): the defaults over 30 frames, to see whether the style fades or the content loss climbs.

Steadiness under exact flow (``known_motion``): a photograph filmed by a virtual camera
(:mod:`benchmarks.known_motion`, 10 frames at 256x192; quick 6 at 128x96), stylised with the previous defaults, the
defaults and the independent baseline; warping error under the exact flow and occlusion, and each path's as a
multiple of the baseline's.

Work per frame: loss-and-gradient passes (VGG evaluations) per frame, a load-independent measure, and ``make
demo``'s expected minutes for the previous defaults and the defaults, from :mod:`video.estimate`'s probe at 384x288
natively and under ``ONEDNN_MAX_CPU_ISA=AVX2``.

The judge's numbers besides the referee's: style gain (as :class:`benchmarks.panel.Judge` measures it, with the
peer's style embedding) and structure.

Speed per CPU class: the rows above run natively; ``avx2`` holds the defaults and the old defaults again in a
subprocess with ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN then runs an AVX2-only CPU's kernels, and the precision default
is float32 as there), with their measures.

Every output is measured by :func:`video.evaluate.evaluate_frames` under the input's DeepFlow flow and, for style and
content loss, by one referee objective fixed to the old defaults' (float32, ``block4_conv2``, style at the frame's
width), so a change of defaults cannot move its own yardstick; and by :func:`media.structure.mean_structure`, which
does not use the backbone at all. A contact sheet (input | old defaults | previous defaults | defaults) goes to
``bench/video_contact_sheet.png``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from benchmarks.cpu_class import AVX2_NOTE, cpu_record, native_is_avx2, run_capped
from benchmarks.known_motion import camera_clip, lossless_clip
from foundation.figures import save_figure
from media.flo import read_flo
from media.image_io import read_image, resize_to_width
from media.metrics import warping_error
from media.structure import structure_score
from media.video_io import ReadOptions
from transfer.arbitrary.magenta import MagentaPainter, load_magenta
from transfer.features import Precision
from transfer.losses import blend_grams
from transfer.objective import LossWeights
from transfer.optimize import OptimizerKind
from transfer.stylize import InitMode, StyleSpec, blend_weights, build_objective, load_styles, style_grams_for
from video.config import Init, VideoConfig
from video.estimate import RunPlan, estimate_seconds, probe
from video.evaluate import evaluate_frames, load_workdir_frames
from video.pipeline import stylize_video

SAMPLES = Path("samples")
CLIP, STYLE = SAMPLES / "vtest.avi", SAMPLES / "starry_night.jpg"
PHOTO = SAMPLES / "building.jpg"

#: The defaults before issue 12, as VideoConfig fields (the CLI options in the module docstring).
OLD_DEFAULTS = {"first_iterations": 300, "coarse_iterations": 0, "iterations": 100, "stall_tolerance": 0.0,
                "loss": LossWeights(content=5.0, laplacian=0.0, temporal=1.0), "optimizer": OptimizerKind.LBFGS,
                "lbfgs_memory": 100}
#: The defaults before the painted first frame and the shorter later frames (issue 35), as VideoConfig fields.
PREVIOUS_DEFAULTS = {"first_init": InitMode.CONTENT, "first_iterations": 120, "coarse_iterations": 40,
                     "iterations": 40, "loss": LossWeights(temporal=0.5)}
#: The per-frame baseline: the previous defaults' first-frame budget on every frame, no temporal term.
INDEPENDENT = dict(PREVIOUS_DEFAULTS, init=Init.CONTENT, loss=LossWeights(temporal=0.0), disocclusion=1.0)
#: make demo's run: 20 frames at 384x288.
DEMO_FRAMES, DEMO_SIZE = 20, (288, 384)
#: The method whose work directory (``out_dir/video/NAME.work``) other benchmarks compare against: today's defaults.
DEFAULTS_METHOD = "defaults"
#: The referee's style spec: the old defaults' objective.
REFEREE = StyleSpec(styles=(STYLE,), precision=Precision.FLOAT32)


def optimise(video: Path, out: Path, read, first: int | None = None, later: int | None = None, **kw):
    """Stylise ``video`` with the optimisation path into ``out`` (DeepFlow, the sample style; ``first`` / ``later``
    iterations and other :class:`VideoConfig` fields from ``kw``, the defaults otherwise); return its
    :class:`video.results.VideoResult` and work directory."""
    style = kw.pop("style", StyleSpec(styles=(STYLE,)))
    if first is not None:
        kw["first_iterations"] = first
    if later is not None:
        kw["iterations"] = later
    config = VideoConfig(video=video, output=out, style=style, read=read, flow="deepflow", progress=False, **kw)
    # a fresh work directory: a resumed one would report an earlier run's seconds for the frames it kept
    shutil.rmtree(out.with_suffix(".work"), ignore_errors=True)
    return stylize_video(config), out.with_suffix(".work")


def _methods(quick: bool) -> dict[str, dict]:
    old = dict(OLD_DEFAULTS, style=replace(REFEREE))  # quick mode too: a smaller budget would flatter the old
    methods = {"old_defaults": old, "previous_defaults": PREVIOUS_DEFAULTS, DEFAULTS_METHOD: {},
               "independent": INDEPENDENT}
    if not quick:
        methods["old_defaults_memory20"] = dict(old, lbfgs_memory=20)
    return methods


def isa_rows(quick: bool, out_dir: str, names: list[str]) -> dict:
    """Return ``{"methods": {name: row}}`` of the ``names`` among :func:`_methods` (old defaults, defaults, ...),
    stylised and measured in this process, so under its ISA (a row function for
    :func:`benchmarks.cpu_class.run_capped`); work directories go to ``out_dir/NAME.work``."""
    width, frames = (128, 6) if quick else (256, 10)
    read = ReadOptions(width=width, frames=frames)
    methods = {name: kw for name, kw in _methods(quick).items() if name in names}
    runs = {name: optimise(CLIP, Path(out_dir) / f"{name}.mp4", read, **kw) for name, kw in methods.items()}
    ref = reference(runs[names[0]][1])
    return {"methods": {name: _row(ref, report, workdir) for name, (report, workdir) in runs.items()}}


def _avx2_column(quick: bool, out_dir: Path) -> dict:
    """Return the old defaults and today's defaults under ``ONEDNN_MAX_CPU_ISA=AVX2`` (a subprocess; there the
    default precision is float32, as on an AVX2-only CPU): each row, the speed-up, the CPU record."""
    names = [DEFAULTS_METHOD, "previous_defaults", "old_defaults"]
    col = run_capped("benchmarks.video:isa_rows", {"quick": quick, "out_dir": str(out_dir / "video_avx2"),
                                                   "names": names})
    rows = col["methods"]
    new, old = rows[DEFAULTS_METHOD], rows["old_defaults"]
    prev = rows["previous_defaults"]
    return {"avx2_note": AVX2_NOTE, "cpu_avx2": col["cpu"],
            "targets_avx2": {"speedup_vs_old_defaults": old["seconds_per_frame"] / new["seconds_per_frame"],
                             "speedup_vs_previous_defaults": prev["seconds_per_frame"] / new["seconds_per_frame"],
                             "structure": new["structure"], "structure_old_defaults": old["structure"],
                             "style_loss_change_vs_old_defaults": new["mean_style_loss"] / old["mean_style_loss"] - 1,
                             "temporal_error_vs_old_defaults": new["temporal_error"] / old["temporal_error"]},
            "methods_avx2": {name: {k: v for k, v in row.items() if not k.startswith("per_frame")}
                             for name, row in rows.items()}}


def run(quick: bool, out_dir: Path) -> dict:
    if not CLIP.exists():
        return {"skipped": f"{CLIP} missing (run make samples)"}
    width, frames = (128, 6) if quick else (256, 10)
    read = ReadOptions(width=width, frames=frames)
    runs = {name: optimise(CLIP, out_dir / "video" / f"{name}.mp4", read, **kw) for name, kw in _methods(quick).items()}
    ref = reference(runs[DEFAULTS_METHOD][1])
    judge = load_magenta()
    results = {name: _row(ref, report, workdir, judge) for name, (report, workdir) in runs.items()}
    avx2 = {"avx2_note": "this CPU is AVX2 class: the rows above are its AVX2 column"}
    if not native_is_avx2():
        avx2 = _avx2_column(quick, out_dir)
    targets = _targets(results)
    if not quick:
        drift_report, drift_dir = optimise(CLIP, out_dir / "video" / "drift.mp4", ReadOptions(width=width, frames=30))
        results["drift"] = _row(reference(drift_dir), drift_report, drift_dir, judge)
        targets.update(_drift(results["drift"]))
    known = known_motion(quick, out_dir / "video", judge)
    demo = demo_estimates()
    targets.update(_demo_targets(demo), **{k: v for k, v in known.items() if k.startswith("ratio")})
    _plot(results, out_dir / "video_temporal_error.png")
    _contact_sheet(ref["inputs"], {n: load_workdir_frames(runs[n][1])[1]
                                   for n in ("old_defaults", "previous_defaults", DEFAULTS_METHOD)},
                   out_dir / "video_contact_sheet.png")
    return {"clip": str(CLIP), "style": str(STYLE), "width": width, "frames": frames, "cpu": cpu_record(),
            "methods": results, "known_motion": known, "demo_estimate": demo, "targets": targets, **avx2}


def _targets(results: dict) -> dict:
    """Return the defaults' measures against the previous defaults, the old defaults and the baseline."""
    new, prev, old = results[DEFAULTS_METHOD], results["previous_defaults"], results["old_defaults"]
    base = results["independent"]
    targets = {
        "speedup_vs_old_defaults": old["seconds_per_frame"] / new["seconds_per_frame"],
        "passes_per_frame": new["evaluations_per_frame"],
        "passes_per_frame_previous_defaults": prev["evaluations_per_frame"],
        "style_gain": new["style_gain"], "style_gain_previous_defaults": prev["style_gain"],
        "style_gain_change_vs_previous": new["style_gain"] - prev["style_gain"], "style_gain_change_target": -0.03,
        "structure": new["structure"], "structure_previous_defaults": prev["structure"],
        "structure_old_defaults": old["structure"], "structure_target": 0.92,
        "temporal_error_vs_previous": new["temporal_error"] / prev["temporal_error"],
        "temporal_error_vs_previous_target": 1.2,
        "temporal_error_ratio": new["temporal_error"] / base["temporal_error"],
        "style_loss_change": new["mean_style_loss"] / base["mean_style_loss"] - 1,
        "style_loss_change_vs_old_defaults": new["mean_style_loss"] / old["mean_style_loss"] - 1,
    }
    if "old_defaults_memory20" in results:
        memory20 = results["old_defaults_memory20"]["seconds_per_frame"]
        targets["speedup_vs_old_defaults_memory20"] = memory20 / new["seconds_per_frame"]
    return targets


def _row(ref: dict, report, workdir: Path, judge: MagentaPainter | None = None) -> dict:
    """Return one method's measured numbers: warping error, referee losses, judge's style gain, structure, passes
    and time per stage."""
    inputs, outputs = load_workdir_frames(workdir)
    m = measure(reference(workdir) if len(inputs) != len(ref["inputs"]) else ref, outputs)
    s = report.summary
    return {
        "temporal_error": m["temporal_error"], "input_temporal_error": m["input_temporal_error"],
        "mean_style_loss": m["mean_style_loss"], "mean_content_loss": m["mean_content_loss"],
        "structure": float(np.mean([structure_score(a, b) for a, b in zip(inputs, outputs, strict=True)])),
        **({"style_gain": style_gain(judge, inputs, outputs)} if judge is not None else {}),
        **passes(report),
        "seconds_per_frame": s.mean_seconds_per_frame,
        "first_frame_iterations": s.first_frame_iterations, "mean_later_iterations": s.mean_later_iterations,
        "stage_seconds": dict(report.stage_seconds),
        "per_frame_temporal_error": m["per_frame"]["temporal_error"],
        "per_frame_style_loss": m["per_frame"]["style_loss"],
        "per_frame_content_loss": m["per_frame"]["content_loss"],
    }


def style_gain(judge: MagentaPainter, frames: list, outputs: list) -> float:
    """Return the panel's style gain of ``outputs`` over ``frames`` ((H, W, 3) uint8 BGR) towards :data:`STYLE`
    (the style embedding of the painter ``judge``, the peer's own; 0 = as far from the painting as the frame, 1 =
    the painting's own), as :meth:`benchmarks.panel.Judge.score` computes it."""
    vector = judge.style_vector
    target = vector(resize_to_width(read_image(STYLE), frames[0].shape[1]))
    gains = []
    for frame, out in zip(frames, outputs, strict=True):
        base = _cos(vector(frame), target)
        gains.append((_cos(vector(out), target) - base) / (1.0 - base))
    return float(np.mean(gains))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def passes(report) -> dict:
    """Return the loss-and-gradient passes (VGG evaluations, both pyramid levels) of a run's first pass: per frame,
    the first frame's and the later frames' mean (a load-independent measure of the work)."""
    rows = [r for r in report.frames.values() if r["pass"] == 1]
    first = [r["evaluations"] for r in rows if r["first_of_shot"]]
    later = [r["evaluations"] for r in rows if not r["first_of_shot"]]
    return {"evaluations_per_frame": float(np.mean([r["evaluations"] for r in rows])),
            "first_frame_evaluations": float(np.mean(first)),
            "later_frame_evaluations": float(np.mean(later)) if later else 0.0,
            "first_frame_coarse_iterations": float(np.mean([r["coarse_iterations"] for r in rows
                                                            if r["first_of_shot"]]))}


def known_motion(quick: bool, work: Path, judge: MagentaPainter) -> dict:
    """Return the previous defaults, the defaults and the baseline on the virtual-camera clip: warping error under
    the exact flow and occlusion, as a multiple of the baseline's (``ratio_*``), style gain, structure, passes."""
    if not PHOTO.is_file():
        return {"skipped": f"{PHOTO} missing (run make samples)"}
    size, n = ((128, 96), 6) if quick else ((256, 192), 10)
    clip = camera_clip(cv2.imread(str(PHOTO)), n, size)
    video = lossless_clip(clip.frames, work / f"known_motion_{size[0]}.mkv")
    rows = {}
    for name, kw in (("previous_defaults", PREVIOUS_DEFAULTS), (DEFAULTS_METHOD, {}), ("independent", INDEPENDENT)):
        report, workdir = optimise(video, work / f"known_{name}.mp4", ReadOptions(), **kw)
        inputs, outputs = load_workdir_frames(workdir)
        rows[name] = {"temporal_error": float(np.nanmean(warping_error(outputs, clip.flows_back, clip.masks))),
                      "style_gain": style_gain(judge, inputs, outputs),
                      "structure": float(np.mean([structure_score(a, b) for a, b in zip(inputs, outputs,
                                                                                        strict=True)])),
                      "seconds_per_frame": report.summary.mean_seconds_per_frame, **passes(report)}
    base = rows["independent"]["temporal_error"]
    return {"size": list(size), "frames": n, "photo": str(PHOTO), "methods": rows, "ratio_target": 0.10,
            "ratio_defaults": rows[DEFAULTS_METHOD]["temporal_error"] / base,
            "ratio_previous_defaults": rows["previous_defaults"]["temporal_error"] / base}


def demo_probe(height: int, width: int) -> dict:
    """Return the seconds of one loss-and-gradient pass at (height, width) and at its coarse size, with this
    process's precision default (a row function for :func:`benchmarks.cpu_class.run_capped`)."""
    full, coarse = probe(RunPlan(frames=1, height=height, width=width), "bundled")
    return {"full_pass_seconds": full, "coarse_pass_seconds": coarse}


def demo_estimates() -> dict:
    """Return ``make demo``'s expected minutes (20 frames at 384x288) for the previous defaults and the defaults,
    from a probe here and under ``ONEDNN_MAX_CPU_ISA=AVX2``."""
    probes = {"native": demo_probe(*DEMO_SIZE)}
    size = {"height": DEMO_SIZE[0], "width": DEMO_SIZE[1]}
    probes["avx2"] = probes["native"] if native_is_avx2() else run_capped("benchmarks.video:demo_probe", size)
    out: dict = {"frames": DEMO_FRAMES, "size": [DEMO_SIZE[1], DEMO_SIZE[0]], "avx2_note": AVX2_NOTE}
    for column, p in probes.items():
        out[column] = {"probe": {k: v for k, v in p.items() if k != "cpu"}}
        for name, kw in (("previous_defaults", PREVIOUS_DEFAULTS), (DEFAULTS_METHOD, {})):
            plan = demo_plan(kw)
            est = estimate_seconds(plan, p["full_pass_seconds"], p["coarse_pass_seconds"])
            out[column][name] = {"typical_minutes": est.typical / 60, "upper_minutes": est.upper / 60}
    return out


def demo_plan(kw: dict) -> RunPlan:
    """Return make demo's :class:`RunPlan` with the iteration fields of ``kw`` (the defaults otherwise)."""
    fields = {k: kw[k] for k in ("first_iterations", "coarse_iterations", "iterations") if k in kw}
    return RunPlan(DEMO_FRAMES, *DEMO_SIZE, **fields)


def _demo_targets(demo: dict) -> dict:
    avx2 = demo["avx2"]
    return {"demo_minutes_avx2": avx2[DEFAULTS_METHOD]["typical_minutes"],
            "demo_minutes_avx2_previous_defaults": avx2["previous_defaults"]["typical_minutes"],
            "demo_minutes_avx2_target": 8.0}


def _drift(row: dict) -> dict:
    """Return the drift checks of a long run: the last ten frames' mean content and style loss against frame 2's."""
    content, style = row["per_frame_content_loss"], row["per_frame_style_loss"]
    return {"drift_frames": len(content),
            "content_last10_vs_frame2": float(np.mean(content[-10:]) / content[1] - 1),
            "style_last10_vs_frame2": float(np.mean(style[-10:]) / style[1] - 1),
            "drift_target": 0.10}


def reference(ref_workdir: Path) -> dict:
    """Return what every method is measured against: the input frames of a run's work directory, its DeepFlow
    flows between them (``back``/``fwd``, frame t -> t-1 and t-1 -> t) and the referee objective with its Grams."""
    inputs, _ = load_workdir_frames(ref_workdir)
    n = len(inputs)
    objective = build_objective(REFEREE)
    grams = blend_grams(style_grams_for(objective, REFEREE, load_styles(REFEREE), inputs[0].shape[1]),
                        blend_weights(REFEREE))
    return {"inputs": inputs, "objective": objective, "grams": grams,
            "back": [read_flo(ref_workdir / "flow" / f"{i:06d}_{i - 1:06d}.flo") for i in range(2, n + 1)],
            "fwd": [read_flo(ref_workdir / "flow" / f"{i - 1:06d}_{i:06d}.flo") for i in range(2, n + 1)]}


def measure(ref: dict, outputs: list) -> dict:
    """Return :func:`video.evaluate.evaluate_frames` of ``outputs`` ((H, W, 3) uint8 BGR, one per input frame) on
    the frames, flows and referee of ``ref`` (from :func:`reference`)."""
    return evaluate_frames(ref["inputs"], outputs, ref["back"], ref["fwd"], ref["objective"], ref["grams"])


def _contact_sheet(inputs: list, outputs: dict[str, list], path: Path) -> None:
    """Write rows of (input | old defaults | previous defaults | defaults) for the first, middle and last frame."""
    picks = sorted({0, len(inputs) // 2, len(inputs) - 1})
    names = ("old_defaults", "previous_defaults", DEFAULTS_METHOD)
    rows = [np.hstack([inputs[k], *(outputs[n][k] for n in names)]) for k in picks]
    sheet = np.vstack(rows)
    label = np.full((24, sheet.shape[1], 3), 255, np.uint8)
    w = inputs[0].shape[1]
    for k, text in enumerate(("input", "old defaults", "previous defaults", "defaults")):
        cv2.putText(label, text, (k * w + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([label, sheet]))


def _plot(results: dict, path: Path) -> None:
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    for name, r in results.items():
        ax.plot(np.arange(2, len(r["per_frame_temporal_error"]) + 2), r["per_frame_temporal_error"], label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel("warping error")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
