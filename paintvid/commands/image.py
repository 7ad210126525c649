"""``paintvid image CONTENT STYLE [STYLE...] -o OUT.png``: single-image style transfer."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.paths import check_output_path
from paintvid.commands.common import (
    add_style_options,
    check_range,
    loss_weights,
    precision_of,
    require_input_files,
    style_spec,
)

#: Extensions OpenCV writes an image for.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def register(sub) -> None:
    p = sub.add_parser("image", help="stylise one image", description=__doc__)
    p.add_argument("content", help="content photo")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style painting(s)")
    p.add_argument("-o", "--output", required=True, help="output image (.png/.jpg); a .json report lands beside it")
    p.add_argument("--width", type=int, default=512,
                   help="working width: the method paints at this width in pixels (aspect kept)")
    p.add_argument("--output-width", type=int, default=None,
                   help="width of the written image (default: the photo's own, at most 3840); the painting is "
                        "upsampled to it guided by the full-resolution photo")
    p.add_argument("--method", choices=["optimize", "arbitrary"], default="optimize",
                   help="optimize: Gatys et al. (minutes); arbitrary: one pass of the any-painting network (seconds)")
    p.add_argument("--model", default=None,
                   help="with --method arbitrary: a .npz from `paintvid train-arbitrary` to use that network "
                        "instead of the default painter")
    p.add_argument("--strength", type=float, default=1.0,
                   help="with --method arbitrary: 0 keeps the photo's own look, 1 takes the painting's")
    p.add_argument("--stroke-scale", type=float, default=1.0,
                   help="with --method arbitrary: size of the painted marks relative to the image (0.25-4; 2 = twice "
                        "as large)")
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--init", default="content", help="content, random, or a path to a starting image")
    p.add_argument("--stall-tolerance", type=float, default=0.01,
                   help="stop when the loss improves less than this fraction over 10 iterations (0 = never)")
    add_style_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    inputs = [args.content, *args.styles, *([args.init] if args.init not in ("content", "random") else [])]
    check_range("--lbfgs-memory", args.lbfgs_memory, 1, 1000)
    require_input_files(*inputs, expected="an image file")
    check_range("--iterations", args.iterations, 1, 100_000)
    check_output_path(args.output, IMAGE_SUFFIXES, inputs, what="image")
    from media.upsample import check_output_width  # deferred: OpenCV loads only once the options are checked

    check_output_width(args.output_width, args.width)
    if args.method == "arbitrary":
        return run_arbitrary(args)
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.optimize import OptimizeOptions, OptimizerKind
    from transfer.stylize import StylizeConfig, stylize_image

    config = StylizeConfig(
        content=Path(args.content),
        output=Path(args.output),
        style=style_spec(args, args.styles),
        width=args.width,
        loss=loss_weights(args),
        optimize=OptimizeOptions(kind=OptimizerKind(args.optimizer or OptimizeOptions.kind), iterations=args.iterations,
                                 stall_tolerance=args.stall_tolerance, adam_learning_rate=args.learning_rate,
                                 lbfgs_memory=OptimizeOptions.lbfgs_memory if args.lbfgs_memory is None
                                 else args.lbfgs_memory),
        init=args.init,
        seed=args.seed,
        preserve_colors=args.preserve_colors,
        progress=not args.quiet,
        output_width=output_width_of(args),
    )
    report = stylize_image(config)
    final = report["final_losses"]
    print(f"{report['output']}\tloss {final['total']:.4g} (style {final['style']:.4g}, content {final['content']:.4g})"
          f"\t{report['timings_seconds']['total']:.1f}s")


def output_width_of(args: argparse.Namespace) -> int:
    """Return ``--output-width``, or the photo's own width (at most 3840, never below ``--width``)."""
    from media.image_io import read_image
    from media.upsample import default_output_width

    return args.output_width or default_output_width(read_image(args.content).shape[1], args.width)


def run_arbitrary(args: argparse.Namespace) -> None:
    """``--method arbitrary``: one forward pass of the any-painting network."""
    from media.image_io import read_image
    from transfer.arbitrary.weights_file import read_header

    model = Path(args.model) if args.model else None
    for image in (args.content, *args.styles):
        read_image(image)  # an unreadable input fails here, before TensorFlow starts
    if model is not None:
        read_header(model)
    check_range("--strength", args.strength, 0.0, 1.0)
    check_range("--stroke-scale", args.stroke_scale, 0.25, 4.0)
    check_range("--width", args.width, 8, 16384)
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.arbitrary.image import ArbitraryImageConfig, stylize_image_arbitrary

    config = ArbitraryImageConfig(
        content=Path(args.content), styles=tuple(Path(s) for s in args.styles), output=Path(args.output),
        model=model, width=args.width, blend=tuple(args.blend) if args.blend else None, strength=args.strength,
        preserve_colors=args.preserve_colors, precision=precision_of(args), stroke_scale=args.stroke_scale,
        output_width=output_width_of(args),
    )
    report = stylize_image_arbitrary(config)
    print(f"{report['output']}\tarbitrary\t{report['timings_seconds']['total']:.2f}s")
