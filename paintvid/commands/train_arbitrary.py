"""``paintvid train-arbitrary --paintings DIR... --content DIR_OR_VIDEO... --out WEIGHTS.npz``: train the
arbitrary-style decoder (any painting at inference, no per-style training).

A fifth of the paintings (by artwork) is held out and evaluated separately. Rerunning the same command resumes
from the newest checkpoint in ``WEIGHTS.train/``. ``--fast`` trains a tiny network in minutes (tests, demos).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import PRECISION_DEFAULT_HELP, check_range, precision_of, require_files


def register(sub) -> None:
    p = sub.add_parser("train-arbitrary", help="train the arbitrary-style network (any painting, no per-style "
                       "training)", description=__doc__)
    p.add_argument("--paintings", nargs="+", required=True, metavar="DIR_OR_IMAGE",
                   help="painting folders (searched recursively) and/or files; a fifth is held out")
    p.add_argument("--content", nargs="+", required=True, metavar="DIR_OR_VIDEO",
                   help="photo folders, images and/or videos to train on")
    p.add_argument("--out", required=True, help="weights to write (.npz); checkpoints go to OUT.train/")
    p.add_argument("--transform", choices=["wct", "adain"], default="wct",
                   help="wct: a reconstruction decoder, the painting's covariances transferred (default); adain: "
                   "per-channel mean and deviation (AdaIN) with a decoder trained by the Gram style loss")
    p.add_argument("--fast", action="store_true", help="tiny network on 64 px crops, 120 steps (minutes)")
    p.add_argument("--workdir", default=None, help="checkpoints, logs and previews (default: OUT.train/)")
    p.add_argument("--weights", default="bundled", help="VGG16 encoder and loss: bundled, imagenet or a path")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default=None,
                   help=PRECISION_DEFAULT_HELP)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="frame pairs per step")
    p.add_argument("--temporal-weight", type=float, default=None, help="0 trains without the temporal term")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from transfer.arbitrary.paintings import find_paintings

    require_files(*args.paintings)
    require_files(*args.content)
    find_paintings(args.paintings)  # no painting at all fails here, before TensorFlow starts
    check_range("--steps", args.steps, 1, 10_000_000)
    check_range("--batch-size", args.batch_size, 1, 1024)
    check_output_path(args.out, (".npz",), [*args.paintings, *args.content], what="weights")
    check_output_dir(args.workdir or Path(args.out).with_suffix(".train"), what="work folder")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.arbitrary.network import design_spec
    from transfer.arbitrary.train import ArbitraryConfig, train_arbitrary

    paintings, content = tuple(Path(p) for p in args.paintings), tuple(Path(c) for c in args.content)
    common = {"workdir": Path(args.workdir) if args.workdir else None, "weights": args.weights,
              "precision": precision_of(args), "seed": args.seed,
              "progress": not args.quiet}
    out = Path(args.out)
    config = (ArbitraryConfig.quick(paintings, content, out, args.transform, **common) if args.fast
              else ArbitraryConfig(paintings=paintings, content=content, output=out,
                                   network=design_spec(args.transform), **common))
    overrides = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size}.items() if v is not None}
    if args.temporal_weight is not None:
        overrides["loss"] = replace(config.loss, temporal=args.temporal_weight)
    result = train_arbitrary(replace(config, **overrides))
    held = result.final_evaluation
    print(f"{result.output}\t{result.steps} steps\theld-out style {held.get('heldout_style', float('nan')):.4g}"
          f" (training paintings {held.get('train_style', float('nan')):.4g})\t{result.seconds['total']:.0f}s")
