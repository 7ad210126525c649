"""Classify image files with a saved classifier: ``classify(ClassifyConfig)`` -> ``[(path, P(painting)), ...]``.

A prediction averages clean views of the image (:mod:`classifier.pipeline`): the whole image and the near-native
crops the model was trained with (``crops`` in the ``finetune.json`` beside the model, else
:data:`classifier.pipeline.EVAL_VIEWS`). The views' log-odds are averaged (:func:`average_views`): a view that is
sure counts for more than one that is unsure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from classifier.data import image_problem
from classifier.model import load_classifier
from classifier.pipeline import EVAL_VIEWS, clean_views, image_dataset
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


#: Probabilities are clipped to ``[EPS, 1 - EPS]`` before taking log-odds.
EPS = 1e-7


def log_odds(prob) -> np.ndarray:
    """Return ``log(p / (1 - p))`` (float64) of probabilities clipped to ``[EPS, 1 - EPS]``."""
    p = np.clip(np.asarray(prob, np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def from_log_odds(z) -> np.ndarray:
    """Return the probability (float64) of log-odds ``z``: the logistic sigmoid."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def average_views(probs) -> np.ndarray:
    """Return ``(N,)`` P(painting) from ``(V, N)`` per-view probabilities: the sigmoid of their mean log-odds."""
    return from_log_odds(np.mean(log_odds(probs), axis=0)).astype(np.float32)


def predict_paths(model: keras.Model, paths: Sequence[str], batch_size: int = 16,
                  views: Sequence[int] = EVAL_VIEWS) -> np.ndarray:
    """Return ``(N,)`` P(painting) for image files: ``model`` averaged over the clean ``views``
    (:func:`average_views`)."""
    size = int(model.input_shape[1])
    if len(paths) == 0:
        return np.zeros(0, np.float32)
    return average_views([model.predict(image_dataset(list(paths), size, batch_size, variant=v), verbose=0).ravel()
                          for v in views])


def model_views(model_path: str | Path) -> tuple[int, ...]:
    """Return the clean views a saved classifier was trained to average (from its ``finetune.json``)."""
    record = Path(model_path).with_name("finetune.json")
    try:
        config = json.loads(record.read_text())["config"]
        crops, mirror = int(config["crops"]), bool(config.get("average_mirror", False))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return EVAL_VIEWS
    return clean_views(crops, mirror)


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
    prob = predict_paths(model, [str(p) for p in config.images], config.batch_size, model_views(config.model))
    return [(str(p), float(q)) for p, q in zip(config.images, prob, strict=True)]
