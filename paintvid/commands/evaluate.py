"""``paintvid evaluate --model classifier.keras --data DIR_OR_MANIFEST --out DIR``: metrics and figures."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from foundation.paths import check_output_dir
from paintvid.commands.common import require_files, require_keras_file


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a painting-vs-photo classifier on a held-out split",
                       description=__doc__)
    p.add_argument("--model", required=True, help="classifier.keras written by `paintvid finetune`")
    p.add_argument("--data", required=True, help="scraper manifest.csv, or a folder with painting/ and photo/")
    p.add_argument("--out", required=True, help="folder for metrics.json, predictions.csv and PNG figures")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0, help="split seed of a folder tree (the one finetune used)")
    p.add_argument("--threshold", type=float, default=0.5, help="P(painting) at or above which we say painting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_keras_file(args.model, "classifier")
    require_files(args.data)
    check_output_dir(args.out)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from classifier.evaluate import EvaluateConfig, evaluate

    config = EvaluateConfig(model=Path(args.model), data=Path(args.data), out=Path(args.out), split=args.split,
                            seed=args.seed, threshold=args.threshold)
    m = evaluate(config)
    lo, hi = m.accuracy_ci95
    print(f"{args.out}\taccuracy {m.accuracy:.3f} [{lo:.3f}, {hi:.3f}]\tROC AUC {m.roc_auc}\tn={m.n}")
