"""``paintvid stabilize ORIGINAL PROCESSED -o OUT.mp4``: remove the flicker of a video processed frame by frame.

PROCESSED is ORIGINAL after any per-frame tool (a style transfer run on each frame, a filter, ...). Each of its
frames is blended with the previous output carried along the ORIGINAL's optical flow, where that flow is certain;
elsewhere (occlusions, new content, the first frame) the processed frame is kept as it is. Nothing is stylised
again and TensorFlow is not needed. OUT.work/run.json records, per frame, how far the output moved from the
processed frame and the warping error of both videos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import FLOW_METHODS, check_range, require_input_files
from video.output import OUTPUT_SUFFIXES, default_workdir

# video.stabilize's defaults (not imported here: the library loads only once the options are checked)
DEFAULT_STRENGTH = 0.7


def register(sub) -> None:
    p = sub.add_parser("stabilize", help="steady a flickering per-frame processed video along the original's motion",
                       description=__doc__)
    p.add_argument("original", help="the video that was processed (its motion guides the blend)")
    p.add_argument("processed", help="the processed video: one frame per original frame, same size or same aspect")
    p.add_argument("-o", "--output", required=True, help="output .mp4 (H.264, the original's audio)")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help="blend of the carried-along previous output where the flow is certain, 0..1 "
                        "(higher: steadier but softer and further from the processed frames; 0 only measures)")
    p.add_argument("--flow", choices=FLOW_METHODS, default=FLOW_METHODS[0],
                   help="optical flow of the original (dis is fast; dis-fast cheaper and coarser; deepflow slower, "
                        "sometimes more accurate)")
    p.add_argument("--flow-scale", type=float, default=1.0,
                   help="estimate flow at this fraction of the frame size (0.5: ~4x cheaper, a little less steady)")
    p.add_argument("--workdir", default=None, help="where run.json goes (default: OUT.work next to the output)")
    p.add_argument("--side-by-side", action="store_true", help="also write OUT_side_by_side.mp4 (processed | output)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_input_files(args.original, args.processed, expected="a video file")
    check_range("--strength", args.strength, 0.0, 1.0)
    check_range("--flow-scale", args.flow_scale, 0.1, 1.0)
    check_output_path(args.output, OUTPUT_SUFFIXES, [args.original, args.processed], what="video")
    check_output_dir(default_workdir(args.output, args.workdir), what="work folder")
    from video.stabilize import StabilizeConfig, stabilize_video

    config = StabilizeConfig(
        original=Path(args.original),
        processed=Path(args.processed),
        output=Path(args.output),
        strength=args.strength,
        flow_method=args.flow,
        flow_scale=args.flow_scale,
        side_by_side=args.side_by_side,
        workdir=Path(args.workdir) if args.workdir else None,
        progress=not args.quiet,
    )
    result = stabilize_video(config)
    print(f"{result.output}\t{result.n_frames} frames\twarping error x{result.warping_error_ratio:.2f} "
          f"({result.mean_warping_error_processed:.3g} -> {result.mean_warping_error_output:.3g})"
          f"\tmean |out - processed| {result.mean_abs_difference:.2f}"
          f"\t{'already done' if result.resumed else f'{result.fps:.1f} fps'}")
