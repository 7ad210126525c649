"""``paintvid dataset import DIR --label painting --out DIR``: add local images to a dataset's manifest.

Files are validated, converted to RGB JPEG and deduplicated exactly like Flickr downloads, so WikiArt or your
own photos can be mixed into a scraped dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import UserError
from foundation.paths import check_output_dir


def register(sub) -> None:
    p = sub.add_parser("dataset", help="manage a painting-vs-photo dataset (import local images)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="add a folder of images under one label",
                             description="Add the images under SOURCE to OUT/manifest.csv with one label.")
    imp.add_argument("source", metavar="SOURCE", help="folder of images (searched recursively)")
    imp.add_argument("--label", required=True, choices=["painting", "photo"])
    imp.add_argument("--out", default="data/flickr", help="dataset folder (default: data/flickr)")
    imp.add_argument("--workers", type=int, default=4)
    imp.add_argument("--min-side", type=int, default=200, help="reject images whose shorter side is smaller")
    imp.add_argument("--max-side", type=int, default=1024, help="store images downscaled to this longest side")
    imp.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    imp.add_argument("--no-balance", action="store_true", help="keep every image instead of equal counts per label")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> None:
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from scraper.config import ImageRules, ImportConfig, Label, SplitConfig
    from scraper.importer import import_folder

    if not 1 <= args.workers <= 64:
        raise UserError(f"--workers {args.workers}: choose 1 to 64")
    if args.min_side < 1 or args.max_side < args.min_side:
        raise UserError(f"--min-side {args.min_side} / --max-side {args.max_side}: need 1 <= min-side <= max-side")
    check_output_dir(args.out, what="dataset folder")
    config = ImportConfig(source=Path(args.source), label=Label(args.label), out=Path(args.out),
                          workers=args.workers, images=ImageRules(min_side=args.min_side, max_side=args.max_side),
                          split=SplitConfig(seed=args.seed, balance=not args.no_balance), progress=not args.quiet)
    report = import_folder(config)
    print(report["summary"])
    print(f"{config.out / 'manifest.csv'}\t{report['files']} files\t{report['seconds']:.1f}s")
