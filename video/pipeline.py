"""Temporally coherent video style transfer (Ruder et al. 2016/2018): ``stylize_video(VideoConfig)``.

Frame 1 is stylised as an image. Frame i starts from the previous stylised frame warped by the flow i -> i-1
(pixels the flow cannot explain come from the content frame) and adds the temporal loss
``sum_k c_k (x - w_k)^2 / D`` against the warped earlier frames k in ``long_term`` (closest first). With
``passes > 1`` the sequence is then swept again, alternating direction, each frame starting from a blend of the
previous pass and the warped neighbour of the current pass.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from foundation.records import jsonable
from transfer.backbone import BUNDLED, IMAGENET, describe_weights
from transfer.color import prepare_inputs, restore_colors
from transfer.features import deprocess, preprocess
from transfer.losses import blend_grams
from transfer.optimize import OptimizeOptions
from transfer.stylize import (
    blend_weights,
    build_objective,
    initial_image,
    load_styles,
    progress_bar,
    run_optimization,
    style_grams_for,
)
from video.config import Init, VideoConfig
from video.prepare import compute_flows, extract_frames
from video.workdir import WorkDir


def stage_keys(config: VideoConfig) -> dict[str, str]:
    """Fingerprints of the settings each stage depends on (frames < flow < stylize)."""
    video = Path(config.video)
    stat = video.stat()
    frames = {"video": str(video.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "read": asdict(config.read)}
    flow = {"frames": frames, "flow": config.flow, "flow_dir": str(config.flow_dir) if config.flow_dir else None}
    spec = config.style
    weights_id = spec.weights if spec.weights in (BUNDLED, IMAGENET) else file_digest(spec.weights)
    stylize = {
        "flow": flow,
        "styles": [file_digest(p) for p in spec.styles],
        "style": {**jsonable(asdict(spec)), "styles": None, "weights": weights_id},
        "loss": asdict(config.loss),
        "init": config.init.value,
        "first_init": config.first_init,
        "iterations": [config.first_iterations, config.iterations, config.pass_iterations],
        "optimizer": [config.optimizer.value, config.adam_learning_rate, config.stall_tolerance],
        "long_term": list(config.long_term),
        "passes": [config.passes, config.pass_blend],
        "schedule": config.style_schedule,
        "preserve_colors": config.preserve_colors,
        "seed": config.seed,
    }
    return {"frames": fingerprint(frames), "flow": fingerprint(flow), "stylize": fingerprint(stylize)}


def _warp_into(workdir: WorkDir, image: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (image of frame j warped into frame i (H, W, 3) float32, certainty (H, W) float32)."""
    from media.flo import read_flo
    from media.warp import warp

    warped, inside = warp(image.astype(np.float32), read_flo(workdir.flow(i, j)), interpolation="cubic")
    c = workdir.read_certainty(i, j) * inside
    return warped, c.astype(np.float32)


def temporal_targets(workdir: WorkDir, i: int, neighbours: list[int], stylized_of) -> tuple[np.ndarray, np.ndarray]:
    """Return (warped (K, H, W, 3) VGG-preprocessed, certainty (K, H, W, 1)) for neighbours, closest first.

    ``stylized_of(j)`` gives the stylised frame j as (H, W, 3) uint8. Weights follow the paper's long-term rule
    c_j <- max(c_j - sum of closer c_k, 0), so each pixel is constrained by its closest reliable frame.
    """
    from media.consistency import long_term_weights

    warped, certs = [], []
    for j in neighbours:
        w, c = _warp_into(workdir, stylized_of(j), i, j)
        warped.append(preprocess(w)[0])
        certs.append(c)
    certs = long_term_weights(certs) if len(certs) > 1 else certs
    return np.stack(warped), np.stack(certs)[..., None].astype(np.float32)


def initial_frame(
    init: Init, content: np.ndarray, warped_prev: np.ndarray | None, c_prev: np.ndarray | None,
    prev: np.ndarray | None, rng: np.random.Generator,
) -> np.ndarray:
    """Return the (1, H, W, 3) VGG-preprocessed start of a frame after the first.

    Args:
        content: (H, W, 3) uint8 BGR content frame; prev: (H, W, 3) uint8 previous stylised frame.
        warped_prev: (H, W, 3) VGG-preprocessed previous result warped into this frame; c_prev: (H, W, 1) its
            certainty. ``prev-warped`` blends it with the content frame by the certainty, so disoccluded and
            unreliable pixels start from the content instead of smeared paint.
    """
    if init is Init.PREV_WARPED and warped_prev is not None:
        return (c_prev * warped_prev + (1 - c_prev) * preprocess(content)[0])[None]
    if init is Init.PREV and prev is not None:
        return preprocess(prev)
    if init is Init.RANDOM:
        return preprocess(rng.uniform(0, 255, content.shape).astype(np.float32))
    return preprocess(content)


def stylize_video(config: VideoConfig) -> dict:
    """Stylise ``config.video`` into ``config.output`` (MP4) and return the run report (also ``run.json``)."""
    from media.video_io import output_fps, probe, selected_span
    from transfer.seeding import seed_everything

    started = time.perf_counter()
    info = probe(config.video)
    styles = load_styles(config.style)
    _schedule(config, len(styles), output_fps(info, config.read))  # a bad schedule fails before any work
    seed_everything(config.seed)
    workdir = WorkDir(config.resolved_workdir)
    keys = stage_keys(config)
    workdir.reconcile(keys, log=lambda m: _log(config, m))

    n = extract_frames(workdir, Path(config.video), config.read, config.progress)
    compute_flows(workdir, n, config.long_term if config.passes == 1 else sorted({*config.long_term, 1}),
                  config.flow, config.flow_dir, config.progress)
    prepared = time.perf_counter()

    objective = build_objective(config.style)
    first = workdir.read_png(workdir.frame(1))
    _, styles = prepare_inputs(config.preserve_colors, first, styles)  # once per run: a fixed style target
    style_grams = style_grams_for(objective, config.style, styles, first.shape[1])
    schedule = _schedule(config, len(styles), output_fps(info, config.read))

    def grams_at(i: int) -> dict:
        weights = schedule.weights_at(i - 1) if schedule is not None else blend_weights(config.style)
        return blend_grams(style_grams, weights)

    run = workdir.load_run()
    if run.get("keys") != keys:
        run = {"keys": keys, "frames": {}}
    run.update(
        config=jsonable(asdict(config)),
        weights_used=describe_weights(config.style.weights),
        n_frames=n,
        size={"height": int(first.shape[0]), "width": int(first.shape[1])},
        fps=output_fps(info, config.read),
    )
    _log(config, f"weights: {run['weights_used']}; {n} frames at {first.shape[1]}x{first.shape[0]}; "
                 f"work directory {workdir.root}")
    for p in range(1, config.passes + 1):
        _run_pass(config, workdir, objective, grams_at, n, p, run)
    if config.passes > 1:
        for i in range(1, n + 1):
            if not workdir.stylized(i).exists():
                workdir.copy_atomic(workdir.stylized(i, config.passes), workdir.stylized(i))
    stylized_done = time.perf_counter()

    start, duration = selected_span(info, config.read)
    _encode(config, workdir, n, run["fps"], start, duration)
    finished = time.perf_counter()
    frame_stats = [run["frames"][k] for k in sorted(run["frames"])]
    run["summary"] = _summary(frame_stats, config)
    run["timings_seconds"] = {"prepare": prepared - started, "stylize": stylized_done - prepared,
                              "encode": finished - stylized_done, "total_this_run": finished - started}
    run["output"] = str(config.output)
    workdir.save_run(run)
    return run


def _run_pass(config: VideoConfig, workdir: WorkDir, objective, grams_at, n: int, p: int, run: dict) -> None:
    """Stylise every missing frame of pass ``p`` (odd passes run forward, even passes backward)."""
    forward = p % 2 == 1
    order = list(range(1, n + 1)) if forward else list(range(n, 0, -1))
    out_pass = None if config.passes == 1 else p
    iterations_later = config.iterations if p == 1 else (config.pass_iterations or config.iterations)
    todo = [i for i in order if not workdir.stylized(i, out_pass).exists()]
    desc = "stylize" if config.passes == 1 else f"pass {p}/{config.passes} ({'fwd' if forward else 'bwd'})"
    from tqdm.auto import tqdm

    with tqdm(total=n, initial=n - len(todo), desc=desc, unit="frame", disable=not config.progress,
              dynamic_ncols=True) as bar:
        for i in todo:
            t0 = time.perf_counter()
            content = prepare_inputs(config.preserve_colors, workdir.read_png(workdir.frame(i)), [])[0]
            step = -1 if forward else 1  # the already-processed neighbour lies behind us
            neighbours = [i + step * k for k in sorted(config.long_term) if 1 <= i + step * k <= n]
            if p > 1:
                neighbours = neighbours[:1]
            first_of_pass = not neighbours

            def stylized_of(j: int) -> np.ndarray:
                return workdir.read_png(workdir.stylized(j, out_pass))

            rng = np.random.default_rng(config.seed * 100_003 + i)
            warped = cert = None
            if not first_of_pass:
                warped, cert = temporal_targets(workdir, i, neighbours, stylized_of)
            iterations = iterations_later
            if p == 1 and first_of_pass:
                x0 = initial_image(config.first_init, content, rng)
                iterations = config.first_iterations
            elif p == 1:
                x0 = initial_frame(config.init, content, warped[0], cert[0], stylized_of(neighbours[0]), rng)
            else:
                previous = preprocess(workdir.read_png(workdir.stylized(i, p - 1)))
                if not first_of_pass:
                    # Ruder et al.'s multi-pass: blend the warped neighbour of this pass into the last pass's result
                    c = config.pass_blend * cert[0]
                    previous = (c * warped[0] + (1 - c) * previous[0])[None]
                x0 = previous
            if config.loss.temporal == 0:
                warped = cert = None
            targets = objective.targets(preprocess(content), grams_at(i), warped, cert)
            options = OptimizeOptions(kind=config.optimizer, iterations=iterations,
                                      stall_tolerance=config.stall_tolerance,
                                      adam_learning_rate=config.adam_learning_rate)
            with progress_bar(iterations, f"frame {i}", config.progress, position=1) as inner:
                result = run_optimization(objective, x0, targets, config.loss, options, inner)
            workdir.write_png(workdir.stylized(i, out_pass), deprocess(result.x))
            seconds = time.perf_counter() - t0
            run["frames"][f"{p}:{i:06d}"] = {"frame": i, "pass": p, "iterations": result.iterations,
                                             "stopped_early": result.stopped_early, "seconds": seconds,
                                             "losses": {**result.parts, "total": result.loss}}
            workdir.save_run(run)
            bar.update(1)
            bar.set_postfix(frame=i, loss=f"{result.loss:.4g}", s_per_frame=f"{seconds:.1f}")


def final_frame(config: VideoConfig, workdir: WorkDir, i: int) -> np.ndarray:
    """Return stylised frame i as it goes into the video (content colours restored in luminance mode)."""
    return restore_colors(config.preserve_colors, workdir.read_png(workdir.stylized(i)),
                          workdir.read_png(workdir.frame(i)))


def _schedule(config: VideoConfig, n_styles: int, fps: float):
    if not config.style_schedule:
        return None
    from media.schedule import parse_schedule

    return parse_schedule(config.style_schedule, n_styles, fps)


def _encode(config: VideoConfig, workdir: WorkDir, n: int, fps: float, start: float, duration: float) -> None:
    from media.encode import VideoWriter, side_by_side

    first = workdir.read_png(workdir.stylized(1))
    size = (first.shape[1], first.shape[0])
    audio = {"audio_from": config.video, "audio_start": start, "audio_duration": duration}
    with VideoWriter(config.output, fps, size=size, **audio) as writer:
        for i in range(1, n + 1):
            writer.write(final_frame(config, workdir, i))
    if config.side_by_side:
        out = Path(config.output)
        sbs = out.with_name(f"{out.stem}_side_by_side{out.suffix}")
        with VideoWriter(sbs, fps, size=(2 * size[0], size[1]), **audio) as writer:
            for i in range(1, n + 1):
                writer.write(side_by_side(workdir.read_png(workdir.frame(i)), final_frame(config, workdir, i)))


def _summary(frame_stats: list[dict], config: VideoConfig) -> dict:
    last_pass = [f for f in frame_stats if f["pass"] == config.passes] or frame_stats
    if not last_pass:
        return {}
    return {
        "mean_style_loss": float(np.mean([f["losses"]["style"] for f in last_pass])),
        "mean_content_loss": float(np.mean([f["losses"]["content"] for f in last_pass])),
        # per output frame, all passes included
        "mean_seconds_per_frame": sum(f["seconds"] for f in frame_stats) / len({f["frame"] for f in frame_stats}),
        "first_frame_iterations": next((f["iterations"] for f in frame_stats if f["frame"] == 1 and f["pass"] == 1),
                                       None),
        # every pass counts: with --passes 2 a later frame costs its first-pass and its second-pass iterations
        "mean_later_iterations": _mean_later_iterations(frame_stats),
    }


def _mean_later_iterations(frame_stats: list[dict]) -> float:
    """Return the mean over frames 2..n of the iterations each received, summed over all passes."""
    per_frame: dict[int, int] = {}
    for f in frame_stats:
        if f["frame"] != 1:
            per_frame[f["frame"]] = per_frame.get(f["frame"], 0) + f["iterations"]
    return float(np.mean(list(per_frame.values()))) if per_frame else 0.0


def _log(config: VideoConfig, message: str) -> None:
    if config.progress:
        from tqdm.auto import tqdm

        tqdm.write(message)


def require_video_inputs(video: Path, styles: list[Path]) -> None:
    """Fail early, before TensorFlow starts, on a missing video or style file."""
    for p in [video, *styles]:
        if not Path(p).exists():
            raise UserError(f"{p}: no such file")
