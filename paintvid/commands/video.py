"""``paintvid video VIDEO STYLE [STYLE...] -o OUT.mp4``: temporally coherent video style transfer."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import UserError
from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import (
    FLOW_METHODS,
    add_style_options,
    check_range,
    loss_weights,
    precision_of,
    require_files,
    require_input_files,
    require_keras_file,
    style_spec,
)
from video.output import OUTPUT_SUFFIXES, default_workdir


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("video", help="stylise a video without flicker (Ruder et al.)", description=__doc__)
    p.add_argument("video", help="input video (anything OpenCV reads)")
    p.add_argument("styles", nargs="*", metavar="STYLE",
                   help="style painting(s); any painting with --method arbitrary; not needed with --method fast")
    p.add_argument("-o", "--output", required=True, help="output .mp4 (H.264, source audio copied)")
    p.add_argument("--method", choices=["optimize", "fast", "arbitrary"], default="optimize",
                   help="optimize: Gatys + Ruder per frame (best quality); fast: a network trained for one style; "
                        "arbitrary: one network for any painting, near real time, no training")
    p.add_argument("--model", default=None,
                   help="with --method fast: a .keras network from `paintvid train-style`; several (a.keras,b.keras) "
                        "are blended over time by --style-schedule; with --method arbitrary: a .npz from "
                        "`paintvid train-arbitrary` to use that network instead of the default painter")
    p.add_argument("--strength", type=float, default=1.0,
                   help="with --method arbitrary: 0 keeps each frame's own look, 1 takes the painting's")
    p.add_argument("--stroke-scale", type=float, default=1.0,
                   help="with --method arbitrary: size of the painted marks relative to the frame (0.25-4; 2 = "
                        "twice as large, 0.5 = half; the painter works at a long side of 384 px / SCALE)")
    _fast_options(p)
    _frame_options(p.add_argument_group("frames"))
    _temporal_options(p.add_argument_group("temporal coherence"))
    _optimisation_options(p.add_argument_group("optimisation"))
    p.add_argument("--style-schedule", default=None,
                   help='style over time, "WHEN:STYLE,...": WHEN a 0-based frame (12) or seconds (4s), STYLE a 0-based '
                        'index of the given styles; e.g. "0:0,4:0,8:1" holds style 0 to frame 4, fades to 1 by 8')
    _shot_options(p.add_argument_group("shots and parallel runs"))
    _keyframe_options(p.add_argument_group("painted keyframes (no STYLE needed)"))
    p.add_argument("--workdir", default=None, help="work directory (default: OUT.work next to the output)")
    p.add_argument("--side-by-side", action="store_true", help="also write OUT_side_by_side.mp4 (original | stylised)")
    add_style_options(p)
    p.set_defaults(func=run)


def _fast_options(p) -> None:
    p.add_argument("--batch-size", type=int, default=4, help="with --method fast: frames per network call")
    p.add_argument("--smoothing", type=float, default=None,
                   help="with --method fast/arbitrary: blend of the flow-warped previous output (0 = off; default "
                        "0 for fast, 0.8 for arbitrary); with --keyframe: the same for what no keyframe saw (0.5)")
    p.add_argument("--smoothing-flow", choices=FLOW_METHODS, default=None,
                   help="with --smoothing: flow method (default dis; deepflow aligns "
                        "like the optimisation path)")
    p.add_argument("--smoothing-scale", type=float, default=None,
                   help="with --smoothing: estimate flow at this fraction of the frame size (1 = full, slower; "
                        "default: about 320 px wide)")


def _frame_options(g) -> None:
    g.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    g.add_argument("--frames", type=int, default=None, help="number of frames to stylise")
    g.add_argument("--seconds", type=float, default=None, help="or: seconds of video to stylise")
    g.add_argument("--width", type=int, default=None,
                   help="working width: the method paints at this width (aspect kept, multiple of 8; default 640 for "
                        "--method arbitrary, whose network sets its own brush size, else 256)")
    g.add_argument("--output-width", type=int, default=None,
                   help="width of the written film (default: the clip's own, at most 3840); each painted frame is "
                        "upsampled to it guided by the full-resolution frame")
    g.add_argument("--fps", type=float, default=None, help="subsample to this frame rate")


def _temporal_options(g) -> None:
    g.add_argument("--init", choices=["prev-warped", "prev", "content", "random"], default="prev-warped",
                   help="start of frames after the first")
    g.add_argument("--temporal-weight", type=float, default=None,
                   help="weight of the temporal loss (default 1; 0 with --init content = independent frames)")
    g.add_argument("--long-term", type=int_list, default=(1,), help="earlier frames in the temporal loss, e.g. 1,2,4")
    g.add_argument("--passes", type=int, default=1, help="multi-pass algorithm: number of alternating passes")
    g.add_argument("--pass-iterations", type=int, default=None, help="iterations per frame in passes after the first")
    g.add_argument("--flow", choices=["deepflow", "dis", "farneback"], default=None,
                   help="optical flow (default: deepflow; dis with --keyframe)")
    g.add_argument("--flow-dir", default=None, help="folder of Middlebury .flo files to use instead of computing flow")


#: ``--first-init`` values (transfer.stylize.InitMode's, not imported here: it would start TensorFlow for --help).
FIRST_INITS = ("painted", "content", "random")


def _optimisation_options(g) -> None:
    # the defaults are video.config.VideoConfig's (not imported here: it would start TensorFlow for --help)
    g.add_argument("--first-init", default=None, metavar="{painted,content,random}",
                   help="start of a shot's first frame: the any-painting painter's rendering of it (painted, the "
                        "default), the frame itself (content), or noise (random)")
    g.add_argument("--first-iterations", type=int, default=60,
                   help="full-size iterations of a shot's first frame, after --coarse-iterations at half size")
    g.add_argument("--coarse-iterations", type=int, default=0,
                   help="half-size iterations before the first frame's full-size ones (0 = single-scale)")
    g.add_argument("--iterations", type=int, default=15, help="iterations for later frames")
    g.add_argument("--disocclusion", type=float, default=0.5,
                   help="a later frame whose warped start is certain on less than this share of pixels is "
                        "optimised like a first frame")
    g.add_argument("--stall-tolerance", type=float, default=0.01,
                   help="stop a frame when the loss improves less than this fraction over 10 iterations (0 = never)")


def _shot_options(g) -> None:
    g.add_argument("--shots", default="auto", metavar="auto|none|FILE",
                   help="hard cuts: auto (detected; written to OUT.work/shots.csv), none (one shot), or a CSV of "
                        "0-based first frames of new shots. Each shot starts like a first frame")
    g.add_argument("--min-shot-frames", type=int, default=8, help="with --shots auto: shortest shot detected")
    g.add_argument("--shot-threshold", type=float, default=27.0,
                   help="with --shots auto: content change (0-255) that counts as a cut")
    g.add_argument("--workers", type=int, default=1,
                   help="stylise up to N shots at once on a local Ray instance (needs the [distributed] extra)")
    g.add_argument("--ray-address", default=None,
                   help="join this Ray cluster instead (default: $RAY_ADDRESS); --workdir must be shared storage")


#: ``--width`` when none is given: the any-painting painter paints at its own size (``--stroke-scale``), so its
#: working width only sets how much of the clip's detail it sees and the size flow is estimated at.
DEFAULT_WIDTH = {"arbitrary": 640}


def working_width(args: argparse.Namespace) -> int:
    """Return ``--width``, or the method's default working width (:data:`DEFAULT_WIDTH`, else 256)."""
    return args.width if args.width is not None else DEFAULT_WIDTH.get(args.method, 256)


def read_options(args: argparse.Namespace):
    """Return the frame selection of the options (a ``media.video_io.ReadOptions``) at the working width."""
    from media.video_io import ReadOptions  # deferred like the library: OpenCV loads after the checks

    return ReadOptions(start=args.start, frames=args.frames, seconds=args.seconds, width=working_width(args),
                       fps=args.fps)


def run(args: argparse.Namespace) -> None:
    if args.keyframe or args.keyframes:
        return run_keyframes(args)
    if args.method in ("fast", "arbitrary"):
        return run_fast(args)
    if not args.styles:
        raise UserError("give at least one STYLE image (or --method fast --model PATH)")
    check_range("--lbfgs-memory", args.lbfgs_memory, 1, 1000)
    check_first_init(args.first_init)
    require_files(args.video, *args.styles)
    check_outputs(args, [args.video, *args.styles])
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from media.video_io import probe

    info = probe(args.video)  # a bad video fails here, before TensorFlow starts and prints its banner
    from media.shots import parse_shots_option
    from video.distributed import ClusterConfig

    # bad shot or cluster options fail here too, before TensorFlow starts
    shots = parse_shots_option(args.shots, threshold=args.shot_threshold, min_frames=args.min_shot_frames)
    cluster = ClusterConfig(workers=args.workers, address=args.ray_address)
    from transfer.optimize import OptimizerKind
    from video.config import DEFAULT_TEMPORAL_WEIGHT, Init, VideoConfig
    from video.pipeline import stylize_video

    config = VideoConfig(
        video=Path(args.video),
        output=Path(args.output),
        style=style_spec(args, args.styles),
        read=read_options(args),
        workdir=Path(args.workdir) if args.workdir else None,
        flow=args.flow or "deepflow",
        flow_dir=Path(args.flow_dir) if args.flow_dir else None,
        init=Init(args.init),
        first_init=args.first_init or VideoConfig.first_init,
        loss=loss_weights(args, temporal=DEFAULT_TEMPORAL_WEIGHT if args.temporal_weight is None
                          else args.temporal_weight),
        first_iterations=args.first_iterations,
        coarse_iterations=args.coarse_iterations,
        iterations=args.iterations,
        disocclusion=args.disocclusion,
        pass_iterations=args.pass_iterations,
        optimizer=OptimizerKind(args.optimizer or VideoConfig.optimizer),
        adam_learning_rate=args.learning_rate,
        lbfgs_memory=VideoConfig.lbfgs_memory if args.lbfgs_memory is None else args.lbfgs_memory,
        stall_tolerance=args.stall_tolerance,
        long_term=args.long_term,
        passes=args.passes,
        side_by_side=args.side_by_side,
        style_schedule=args.style_schedule,
        preserve_colors=args.preserve_colors,
        seed=args.seed,
        progress=not args.quiet,
        shots=shots,
        cluster=cluster,
        output_width=output_width_of(args, info),
    )
    result = stylize_video(config)
    print(f"{result.output}\t{result.n_frames} frames\tmean style loss {result.summary.mean_style_loss:.4g}"
          f"\t{result.summary.mean_seconds_per_frame:.1f} s/frame\t{len(result.shots)} shot(s)")


def check_first_init(value: str | None) -> None:
    """Raise UserError unless ``--first-init`` is unset or one of :data:`FIRST_INITS`."""
    if value not in (None, *FIRST_INITS):
        raise UserError(f"--first-init {value!r} must be one of {', '.join(FIRST_INITS)}")


def check_outputs(args: argparse.Namespace, inputs: list[str]) -> None:
    """Refuse an output the writer cannot produce, or an unwritable output or work folder, before any work."""
    check_output_path(args.output, OUTPUT_SUFFIXES, inputs, what="video")
    check_output_dir(default_workdir(args.output, args.workdir), what="work folder")
    from media.upsample import check_output_width  # deferred like the library: OpenCV loads after the checks

    check_output_width(args.output_width, working_width(args))


def output_width_of(args: argparse.Namespace, info) -> int:
    """Return ``--output-width``, or the width of the clip ``info`` (a ``VideoInfo``) describes, at most 3840 and
    never below ``--width``."""
    from media.upsample import default_output_width

    return args.output_width or default_output_width(info.width, working_width(args))


def _feed_forward_models(args: argparse.Namespace) -> list[str]:
    """Return the model file(s) of ``--method fast``/``arbitrary`` after checking them and the inputs (no TF yet)."""
    from foundation.errors import UserError

    if args.method == "arbitrary":
        from media.image_io import read_image
        from transfer.arbitrary.student_file import is_student_file
        from transfer.arbitrary.weights_file import read_header

        if not args.styles:
            raise UserError("--method arbitrary needs at least one PAINTING after the video")
        models = [args.model] if args.model else []
        require_files(args.video, *models)
        require_input_files(*args.styles, expected="an image file")
        for painting in args.styles:
            read_image(painting)  # an unreadable painting fails here, before TensorFlow starts
        if models and not is_student_file(models[0]):  # a distilled student, or the previous network
            read_header(models[0])
        check_range("--strength", args.strength, 0.0, 1.0)
        check_range("--stroke-scale", args.stroke_scale, 0.25, 4.0)
        return models
    if not args.model:
        raise UserError("--method fast needs --model PATH.keras (train one with `make train-style STYLE=...`)")
    models = [m for m in args.model.split(",") if m]
    require_files(args.video, *models)
    for model in models:
        require_keras_file(model, "fast style model")
    return models


def run_fast(args: argparse.Namespace) -> None:
    """``--method fast`` / ``arbitrary``: one forward pass of a trained network per frame, streamed."""
    models = _feed_forward_models(args)
    paintings = list(args.styles) if args.method == "arbitrary" else []
    check_outputs(args, [args.video, *models, *paintings])
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from media.video_io import probe

    info = probe(args.video)
    from video.fast_runner import FastVideoConfig, stylize_video_fast

    config = FastVideoConfig(
        video=Path(args.video),
        model=Path(models[0]) if models else None,
        extra_models=tuple(Path(m) for m in models[1:]),
        stroke_scale=args.stroke_scale,
        paintings=tuple(Path(p) for p in paintings),
        blend=tuple(args.blend) if args.blend else None,
        strength=args.strength,
        preserve_colors=args.preserve_colors if paintings else "none",
        style_schedule=args.style_schedule,
        output=Path(args.output),
        workdir=Path(args.workdir) if args.workdir else None,
        read=read_options(args),
        batch_size=args.batch_size,
        precision=precision_of(args),
        smoothing=args.smoothing,
        flow_method=args.smoothing_flow,
        flow_scale=args.smoothing_scale,
        side_by_side=args.side_by_side,
        progress=not args.quiet,
        output_width=output_width_of(args, info),
    )
    result = stylize_video_fast(config)
    print(f"{result.output}\t{result.n_frames} frames\t{result.fps:.1f} fps")


def _keyframe_options(g) -> None:
    g.add_argument("--keyframe", action="append", default=[], metavar="N=FILE",
                   help="frame N (from 1, the first frame read) painted as FILE; repeat for more. The painted frames "
                        "are the style: the others are built from them along the motion")
    g.add_argument("--keyframes", default=None, metavar="DIR",
                   help="a folder of painted frames named by frame number (0001.png, frame_0090.jpg)")


def run_keyframes(args: argparse.Namespace) -> None:
    """``--keyframe`` / ``--keyframes``: every frame built from the painted keyframes around it."""
    from foundation.errors import UserError
    from video.keyframes import keyframes_from_folder, parse_keyframe_option

    if args.styles:
        raise UserError(f"{args.styles[0]}: with --keyframe the painted keyframes are the style; drop STYLE")
    if args.method != "optimize":
        raise UserError(f"--method {args.method} does not apply with --keyframe: the keyframes are the style")
    check_range("--smoothing", args.smoothing, 0.0, 1.0)
    if getattr(args, "output_width", None):
        raise UserError(f"--output-width {args.output_width}: with --keyframe the film is made at --width; give the "
                        "width you want there")
    keyframes = [parse_keyframe_option(text) for text in args.keyframe]
    if args.keyframes:
        keyframes += keyframes_from_folder(args.keyframes)
    require_files(args.video)
    require_input_files(*(str(k.path) for k in keyframes), expected="an image file")
    check_outputs(args, [args.video, *(str(k.path) for k in keyframes)])
    from media.shots import parse_shots_option
    from video.keyframe_runner import KeyframeVideoConfig, stylize_video_keyframes

    config = KeyframeVideoConfig(
        video=Path(args.video), keyframes=tuple(keyframes), output=Path(args.output),
        workdir=Path(args.workdir) if args.workdir else None,
        read=read_options(args),
        flow=args.flow or "dis", **({} if args.smoothing is None else {"fill_smoothing": args.smoothing}),
        side_by_side=args.side_by_side, progress=not args.quiet,
        shots=parse_shots_option(args.shots, threshold=args.shot_threshold, min_frames=args.min_shot_frames),
    )
    result = stylize_video_keyframes(config)
    print(f"{result.output}\t{result.n_frames} frames from {len(keyframes)} keyframe(s)\t{len(result.shots)} shot(s)")
