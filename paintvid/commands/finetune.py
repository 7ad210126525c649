"""``paintvid finetune --data DIR_OR_MANIFEST --out DIR``: train the painting-vs-photo classifier on VGG16.

The default recipe trains a linear head on channel statistics of every conv layer (block 5 left as it is);
``--epochs N`` adds a stage that fine-tunes block 5, kept only when it beats the head alone on validation.
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
    p.add_argument("--epochs", type=int, default=0, help="most epochs with block 5 unfrozen (0: block 5 kept)")
    p.add_argument("--head-epochs", type=int, default=100, help="most head-only epochs before that (0 skips)")
    p.add_argument("--image-size", type=int, default=224, help="square input side (multiple of 32)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-4, help="Adam step of the block-5 stage")
    p.add_argument("--head-learning-rate", type=float, default=1e-3, help="Adam step of the head-only stage")
    p.add_argument("--head-solver", choices=["logistic", "adam"], default="logistic",
                   help="stage-1 head fit: logistic regression on cached features (default) or Adam epochs")
    p.add_argument("--head-block5", action="store_true",
                   help="let the logistic head weigh block 5's statistics too (default: blocks 1-4 texture only)")
    p.add_argument("--dropout", type=float, default=0.2, help="head dropout (Adam training only)")
    p.add_argument("--no-texture", action="store_true", help="head sees block 5 only, not blocks 1-4 statistics")
    p.add_argument("--augment-variants", type=int, default=0,
                   help="random crops cached per training image (beside the image and its mirror image)")
    p.add_argument("--no-cache", action="store_true", help="run blocks 1-4 every step (slow; for comparison)")
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs")
    p.add_argument("--weights", default="bundled", help="starting VGG16 weights: bundled, imagenet or a path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_files(args.data)
    check_range("--image-size", args.image_size, 32, 1024)
    check_range("--batch-size", args.batch_size, 1, 4096)
    check_output_dir(args.out)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from classifier.finetune import FinetuneConfig, HeadSolver, finetune
    from classifier.model import HeadConfig

    config = FinetuneConfig(
        data=Path(args.data), out=Path(args.out), weights=args.weights, image_size=args.image_size,
        epochs=args.epochs, head_epochs=args.head_epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, head_learning_rate=args.head_learning_rate,
        head_solver=HeadSolver(args.head_solver), head_block5=args.head_block5,
        head=HeadConfig(dropout=args.dropout, texture=not args.no_texture),
        augment_variants=args.augment_variants, cache=not args.no_cache, patience=args.patience,
        seed=args.seed, progress=not args.quiet,
    )
    report = finetune(config)
    test = report.test
    summary = "no test split" if test is None else f"test accuracy {test['accuracy']:.3f}, AUC {test['roc_auc']}"
    if not report.block5.changed:
        summary += " (block 5 unchanged: backbone.weights.h5 equals the starting weights)"
    print(f"{report.outputs.classifier}\t{summary}\t{report.timings_seconds['total']:.1f}s")
