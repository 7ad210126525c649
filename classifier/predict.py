"""Classify image files with a saved classifier: ``classify(ClassifyConfig)`` -> ``[(path, P(painting)), ...]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def classify(config: ClassifyConfig) -> list[tuple[str, float]]:
    """Return ``(path, painting probability)`` per image, in the order given.

    Raises:
        UserError: the model file is missing or not a classifier, or an image cannot be decoded.
    """
    from classifier.data import image_problem
    from classifier.evaluate import predict_paths
    from classifier.model import load_classifier

    if not Path(config.model).is_file():
        raise UserError(f"{config.model}: no such model file (run `make finetune` first)")
    for path in config.images:
        problem = image_problem(path)
        if problem is not None:
            raise UserError(f"{path}: {problem}")
    try:
        model = load_classifier(config.model)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one line naming the file
        raise UserError(f"{config.model}: cannot load classifier ({str(exc).splitlines()[0][:120]})") from None
    prob = predict_paths(model, [str(p) for p in config.images], config.batch_size)
    return [(str(p), float(q)) for p, q in zip(config.images, prob, strict=True)]
