"""Classify image files with a saved classifier: ``classify(ClassifyConfig)`` -> ``[(path, P(painting)), ...]``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from classifier.data import image_problem
from classifier.model import load_classifier
from classifier.pipeline import image_dataset
from foundation.errors import UserError


@dataclass(frozen=True)
class ClassifyConfig:
    """``model``: a ``classifier.keras`` from ``paintvid finetune``; ``images``: files to score."""

    model: Path
    images: tuple[Path, ...]
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not self.images:
            raise UserError("no images given")


def predict_paths(model: keras.Model, paths: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """Return ``(N,)`` P(painting) for image files, through the evaluation view of :mod:`classifier.pipeline`."""
    size = int(model.input_shape[1])
    if len(paths) == 0:
        return np.zeros(0, np.float32)
    return model.predict(image_dataset(list(paths), size, batch_size), verbose=0).ravel()


def classify(config: ClassifyConfig) -> list[tuple[str, float]]:
    """Return ``(path, painting probability)`` per image, in the order given.

    Raises:
        UserError: the model file is missing or not a classifier, or an image cannot be decoded.
    """
    model = load_classifier(config.model)
    for path in config.images:
        problem = image_problem(path)
        if problem is not None:
            raise UserError(f"{path}: {problem}")
    prob = predict_paths(model, [str(p) for p in config.images], config.batch_size)
    return [(str(p), float(q)) for p, q in zip(config.images, prob, strict=True)]
