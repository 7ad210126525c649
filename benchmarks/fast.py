"""Fast mode benchmark: real-time throughput at 640x360 and the temporal-loss ablation.

``run(quick, out_dir)`` measures:
- network only, batch 4, 640x360: the slim network in bfloat16 and float32 (and Johnson's in full mode);
- end to end on a 640x360 clip (decode + network + encode overlapped): fps and the time share of each stage,
  slim bfloat16 and float32, plus bfloat16 with inference-time smoothing;
- the ablation: the same network trained with and without the temporal loss (tiny in quick mode), judged by
  the warping error (Lai et al. 2018, ``media.metrics.warping_error``) of its output on a real clip, flows from
  the input. Speed does not depend on the weights, so throughput uses a randomly initialised network;
- the fast networks (ablation pair, and the ``make train-style`` model when present) against the optimisation
  path on the video benchmark's frames: warping error as a multiple of the optimisation path's, under the path's
  own DeepFlow flows and under flows it never saw (DIS, Farneback);
- the same comparison on a photograph filmed by a virtual camera (exact flow, no estimate favours anyone).
Throughput rows run natively and again (float32, the default there) in a subprocess with
``ONEDNN_MAX_CPU_ISA=AVX2`` (``*_avx2`` keys; oneDNN then runs an AVX2-only CPU's kernels).
Writes ``fast_ablation.png`` (loss curves) and ``fast_throughput.png`` into ``out_dir``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from benchmarks.cpu_class import AVX2_NOTE, cpu_record, native_is_avx2, run_capped
from benchmarks.known_motion import camera_clip
from benchmarks.video import DEFAULTS_METHOD, optimise, reference
from foundation.figures import save_figure
from media.encode import encode_frames
from media.flow import input_flows
from media.metrics import warping_error
from media.smoothing import smooth_frame
from media.video_io import ReadOptions, ffmpeg_exe, iter_frames, read_frames
from tests.synthetic import synthetic_clip
from transfer.fast.data import PairOptions
from transfer.fast.losses import TEMPORAL_WEIGHT, FastLossWeights
from transfer.fast.network import NetworkSpec, build_network, load_network, save_network
from transfer.fast.train import TrainConfig, train_style
from video.evaluate import frame_losses, load_workdir_frames
from video.fast_runner import FastVideoConfig, stylize_video_fast
from video.fast_stylizer import compile_stylizer

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SIZE = (640, 360)


def run(quick: bool, out_dir: Path) -> dict:
    """Run the benchmark (see the module docstring); returns JSON-serialisable numbers."""
    work = Path(out_dir) / "fast"
    work.mkdir(parents=True, exist_ok=True)
    clip = _clip_640x360(work / "clip_640x360.mp4", frames=48 if quick else 240)
    results: dict = {"clip": {"path": str(clip), "size": list(SIZE)}, "cpu": cpu_record()}
    results["network_only_fps"] = _network_only(quick)
    results["end_to_end"] = _end_to_end(clip, work, quick)
    results.update(_avx2_column(quick, clip, work))
    results["ablation"] = _ablation(work, quick)
    results["versus_optimization"] = _versus_optimization(work, Path(out_dir))
    results["known_motion"] = _known_motion(work, quick)
    _plots(results, Path(out_dir))
    return results


def _clip_640x360(path: Path, frames: int) -> Path:
    """Return a 640x360 H.264 clip made from the sample cartoon (cropped to 16:9), or a synthetic pan."""
    if path.is_file():
        return path
    source = SAMPLES / "Megamind.avi"
    out = []
    if source.is_file():
        for _, frame in iter_frames(source, ReadOptions(width=SIZE[0], frames=frames)):
            h = frame.shape[0]
            if h >= SIZE[1]:
                top = (h - SIZE[1]) // 2
                frame = frame[top : top + SIZE[1]]
            out.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    else:
        clip = synthetic_clip(n_frames=frames, h=SIZE[1], w=SIZE[0], patch_shift=None, seed=0)
        out = clip.frames
    return encode_frames(out, path, fps=24)


def isa_rows(quick: bool, clip: str, work: str) -> dict:
    """Return the network-only and end-to-end rows of the slim network in float32 (the default precision without
    native bfloat16) under this process's ISA: a row function for :func:`benchmarks.cpu_class.run_capped`."""
    runs = {"slim_float32": {"precision": "float32"}, "slim_float32_smoothing": {"precision": "float32",
                                                                                "smoothing": 0.5}}
    return {"network_only_fps": _network_only(quick, ("float32",)),
            "end_to_end": _end_to_end(Path(clip), Path(work), quick, runs)}


def _avx2_column(quick: bool, clip: Path, work: Path) -> dict:
    """Return :func:`isa_rows` under ``ONEDNN_MAX_CPU_ISA=AVX2`` (a subprocess) with its CPU record and a note."""
    if native_is_avx2():
        return {"avx2_note": "this CPU is AVX2 class: the rows above are its AVX2 column"}
    col = run_capped("benchmarks.fast:isa_rows", {"quick": quick, "clip": str(clip), "work": str(work / "avx2")})
    return {"avx2_note": AVX2_NOTE, "cpu_avx2": col["cpu"], "network_only_fps_avx2": col["network_only_fps"],
            "end_to_end_avx2": col["end_to_end"]}


def _network_only(quick: bool, precisions: tuple[str, ...] = ("bfloat16", "float32")) -> dict:
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, SIZE[1], SIZE[0], 3)).astype(np.float32))
    variants = [("slim", p) for p in precisions]
    if not quick:
        variants += [("johnson", p) for p in precisions]
    out = {}
    for preset, precision in variants:
        net = build_network(NetworkSpec.preset(preset), precision, seed=0)
        f = tf.function(lambda v, net=net: net(v))
        f(x)
        f(x)
        reps = 3 if preset == "johnson" or quick else 10
        t = time.perf_counter()
        for _ in range(reps):
            f(x).numpy()
        out[f"{preset}_{precision}"] = 4 * reps / (time.perf_counter() - t)
    return out


def _end_to_end(clip: Path, work: Path, quick: bool, runs: dict | None = None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    model = save_network(build_network(NetworkSpec.preset("slim"), seed=0), work / "slim_random.keras")
    runs = runs or {"slim_bfloat16": {"precision": "bfloat16"}, "slim_float32": {"precision": "float32"},
                    "slim_bfloat16_smoothing": {"precision": "bfloat16", "smoothing": 0.5}}
    out = {}
    for name, options in runs.items():
        cfg = FastVideoConfig(video=clip, model=model, output=work / f"{name}.mp4", workdir=work / f"{name}.work",
                              audio=False, progress=False, **options)
        report = stylize_video_fast(cfg)
        if report.resumed:  # a rerun of the benchmark must measure again
            (work / f"{name}.work" / "run.json").unlink()
            report = stylize_video_fast(cfg)
        t = report.throughput
        out[name] = {"fps": report.fps, "n_frames": report.n_frames, "time_share": t.time_share,
                     "busy_fraction_of_wall": t.busy_fraction_of_wall, "stage_seconds": report.stage_seconds,
                     "encoder_process_cpu_seconds": t.encoder_process_cpu_seconds, "wall_seconds": report.wall_seconds}
    return out


def _ablation(work: Path, quick: bool) -> dict:
    """Train with and without the temporal loss; compare their warping error on a real clip."""
    style = SAMPLES / "starry_night.jpg"
    # the kind of content `make train-style` uses: photographs (here the shared real ones) and video
    content = [p for p in (REPO.parent / "shared" / "data" / "images" / "photo", SAMPLES / "vtest.avi",
                           SAMPLES / "Megamind.avi") if p.exists()]
    eval_clip = SAMPLES / "tree.avi"
    if not style.is_file() or not content or not eval_clip.is_file():
        return {"skipped": "needs samples/ (make samples)"}
    if quick:
        base = dict(network=NetworkSpec.preset("slim", width=0.5), pairs=PairOptions(size=96, video_pairs=8),
                    style_size=128, steps=80, learning_rate=3e-3, log_every=10)
    else:
        # = paintvid train-style STYLE --content ... --size 192 --style-size 192 --steps 500 --video-pairs 64
        base = dict(network=NetworkSpec.preset("slim"), pairs=PairOptions(size=192, video_pairs=64),
                    style_size=192, steps=500, learning_rate=1e-3)
    out: dict = {"steps": base["steps"], "crop": base["pairs"].size}
    for name, temporal in (("temporal", TEMPORAL_WEIGHT), ("no_temporal", 0.0)):
        model = work / f"ablation_{name}.keras"
        cfg = TrainConfig(style=style, output=model, content=tuple(content), loss=FastLossWeights(temporal=temporal),
                          checkpoint_every=base["steps"], preview_every=base["steps"], progress=False, **base)
        report = train_style(cfg)
        video = work / f"ablation_{name}.mp4"
        stylize_video_fast(FastVideoConfig(video=eval_clip, model=model, output=video, workdir=work / f"{name}.work",
                                           read=ReadOptions(frames=30 if quick else 60),
                                           audio=False, progress=False))
        out[name] = {"train_seconds": report.timings_seconds.train,
                     "resumed_from_step": report.resumed_from_step, "final_losses": report.final_losses,
                     "history": [{"step": h["step"], "total": h["total"], "temporal": h["temporal"],
                                  "style": h["style"]} for h in report.history],
                     "warping_error": _warping_error(video, eval_clip, 30 if quick else 60)}
    t, n = out["temporal"]["warping_error"], out["no_temporal"]["warping_error"]
    out["warping_error_ratio_temporal_over_no_temporal"] = t / n if n else None
    return out


#: Inference-time smoothing variants compared with the optimisation path: (blend, flow method, flow scale).
#: The first is ``--smoothing 0.5`` as shipped (DIS at half resolution); the second aligns to DeepFlow, the flow
#: the optimisation path aligns to.
SMOOTHINGS = {"smoothing": (0.5, "dis", 0.5), "smoothing_deepflow": (0.8, "deepflow", 1.0)}


def _fast_outputs(work: Path, inputs: list) -> tuple[dict, dict]:
    """Stylise ``inputs`` ((H, W, 3) uint8 BGR) with every available fast network, plain and with each of
    :data:`SMOOTHINGS`; return ({name: frames}, {variant: mean smoothing seconds per frame, None if no network})."""
    models = {name: work / f"ablation_{name}.keras" for name in ("temporal", "no_temporal")}
    models["make_train_style"] = REPO / "models" / "starry_night.keras"
    outputs: dict = {}
    seconds = {k: [] for k in SMOOTHINGS}
    for name, path in models.items():
        if not path.is_file():
            continue
        outputs[name] = plain = list(compile_stylizer(load_network(path, "bfloat16"))(np.stack(inputs)))
        for variant, (alpha, method, scale) in SMOOTHINGS.items():
            smoothed = [plain[0]]
            for t in range(1, len(plain)):
                t0 = time.perf_counter()
                smoothed.append(smooth_frame(plain[t], smoothed[-1], inputs[t], inputs[t - 1], alpha, method, scale))
                seconds[variant].append(time.perf_counter() - t0)
            outputs[f"{name}_{variant}"] = smoothed
    return outputs, {k: float(np.mean(v)) if v else None for k, v in seconds.items()}


def _comparison(ref: dict, outputs: dict, flows: dict) -> dict:
    """Losses of every output sequence and, for each entry ``{flow name: (back, fwd, masks or None)}`` of
    ``flows``, its warping error and that error as a multiple of the ``"optimisation"`` sequence's."""
    inputs = ref["inputs"]
    out: dict = {"frames": len(inputs), "size": list(inputs[0].shape[1::-1]), "target_ratio": 1.5, "losses": {}}
    for name, frames in outputs.items():
        losses = frame_losses(ref["objective"], ref["grams"], inputs, frames)
        out["losses"][name] = {"mean_style_loss": float(np.mean(losses["style"])),
                               "mean_content_loss": float(np.mean(losses["content"]))}
    for flow_name, (back, fwd, masks) in flows.items():
        errors = {name: float(np.nanmean(warping_error(frames, back, masks, flows_forward=fwd)))
                  for name, frames in {**outputs, "input": inputs}.items()}
        base = errors["optimisation"]
        table = {name: {"temporal_error": e, "over_optimisation": None if name == "input" else e / base}
                 for name, e in errors.items()}
        out[f"flows_{flow_name}"] = table
    return out


def _versus_optimization(work: Path, out_dir: Path) -> dict:
    """The fast networks against the optimisation path on the video benchmark's frames (``out_dir/video``).

    Every ``.keras`` of the ablation, plus ``models/starry_night.keras`` when ``make train-style`` has made it
    (the default recipe), stylises the input frames of the optimisation run, plain and with each of
    :data:`SMOOTHINGS`. Warping errors are measured with the DeepFlow flows the optimisation path itself was
    optimised against (its temporal loss pulls its output onto exactly those warps, so this favours it), and with
    flows it never saw (DIS and Farneback on the input frames); each is also given as a multiple of the
    optimisation path's error under the same flows.
    """
    ref_workdir = out_dir / "video" / f"{DEFAULTS_METHOD}.work"  # the video module's defaults run
    if not (ref_workdir / "stylized").is_dir():
        return {"skipped": "needs the video benchmark's run (benchmarks.run --only video,fast)"}
    ref = reference(ref_workdir)
    inputs = ref["inputs"]
    flows = {"deepflow_of_optimisation": (ref["back"], ref["fwd"], None)}
    for method in ("dis", "farneback"):
        flows[method] = (*input_flows(inputs, method), None)
    fast, seconds = _fast_outputs(work, inputs)
    out = _comparison(ref, {"optimisation": load_workdir_frames(ref_workdir)[1], **fast}, flows)
    out["smoothing_seconds_per_frame"] = seconds
    return out


def _known_motion(work: Path, quick: bool) -> dict:
    """The fast networks against the optimisation path on a clip whose flow is known exactly.

    A photograph (``samples/building.jpg``) filmed by a virtual camera that pans, zooms and turns
    (:mod:`benchmarks.known_motion`), stored losslessly; the optimisation path stylises it with its defaults
    (DeepFlow, 200 / 66 iterations at 256x192), the fast networks as in :func:`_versus_optimization`. Warping
    errors under the exact flow and occlusion are a referee that no method under test estimated; the
    optimisation path's own DeepFlow flows are reported beside them.
    """
    photo = SAMPLES / "building.jpg"
    if not photo.is_file():
        return {"skipped": "needs samples/building.jpg (make samples)"}
    size, n, first = ((128, 96), 6, 60) if quick else ((256, 192), 10, 200)
    clip = camera_clip(cv2.imread(str(photo)), n, size)
    video = _lossless_clip(clip.frames, work / f"known_motion_{size[0]}.mkv")
    _, workdir = optimise(video, work / f"known_motion_{size[0]}_optimisation.mp4", ReadOptions(), first, first // 3)
    ref = reference(workdir)
    if any(not np.array_equal(a, b) for a, b in zip(ref["inputs"], clip.frames, strict=True)):
        raise RuntimeError(f"{video}: decoded frames differ from the rendered ones")
    fast, seconds = _fast_outputs(work, ref["inputs"])
    flows = {"exact": (clip.flows_back, clip.flows_forward, clip.masks),
             "deepflow_of_optimisation": (ref["back"], ref["fwd"], None)}
    out = _comparison(ref, {"optimisation": load_workdir_frames(workdir)[1], **fast}, flows)
    out["smoothing_seconds_per_frame"] = seconds
    return out


def _lossless_clip(frames: list, path: Path, fps: float = 25.0) -> Path:
    """Write (H, W, 3) uint8 BGR ``frames`` as a lossless FFV1 ``.mkv`` (once) and return its path."""
    if not path.is_file():
        h, w = frames[0].shape[:2]
        tmp = path.with_name(f".{path.name}")
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
                        "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "ffv1", "-f", "matroska", str(tmp)],
                       input=b"".join(f.tobytes() for f in frames), check=True)
        tmp.replace(path)
    return path


def _warping_error(stylised: Path, source: Path, frames: int) -> float:
    """Return the mean warping error of ``stylised`` with DIS flows (and occlusion) of the input ``source``."""
    src = read_frames(source, ReadOptions(frames=frames))
    out = read_frames(stylised)
    n = min(len(src), len(out))
    back, fwd = input_flows(src[:n], "dis")
    return float(np.nanmean(warping_error(out[:n], back, flows_forward=fwd)))


def _plots(results: dict, out_dir: Path) -> None:
    ab = results.get("ablation", {})
    if "temporal" in ab:
        fig = Figure(figsize=(10, 3.5))
        axes = fig.subplots(1, 2)
        for name in ("temporal", "no_temporal"):
            steps = [h["step"] for h in ab[name]["history"]]
            axes[0].plot(steps, [h["style"] for h in ab[name]["history"]], label=name)
            axes[1].plot(steps, [h["total"] for h in ab[name]["history"]], label=name)
        axes[0].set_title("weighted style loss")
        axes[1].set_title("total loss")
        for ax in axes:
            ax.set_xlabel("step")
            ax.set_yscale("log")
            ax.legend()
        fig.tight_layout()
        save_figure(fig, out_dir / "fast_ablation.png")
    e2e = results.get("end_to_end", {})
    if e2e:
        fig = Figure(figsize=(7, 3.5))
        ax = fig.subplots()
        names = list(e2e)
        bottom = np.zeros(len(names))
        for stage in ("decode", "stylize", "smooth", "encode"):
            values = np.array([e2e[n]["time_share"][stage] for n in names])
            ax.bar(names, values, bottom=bottom, label=stage)
            bottom += values
        for i, n in enumerate(names):
            ax.text(i, 1.02, f"{e2e[n]['fps']:.1f} fps", ha="center")
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("share of busy time")
        ax.set_title("640x360 end to end (decode, network, encode overlapped)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        save_figure(fig, out_dir / "fast_throughput.png")
