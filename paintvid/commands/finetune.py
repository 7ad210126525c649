"""``paintvid finetune --data DIR_OR_MANIFEST --out DIR``: train the painting-vs-photo classifier on VGG16.

Every option left out takes the default of ``classifier.finetune.FinetuneConfig`` (the measured recipe: a logistic
head on channel statistics of all conv layers, then block 5 fine-tuned under L2-SP with early stopping;
``--epochs 0`` keeps block 5 as loaded).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from foundation.paths import check_output_dir
from paintvid.commands.common import check_range, require_files


def register(sub) -> None:
    p = sub.add_parser("finetune", help="train the painting-vs-photo classifier (optionally fine-tuning VGG16 block 5)",
                       description=__doc__)
    p.add_argument("--data", required=True, help="scraper manifest.csv, or a folder with painting/ and photo/")
    p.add_argument("--out", required=True, help="output folder (classifier.keras, backbone.weights.h5, ...)")
    # default None everywhere: FinetuneConfig's own defaults apply (not imported here: it would start TensorFlow)
    p.add_argument("--epochs", type=int, help="most epochs with block 5 unfrozen (0: block 5 kept; default 3)")
    p.add_argument("--head-epochs", type=int, help="most head-only epochs before that with --head-solver adam")
    p.add_argument("--image-size", type=int, help="square input side (multiple of 32; default 224)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float, help="Adam step of the block-5 stage (default 1e-5)")
    p.add_argument("--head-learning-rate", type=float, help="Adam step of the head-only stage")
    p.add_argument("--l2sp", type=float, help="weight of the L2-SP pull of block 5 towards its starting weights")
    p.add_argument("--head-solver", choices=["logistic", "adam"],
                   help="stage-1 head fit: logistic regression on cached features (default) or Adam epochs")
    p.add_argument("--head-block5", action=argparse.BooleanOptionalAction,
                   help="let the logistic head weigh block 5's statistics too (default: yes)")
    p.add_argument("--dropout", type=float, help="head dropout (Adam training only)")
    p.add_argument("--no-texture", action="store_true", help="head sees block 5 only, not blocks 1-4 statistics")
    p.add_argument("--crops", type=int, help="near-native-resolution crops per image, averaged at prediction")
    p.add_argument("--average-mirror", action=argparse.BooleanOptionalAction,
                   help="also average the mirrored whole image at prediction, and train on it (default: no)")
    p.add_argument("--augment-variants", type=int,
                   help="shortcut-breaking training views per image (grayscale, colour, contrast, JPEG, scale)")
    p.add_argument("--no-cache", action="store_true", help="run blocks 1-4 every step (slow; for comparison)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--weights", default="bundled", help="starting VGG16 weights: bundled, imagenet or a path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


_PLAIN = ("epochs", "head_epochs", "image_size", "batch_size", "learning_rate", "head_learning_rate", "l2sp",
          "head_block5", "crops", "average_mirror", "augment_variants", "patience")


def run(args: argparse.Namespace) -> None:
    require_files(args.data)
    if args.image_size is not None:
        check_range("--image-size", args.image_size, 32, 1024)
    if args.batch_size is not None:
        check_range("--batch-size", args.batch_size, 1, 4096)
    check_output_dir(args.out)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from classifier.finetune import FinetuneConfig, HeadSolver, finetune
    from classifier.model import HeadConfig

    given = {k: getattr(args, k) for k in _PLAIN if getattr(args, k) is not None}
    if args.head_solver is not None:
        given["head_solver"] = HeadSolver(args.head_solver)
    if args.dropout is not None or args.no_texture:
        base = HeadConfig()
        given["head"] = HeadConfig(dropout=base.dropout if args.dropout is None else args.dropout,
                                   texture=not args.no_texture)
    config = FinetuneConfig(data=Path(args.data), out=Path(args.out), weights=args.weights, cache=not args.no_cache,
                            seed=args.seed, progress=not args.quiet, **given)
    report = finetune(config)
    test = report.test
    summary = "no test split" if test is None else f"test accuracy {test['accuracy']:.3f}, AUC {test['roc_auc']}"
    if not report.block5.changed:
        summary += " (block 5 unchanged: backbone.weights.h5 equals the starting weights)"
    print(f"{report.outputs.classifier}\t{summary}\t{report.timings_seconds['total']:.1f}s")
