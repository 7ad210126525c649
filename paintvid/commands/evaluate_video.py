"""``paintvid evaluate-video RUN_DIR_OR_VIDEO --style STYLE``: temporal error, style and content loss per frame."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import require_files, require_input_files


def register(sub) -> None:
    p = sub.add_parser("evaluate-video", help="measure flicker (warping error) and style/content loss of a result",
                       description=__doc__)
    p.add_argument("stylized", help="a run's work directory (OUT.work) or a stylised video")
    p.add_argument("--style", nargs="+", required=True, help="style image(s) to measure the style loss against")
    p.add_argument("--original", default=None, help="input video (needed when STYLIZED is a video file)")
    p.add_argument("--flow", choices=["deepflow", "dis", "farneback"], default="deepflow")
    p.add_argument("--weights", default="bundled", help="backbone that measures the losses")
    p.add_argument("-o", "--output", default=None, help="JSON report (default: evaluation.json in the run)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_files(args.stylized)
    require_input_files(*args.style, expected="an image file")
    if args.original:
        require_input_files(args.original, expected="a video file")
    stylized = Path(args.stylized)
    if not stylized.is_dir():
        require_input_files(args.stylized, expected="a video file or a run's work directory")
    inputs = [args.stylized, *args.style, *([args.original] if args.original else [])]
    if args.output:
        check_output_path(args.output, (".json",), inputs, what="report")
    else:  # evaluation.json in the work directory, or STYLIZED.evaluation.json beside the video
        check_output_dir(stylized if stylized.is_dir() else stylized.parent, what="report folder")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.stylize import StyleSpec
    from video.evaluate import EvaluateVideoConfig, evaluate_video

    config = EvaluateVideoConfig(
        stylized=Path(args.stylized),
        style=StyleSpec(styles=tuple(Path(s) for s in args.style), weights=args.weights),
        original=Path(args.original) if args.original else None,
        flow=args.flow,
        output=Path(args.output) if args.output else None,
    )
    r = evaluate_video(config)
    print(f"{r['stylized']}\t{r['frames']} frames\ttemporal error {r['temporal_error']:.5f} "
          f"(input {r['input_temporal_error']:.5f})\tstyle {r['mean_style_loss']:.4g}"
          f"\tcontent {r['mean_content_loss']:.4g}")
