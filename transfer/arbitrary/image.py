"""One image with the arbitrary-style network: ``stylize_image_arbitrary(ArbitraryImageConfig) -> dict``.

A single forward pass (no optimisation): the content at ``width``, the paintings' statistics blended by ``blend``,
``strength`` between the content's own statistics and theirs, optional colour preservation. Writes the image and a
JSON report beside it (same fields as the optimisation path's where they apply).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.records import jsonable
from media.image_io import read_image, resize_to_width, write_image
from media.upsample import DEFAULT_METHOD, upsample_to_width
from transfer.arbitrary.magenta import check_stroke_scale, load_magenta, paint_frame
from transfer.arbitrary.network import load_arbitrary
from transfer.color import ColorMode, match_histogram, restore_colors
from transfer.features import DEFAULT_PRECISION, Precision


@dataclass(frozen=True)
class ArbitraryImageConfig:
    """Options of one image run.

    Attributes:
        content, styles, output: the photo, one or more paintings, the image to write (a ``.json`` lands beside it).
        model: None for the any-painting painter (:mod:`transfer.arbitrary.magenta`, the default), or the previous
            network's ``.npz`` weights.
        stroke_scale: the painter only: size of the painted marks relative to the image (2 = twice as large).
        output_width: width of the written image (aspect kept): the painting at ``width`` is upsampled to it,
            guided by the full-resolution photo (:mod:`media.upsample`); None writes it at ``width``.
        width: output width (aspect kept); None keeps the content's size.
        blend: one weight per painting (default equal); strength: 0 (content's own statistics) .. 1 (painting's).
        preserve_colors: ``luminance`` or ``histogram`` as in :class:`transfer.color.ColorMode`.
    """

    content: Path
    styles: tuple[Path, ...]
    output: Path
    model: Path | None = None
    width: int | None = 512
    blend: tuple[float, ...] | None = None
    strength: float = 1.0
    preserve_colors: ColorMode = ColorMode.NONE
    precision: Precision = DEFAULT_PRECISION
    stroke_scale: float = 1.0
    output_width: int | None = None

    def __post_init__(self) -> None:
        check_stroke_scale(self.stroke_scale)
        if not self.styles:
            raise UserError("give at least one painting")
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"strength {self.strength} is outside [0, 1]")
        if self.blend is not None and (len(self.blend) != len(self.styles) or sum(self.blend) <= 0
                                       or min(self.blend) < 0):
            raise UserError(f"--blend needs {len(self.styles)} non-negative weights with a positive sum")
        object.__setattr__(self, "preserve_colors", ColorMode(self.preserve_colors))


def _painted(config: ArbitraryImageConfig, content: np.ndarray, paintings: list[np.ndarray]) -> tuple[np.ndarray, dict]:
    """Return (the painter's image (H, W, 3) uint8 BGR, its model record)."""
    painter = load_magenta()
    weights = np.asarray(config.blend or [1.0] * len(paintings), np.float32)
    vector = (weights / weights.sum()) @ np.stack([painter.style_vector(p) for p in paintings])
    if config.strength < 1.0:
        vector = config.strength * vector + (1.0 - config.strength) * painter.style_vector(content)
    return paint_frame(painter, content, vector, config.stroke_scale), {"engine": "magenta-onnxruntime"}


def _network(config: ArbitraryImageConfig, content: np.ndarray, paintings: list[np.ndarray]) -> tuple[np.ndarray, dict]:
    """Return (the previous network's image (H, W, 3) uint8 BGR, its weights' metadata)."""
    net = load_arbitrary(config.model, config.precision)
    code = net.mixed_code(paintings, list(config.blend) if config.blend else None)
    out = net.stylize(tf.constant(content[None].astype(np.float32)), code, config.strength)
    return np.clip(np.rint(out.numpy()[0]), 0, 255).astype(np.uint8), net.meta


def stylize_image_arbitrary(config: ArbitraryImageConfig) -> dict:
    """Stylise ``config.content``; write the image and its JSON report; return the report."""
    started = time.perf_counter()
    content = resize_to_width(read_image(config.content), config.width)
    paintings = [read_image(p) for p in config.styles]
    if config.preserve_colors is ColorMode.HISTOGRAM:
        paintings = [match_histogram(p, content) for p in paintings]
    image, meta = (_painted if config.model is None else _network)(config, content, paintings)
    image = restore_colors(config.preserve_colors, image, content)
    painted_at = time.perf_counter()
    final = upsample_to_width(image, read_image(config.content), config.output_width)
    write_image(config.output, final)
    finished = time.perf_counter()
    report = {"output": str(config.output), "method": "arbitrary", "config": jsonable(config),
              "working_size": {"height": int(image.shape[0]), "width": int(image.shape[1])},
              "size": {"height": int(final.shape[0]), "width": int(final.shape[1])}, "model_meta": meta,
              "timings_seconds": {"stylize": painted_at - started, "upsample": finished - painted_at,
                                  "total": finished - started}}
    if final is not image:
        report["upsample"] = DEFAULT_METHOD.value
    atomic_write_json(Path(config.output).with_suffix(".json"), report)
    return report
