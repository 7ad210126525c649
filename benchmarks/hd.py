"""HD and 4K films: paint at a working width, deliver at the clip's own resolution (one run).

Clip: ``example.mp4`` of gordicaleksa/pytorch-naive-video-nst in ``../shared/data/video`` -- a native 1920x1080,
30 fps phone-style clip with AAC audio (30 frames), used as it is (not upscaled). Painting: ``samples/
starry_night.jpg``. Working width 384, output width 1920 unless a row says otherwise.

- ``optimize``: ``paintvid video`` (the optimisation path, defaults; quick mode: fewer frames and iterations) on the
  first 10 frames at ``--width 384 --output-width 1920``: the upsampling's busy seconds (in the encoder's loop) as a
  share of the stylise stage's (target <= 10 %).
- ``candidates``: the same stored paintings brought to 1920 by every :class:`media.upsample.UpsampleMethod`: cost
  per frame, the warping error (Lai et al.; DIS flow of the input at each size) relative to the input's own at 1920,
  divided by the same ratio of the working-width painting at 384 (target <= 1.1 for the default), the structure
  measure (:mod:`media.structure`, sigma = width / 128) at 1920 (target >= 0.9) and, because that measure's 11 px
  window makes every smooth upscale score near 1 at 1920, the same measure with no pre-blur (``edges``: how much
  of the input's fine edges the output follows). The input's own warping error is several times smaller at 1920
  than at 384 (per pixel, a photograph is smoother at a finer sampling), so the ratio of ratios also grows for the
  bicubic upscale, which cannot add flicker (a fixed linear map of each painting); ``warping_vs_bicubic`` compares
  each method with it at 1920.
- ``arbitrary``: ``--method arbitrary`` at ``--width 384 --output-width 1920``: frames per second of wall time,
  decode and encode included, natively and in a process with ``ONEDNN_MAX_CPU_ISA=AVX2`` (the painter runs on
  onnxruntime, whose kernels do not read that variable; TensorFlow's do), beside the same run written at 384.
- ``uhd``: a 3840x2160 clip (the clip upscaled bicubically to 4K, 3 frames) through ``--method arbitrary
  --output-width 3840`` in a fresh process: its peak resident memory (``VmHWM``; target < 4 GB). The ffmpeg
  encoder is a process of its own and not counted.
- Pictures: ``hd_crops.png`` (and, in full mode, ``docs/hd_crops.jpg``): 100 % crops of one frame, input |
  bicubic | guided | guided-full | painted at full width (the painter at 1920 directly; the optimisation path at
  1920 is not affordable here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.cpu_class import columns, cpu_record, run_capped
from benchmarks.shared import SHARED_DATA
from media.flow import input_flows
from media.frame_pairs import iter_frame_pairs
from media.metrics import warping_error
from media.structure import WINDOW, WINDOW_SIGMA, luminance, mean_structure
from media.upsample import DEFAULT_METHOD, UpsampleMethod, upsample
from media.video_io import ReadOptions, ffmpeg_exe, ffmpeg_url
from transfer.arbitrary.magenta import load_magenta, paint_frame
from transfer.stylize import StyleSpec
from video.config import VideoConfig
from video.fast_runner import FastVideoConfig, stylize_video_fast
from video.pipeline import stylize_video

REPO = Path(__file__).resolve().parents[1]
CLIP = SHARED_DATA / "video" / "gordicaleksa+pytorch-naive-video-nst" / "example.mp4"
STYLE = REPO / "samples" / "starry_night.jpg"
WORK_WIDTH, OUTPUT_WIDTH, UHD_WIDTH = 384, 1920, 3840
#: The 100 % crop of the pictures: (x, y, width, height) in the 1920x1080 frame.
CROP = (760, 300, 480, 400)
DOCS_PICTURE = REPO / "docs" / "hd_crops.jpg"


def run(quick: bool, out_dir: Path) -> dict:
    """Run the benchmark (see the module docstring); return JSON-serialisable numbers."""
    if not CLIP.is_file():
        return {"skipped": f"{CLIP} is absent (the shared data beside the repository)"}
    work = Path(out_dir) / "hd"
    work.mkdir(parents=True, exist_ok=True)
    frames = 2 if quick else 10
    load_before = os.getloadavg()[0]
    optimize, workdir = _optimize(work, frames, quick)
    inputs, working_inputs, painted = _stored(workdir, frames)
    candidates = candidate_rows(painted, working_inputs, inputs)
    chosen = next(r for r in candidates if r["method"] == DEFAULT_METHOD.value)
    arbitrary = columns("benchmarks.hd:arbitrary_row", {"out": str(work), "frames": 4 if quick else 30})
    uhd = run_capped("benchmarks.hd:uhd_row", {"out": str(work), "frames": 1 if quick else 3}, isa="ALL")
    _crops(Path(out_dir), inputs[0], painted[0], docs=not quick)
    return {
        "clip": f"{CLIP.name} (1920x1080, native, {frames} frames), painting {STYLE.name}", "cpu": cpu_record(),
        "load_average_1min": f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)",
        "upsample": DEFAULT_METHOD.value,
        "upsample_share_of_stylize": optimize["upsample_share_of_stylize"],
        "warping_ratio_1920_vs_384": chosen["warping_ratio_vs_working"],
        "warping_1920_vs_bicubic": chosen["warping_vs_bicubic"],
        "input_warping_384_over_1920": candidates[0]["input_warping_error"] / chosen["input_warping_error"],
        "structure_1920": chosen["structure"],
        "arbitrary_fps_1920_native": arbitrary["native"]["fps"],
        "arbitrary_fps_1920_avx2": arbitrary["avx2"]["fps"],
        "uhd_peak_rss_mb": uhd["peak_rss_mb"],
        "optimize": optimize, "candidates": candidates,
        "arbitrary": {"native": _flat(arbitrary["native"]), "avx2": _flat(arbitrary["avx2"]),
                      "note": arbitrary["note"]},
        "uhd": _flat(uhd),
        "targets": {"upsample_share_of_stylize": "<= 0.10", "warping_ratio_1920_vs_384": "<= 1.1",
                    "structure_1920": ">= 0.9", "arbitrary_fps_1920": ">= 8 native (AVX-512 BF16), >= 4 AVX2",
                    "uhd_peak_rss_mb": "< 4096"},
    }


def _flat(row: dict) -> dict:
    """Return ``row`` without nested values (the report's tables take scalars), the CPU model kept."""
    cpu = row.get("cpu", {})
    return {**{k: v for k, v in row.items() if not isinstance(v, dict | list)},
            "cpu": f"{cpu.get('model', '?')} ({cpu.get('isa_class', '?')})" if cpu else ""}


def _optimize(work: Path, frames: int, quick: bool) -> tuple[dict, Path]:
    """Run the optimisation path at 384 -> 1920; return its row and work directory."""
    out = work / "optimize_1080p.mp4"
    shutil.rmtree(out.with_suffix(".work"), ignore_errors=True)  # a resumed run would report no stylise time
    budget = {"first_iterations": 10, "coarse_iterations": 0, "iterations": 5} if quick else {}
    config = VideoConfig(video=CLIP, output=out, style=StyleSpec(styles=(STYLE,)), flow="dis",
                         read=ReadOptions(frames=frames, width=WORK_WIDTH), output_width=OUTPUT_WIDTH, progress=False,
                         **budget)
    result = stylize_video(config)
    stylize, up = result.stage_seconds["stylize"], result.stage_seconds["upsample"]
    row = {"frames": result.n_frames, "working_size": f"{result.working_size.width}x{result.working_size.height}",
           "output_size": f"{result.size.width}x{result.size.height}", "stylize_seconds": stylize,
           "upsample_seconds": up, "encode_seconds": result.stage_seconds["encode"],
           "upsample_share_of_stylize": up / stylize, "peak_rss_mb": result.peak_rss_mb,
           "budget": "quick: 10 / 5 iterations" if quick else "defaults"}
    return row, out.with_suffix(".work")


def _stored(workdir: Path, frames: int) -> tuple[list, list, list]:
    """Return (input frames at 1920, input frames at 384, painted frames at 384) of the optimisation run."""
    pairs = list(iter_frame_pairs(CLIP, ReadOptions(frames=frames, width=WORK_WIDTH), OUTPUT_WIDTH))
    painted = [cv2.imread(str(workdir / "stylized" / f"{k + 1:06d}.png")) for k in range(len(pairs))]
    return [full for _, _, full in pairs], [work for _, work, _ in pairs], painted


def mean_warping(frames: list, flows: tuple[list, list]) -> float:
    """Return the mean warping error of ``frames`` ([0, 1] images, squared) under ``flows`` (back, forward) of the
    input at their size, occlusions by the forward-backward check."""
    back, fwd = flows
    return float(np.nanmean(warping_error(frames, back, flows_forward=fwd)))


def edge_structure(references: list, outputs: list) -> float:
    """Return the structure measure's mean local correlation (:mod:`media.structure`: SSIM's window, windows where
    the input is flat left out) with no pre-blur: how closely the output follows the input's fine edges."""
    scores = []
    for ref, out in zip(references, outputs, strict=True):
        x, y = luminance(ref), luminance(out)

        def window(a: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(a, (WINDOW, WINDOW), WINDOW_SIGMA, borderType=cv2.BORDER_REFLECT)

        mx, my = window(x), window(y)
        vx, vy = np.maximum(window(x * x) - mx * mx, 0), np.maximum(window(y * y) - my * my, 0)
        corr = (window(x * y) - mx * my) / np.maximum(np.sqrt(vx * vy), 1e-12)
        valid = np.sqrt(vx) >= np.sqrt(0.03**2 / 2)
        scores.append(float(np.clip(corr, -1, 1)[valid].mean()))
    return float(np.mean(scores))


def candidate_rows(painted: list, working_inputs: list, inputs: list) -> list[dict]:
    """Return one row per upsampling method: ms per frame, warping ratio, structure at 1920 (see the docstring)."""
    flows_small, flows_full = input_flows(working_inputs, "dis"), input_flows(inputs, "dis")
    own_small, own_full = mean_warping(working_inputs, flows_small), mean_warping(inputs, flows_full)
    at_working = mean_warping(painted, flows_small)
    rows = [{"method": "working width (384)", "warping_error": at_working, "input_warping_error": own_small,
             "warping_vs_input": at_working / own_small, "structure": mean_structure(working_inputs, painted),
             "edges": edge_structure(working_inputs, painted)}]
    bicubic = None
    for method in UpsampleMethod:
        upsample(painted[0], inputs[0], method)  # warm-up (OpenCV's thread pool)
        started = time.perf_counter()
        outputs = [upsample(p, f, method) for p, f in zip(painted, inputs, strict=True)]
        ms = (time.perf_counter() - started) / len(outputs) * 1000
        error = mean_warping(outputs, flows_full)
        bicubic = bicubic or error  # the first method: a fixed linear map of each painting, so no flicker of its own
        rows.append({"method": method.value, "ms_per_frame": ms, "warping_error": error,
                     "input_warping_error": own_full, "warping_vs_input": error / own_full,
                     "warping_ratio_vs_working": (error / own_full) / (at_working / own_small),
                     "warping_vs_bicubic": error / bicubic, "structure": mean_structure(inputs, outputs),
                     "edges": edge_structure(inputs, outputs)})
    return rows


def arbitrary_row(out: str, frames: int) -> dict:
    """Return fps and stage shares of ``--method arbitrary`` at 384 -> 1920, and at 384 -> 384 (a row function for
    :func:`benchmarks.cpu_class.columns`)."""
    tag = os.environ.get("ONEDNN_MAX_CPU_ISA", "native").lower()
    row: dict = {"working_width": WORK_WIDTH, "frames": frames}
    for name, width in (("", OUTPUT_WIDTH), ("_at_384", None)):
        output = Path(out) / f"arbitrary_{tag}{name or '_1080p'}.mp4"
        shutil.rmtree(output.with_suffix(".work"), ignore_errors=True)
        result = stylize_video_fast(FastVideoConfig(
            video=CLIP, model=None, paintings=(STYLE,), output=output, output_width=width, progress=False,
            read=ReadOptions(frames=frames, width=WORK_WIDTH)))
        row[f"fps{name}"] = result.fps
        row[f"output_size{name}"] = f"{result.size.width}x{result.size.height}"
        if width is not None:
            row["upsample_share_of_stylize"] = result.stage_seconds["upsample"] / result.stage_seconds["stylize"]
            row["busy_fraction_of_wall"] = result.throughput.busy_fraction_of_wall
            row["peak_rss_mb"] = result.peak_rss_mb
    return row


def uhd_row(out: str, frames: int) -> dict:
    """Return the peak memory of ``--method arbitrary`` writing a 3840x2160 clip (run it in a fresh process)."""
    clip = Path(out) / "clip_2160p.mp4"
    if not clip.is_file():
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", ffmpeg_url(CLIP), "-frames:v", str(frames),
                        "-vf", f"scale={UHD_WIDTH}:2160:flags=bicubic", "-c:v", "libx264", "-crf", "18", "-preset",
                        "veryfast", "-c:a", "copy", str(clip)], check=True)
    output = Path(out) / "arbitrary_2160p.mp4"
    shutil.rmtree(output.with_suffix(".work"), ignore_errors=True)
    result = stylize_video_fast(FastVideoConfig(video=clip, model=None, paintings=(STYLE,), output=output,
                                                read=ReadOptions(width=WORK_WIDTH), output_width=UHD_WIDTH,
                                                progress=False))
    return {"frames": result.n_frames, "output_size": f"{result.size.width}x{result.size.height}",
            "working_size": f"{result.working_size.width}x{result.working_size.height}", "fps": result.fps,
            "peak_rss_mb": result.peak_rss_mb, "queue_frames": FastVideoConfig.queue_frames}


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 26), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _crop(image: np.ndarray) -> np.ndarray:
    x, y, w, h = CROP
    return image[y:y + h, x:x + w]


def _crops(out_dir: Path, full: np.ndarray, painted_opt: np.ndarray, docs: bool) -> None:
    """Write the 100 % crops (optimisation row, painter row) to ``out_dir/hd_crops.png`` and, with ``docs`` (full
    mode: the optimisation path's default budget), to ``docs/hd_crops.jpg``."""
    painter = load_magenta()
    vector = painter.style_vector(cv2.imread(str(STYLE)))
    small = cv2.resize(full, (WORK_WIDTH, painted_opt.shape[0]), interpolation=cv2.INTER_AREA)
    painted_arb = paint_frame(painter, small, vector, 1.0)
    at_full = painter.paint(full[None], vector)[0]
    gap = np.full((CROP[3], 6, 3), 255, np.uint8)
    rows = []
    for name, painted, native in (("optimize", painted_opt, None), ("arbitrary", painted_arb, at_full)):
        panels = [_label(_crop(full), "input 1920"),
                  _label(_crop(upsample(painted, full, "bicubic")), f"{name} 384, bicubic"),
                  _label(_crop(upsample(painted, full, UpsampleMethod.GUIDED)), f"{name} 384, guided"),
                  _label(_crop(upsample(painted, full, UpsampleMethod.GUIDED_FULL)), f"{name} 384, guided-full")]
        panels.append(_label(_crop(native), f"{name} painted at 1920") if native is not None else
                      _label(np.full_like(panels[0], 40), f"{name} at 1920: too slow to paint"))
        rows.append(np.hstack([p for panel in panels for p in (panel, gap)][:-1]))
    sheet = np.vstack([rows[0], np.full((6, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
    cv2.imwrite(str(out_dir / "hd_crops.png"), sheet)
    if docs:
        cv2.imwrite(str(DOCS_PICTURE), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
