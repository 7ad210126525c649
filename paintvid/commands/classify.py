"""``paintvid classify --model classifier.keras IMAGE...``: print ``path<TAB>P(painting)`` per image."""

from __future__ import annotations

import argparse
from pathlib import Path

from paintvid.commands.common import require_files


def register(sub) -> None:
    p = sub.add_parser("classify", help="painting probability of images", description=__doc__)
    p.add_argument("--model", required=True, help="classifier.keras written by `paintvid finetune`")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_files(args.model, *args.images)
    from classifier.predict import ClassifyConfig, classify

    for path, prob in classify(ClassifyConfig(model=Path(args.model), images=tuple(Path(i) for i in args.images))):
        print(f"{path}\t{prob:.4f}")
