"""``paintvid distill-arbitrary --paintings DIR... --content DIR_OR_VIDEO... --out STUDENT.npz``: train the slim
any-painting student to paint like the pretrained arbitrary-style network, and steadily.

The pretrained network paints content crops with the paintings' styles once (cached in ``OUT.train/targets``);
the student then learns to match those paintings and to paint a moved frame like the moved painting. A fifth of
the paintings (by artwork) is held out and scores the student. Rerunning the same command resumes. ``--fast``
trains a tiny student in minutes (tests, demos).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import check_range, require_files


def register(sub) -> None:
    p = sub.add_parser("distill-arbitrary", help="train the slim any-painting student from the pretrained "
                       "arbitrary-style network", description=__doc__)
    p.add_argument("--paintings", nargs="+", required=True, metavar="DIR_OR_IMAGE",
                   help="painting folders (searched recursively) and/or files; a fifth is held out")
    p.add_argument("--content", nargs="+", required=True, metavar="DIR_OR_VIDEO",
                   help="photo folders, images and/or videos the training crops come from")
    p.add_argument("--out", required=True, help="student weights to write (.npz); checkpoints go to OUT.train/")
    p.add_argument("--workdir", default=None, help="checkpoints, logs and targets (default: OUT.train/)")
    p.add_argument("--cache", default=None, help="folder of the teacher's targets (default: WORKDIR/targets)")
    p.add_argument("--samples", type=int, default=None, help="training crops painted by the teacher (4000)")
    p.add_argument("--steps", type=int, default=None, help="training steps (20000)")
    p.add_argument("--batch-size", type=int, default=None, help="crops per step (4)")
    p.add_argument("--temporal-weight", type=float, default=None, help="0 trains without the temporal term")
    p.add_argument("--fast", action="store_true", help="tiny student on 64 px crops, 200 steps (minutes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from transfer.arbitrary.paintings import find_paintings

    require_files(*args.paintings)
    require_files(*args.content)
    find_paintings(args.paintings)  # no painting at all fails here, before TensorFlow starts
    check_range("--samples", args.samples, 1, 10_000_000)
    check_range("--steps", args.steps, 1, 10_000_000)
    check_range("--batch-size", args.batch_size, 1, 1024)
    check_range("--temporal-weight", args.temporal_weight, 0.0, 1000.0)
    check_output_path(args.out, (".npz",), [*args.paintings, *args.content], what="student weights")
    check_output_dir(args.workdir or Path(args.out).with_suffix(".train"), what="work folder")
    if args.cache:
        check_output_dir(args.cache, what="targets folder")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.arbitrary.distill import DistillConfig, distill

    config = DistillConfig.quick if args.fast else DistillConfig
    config = config(paintings=tuple(Path(p) for p in args.paintings), content=tuple(Path(c) for c in args.content),
                    output=Path(args.out), workdir=Path(args.workdir) if args.workdir else None,
                    cache=Path(args.cache) if args.cache else None, seed=args.seed, progress=not args.quiet)
    overrides = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size,
                                   "temporal_weight": args.temporal_weight}.items() if v is not None}
    if args.samples is not None:
        overrides["targets"] = replace(config.targets, train_samples=args.samples)
    result = distill(replace(config, **overrides))
    print(f"{result.output}\t{result.steps} steps\theld-out L1 to the teacher {result.heldout_l1:.4f} "
          f"(step {result.best_step})\t{result.seconds['total']:.0f}s")
