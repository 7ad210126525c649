"""``paintvid classify --model classifier.keras IMAGE...``: print ``path<TAB>P(painting)`` per image."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import UserError
from paintvid.commands.common import require_input_files, require_keras_file


def register(sub) -> None:
    p = sub.add_parser("classify", help="painting probability of images", description=__doc__)
    p.add_argument("--model", required=True, help="classifier.keras written by `paintvid finetune`")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_keras_file(args.model, "classifier")
    require_input_files(*args.images, expected="an image file")
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from classifier.data import image_problem
    from classifier.predict import ClassifyConfig, classify

    for image in args.images:  # before the model loads: a bad image is the cheaper mistake to report
        if (problem := image_problem(image)) is not None:
            raise UserError(f"{image}: {problem}")

    for path, prob in classify(ClassifyConfig(model=Path(args.model), images=tuple(Path(i) for i in args.images))):
        print(f"{path}\t{prob:.4f}")
