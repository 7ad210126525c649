"""Single-image style transfer (Gatys et al. 2016): ``stylize_image(StylizeConfig)``.

Also home of the pieces the video pipeline reuses: :class:`StyleSpec` (which styles, how blended, which
backbone) and :func:`build_objective` / :func:`style_grams_for`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.records import jsonable
from media.image_io import MAX_WIDTH, read_image, resize_to_width, write_image
from media.upsample import DEFAULT_METHOD as DEFAULT_UPSAMPLE
from media.upsample import UpsampleMethod, check_output_width, upsample_to_width
from transfer.backbone import BUNDLED, describe_weights, load_backbone
from transfer.color import prepare_inputs, restore_colors
from transfer.features import (
    CONTENT_LAYER,
    DEFAULT_PRECISION,
    STYLE_LAYERS,
    FeatureExtractor,
    Precision,
    deprocess,
    pixel_bounds,
    preprocess,
)
from transfer.losses import blend_grams
from transfer.objective import LossWeights, StyleObjective
from transfer.optimize import OptimizeOptions, OptimizeResult, minimize
from transfer.seeding import seed_everything


class InitMode(StrEnum):
    """Starting image of the optimisation (an image path is accepted too, see :class:`StylizeConfig`).

    ``painted`` (a video's first frame only, :mod:`transfer.painted_start`): the any-painting painter's rendering of
    the frame, so the optimisation starts from a painting's layout instead of building it from the photo.
    """

    CONTENT = "content"
    RANDOM = "random"
    PAINTED = "painted"


@dataclass(frozen=True)
class StyleSpec:
    """Which painting(s), how they are blended and measured, and by which network.

    Attributes:
        styles: style image paths.
        blend: one weight per style (normalised); ``None`` means equal weights.
        style_scale: style image width relative to the content width (1.0 = same width).
        weights: backbone source, ``bundled`` / ``imagenet`` / a path (see :mod:`transfer.backbone`).
        precision: compute dtype of the VGG pass (bfloat16 by default; ``float32`` for comparison).
        content_layer: ``block4_conv2`` (default) or e.g. ``block5_conv2`` for looser content.
        style_layers: Gram layers; ``style_layer_weights`` one weight per layer.
    """

    styles: tuple[Path, ...]
    blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    weights: str = BUNDLED
    precision: Precision = DEFAULT_PRECISION
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if not self.styles:
            raise UserError("at least one style image is needed")
        if self.blend is not None and len(self.blend) != len(self.styles):
            raise UserError(f"{len(self.blend)} blend weights given for {len(self.styles)} styles")
        if self.blend is not None and (min(self.blend) < 0 or sum(self.blend) <= 0):
            raise UserError("style blend weights must be non-negative and not all zero")
        if len(self.style_layer_weights) != len(self.style_layers):
            raise UserError("give one style layer weight per style layer")
        if not 0.05 <= self.style_scale <= 8:
            raise UserError(f"style scale {self.style_scale} is outside [0.05, 8]")


@dataclass(frozen=True)
class StylizeConfig:
    """Everything ``paintvid image`` needs.

    Attributes:
        content: content photo path; output: where the PNG/JPEG goes (a ``.json`` report lands beside it).
        width: working width in pixels at which the optimisation paints (aspect kept); ``None`` keeps the content's.
        output_width: width of the written image (aspect kept): the painting is upsampled to it, guided by the
            full-resolution content (``upsample``, :mod:`media.upsample`); ``None`` writes the working width.
        init: ``content``, ``random`` or a path to an image to start from.
        seed: seeds NumPy/TensorFlow so that runs are reproducible.
        preserve_colors: ``none``, ``luminance`` (stylise the luminance only and keep the content's colours) or
            ``histogram`` (match the style's colours to the content first), after Gatys et al. 2016.
    """

    content: Path
    output: Path
    style: StyleSpec
    width: int | None = 512
    loss: LossWeights = field(default_factory=LossWeights)
    optimize: OptimizeOptions = field(default_factory=OptimizeOptions)
    init: str = InitMode.CONTENT.value
    seed: int = 0
    preserve_colors: str = "none"
    progress: bool = True
    output_width: int | None = None
    upsample: UpsampleMethod = DEFAULT_UPSAMPLE


def build_objective(spec: StyleSpec) -> StyleObjective:
    """Load the backbone once and return the objective for ``spec``'s layers and precision."""
    backbone = load_backbone(spec.weights)
    extractor = FeatureExtractor(backbone, (spec.content_layer, *spec.style_layers), spec.precision)
    return StyleObjective(extractor, spec.content_layer, dict(zip(spec.style_layers, spec.style_layer_weights,
                                                                  strict=True)))


def load_styles(spec: StyleSpec) -> list[np.ndarray]:
    """Read every style image of ``spec`` as (H, W, 3) uint8 BGR (raises UserError naming a bad file)."""
    return [read_image(p) for p in spec.styles]


def style_grams_for(
    objective: StyleObjective, spec: StyleSpec, styles: Sequence[np.ndarray], content_width: int
) -> list[dict]:
    """Return one ``{layer: (1, C, C)}`` Gram dict per style image, each resized to ``style_scale * width``."""
    width = max(16, round(content_width * spec.style_scale))
    return [objective.style_grams(preprocess(resize_to_width(img, width))) for img in styles]


def blend_weights(spec: StyleSpec) -> tuple[float, ...]:
    """Return the normalised blend weights of ``spec`` (equal by default)."""
    raw = spec.blend or tuple(1.0 for _ in spec.styles)
    return tuple(w / sum(raw) for w in raw)


def initial_image(init: str, content: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the (1, H, W, 3) VGG-preprocessed starting point for ``init`` (content, random or a path)."""
    if init == InitMode.CONTENT.value:
        return preprocess(content)
    if init == InitMode.RANDOM.value:
        noise = rng.uniform(0, 255, size=content.shape).astype(np.float32)
        return preprocess(noise)
    start = read_image(init)
    h, w = content.shape[:2]

    return preprocess(cv2.resize(start, (w, h), interpolation=cv2.INTER_AREA))


def check_width(width: int | None) -> None:
    """Raise UserError for a width that is not a sensible positive size."""
    if width is not None and not 16 <= width <= MAX_WIDTH:
        raise UserError(f"width {width} is outside [16, {MAX_WIDTH}]")


def progress_bar(total: int, desc: str, enabled: bool, position: int = 0):
    """Return a tqdm bar over iterations (disabled when ``enabled`` is False); loss numbers go in its postfix."""
    # deferred on purpose: the web studio's Gradio replaces tqdm's class to track progress; a class bound when this
    # module was imported (before Gradio) left the studio's "Paint the video" click waiting behind the preview
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="it", dynamic_ncols=True, leave=False,
                position=position)


def run_optimization(
    objective: StyleObjective, x0: np.ndarray, targets, loss: LossWeights, options: OptimizeOptions, bar=None
) -> OptimizeResult:
    """Minimise the objective from ``x0`` (1, H, W, 3) within pixel bounds, updating ``bar`` with the loss."""

    def on_iteration(it: int, value: float, parts: dict[str, float]) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", style=f"{parts.get('style', 0):.3g}",
                            content=f"{parts.get('content', 0):.3g}")

    return minimize(lambda x: objective.value_and_grad(x, targets, loss), x0, pixel_bounds(), options,
                    on_iteration)


def stylize_image(config: StylizeConfig) -> dict:
    """Stylise ``config.content`` with ``config.style``; write the image and a JSON report; return the report."""
    check_width(config.width)
    check_output_width(config.output_width, config.width)
    started = time.perf_counter()
    seed_everything(config.seed)

    source = read_image(config.content)
    original = resize_to_width(source, config.width)
    content, styles = prepare_inputs(config.preserve_colors, original, load_styles(config.style))
    if config.init not in (InitMode.CONTENT.value, InitMode.RANDOM.value):
        read_image(config.init)  # fail early, before the backbone is built
    objective = build_objective(config.style)
    loaded = time.perf_counter()

    grams = blend_grams(style_grams_for(objective, config.style, styles, content.shape[1]), blend_weights(config.style))
    targets = objective.targets(preprocess(content), grams)
    x0 = initial_image(config.init, content, np.random.default_rng(config.seed))
    _, _, start_parts = objective.value_and_grad(x0, targets, config.loss)
    with progress_bar(config.optimize.iterations, f"stylize {Path(config.content).name}", config.progress) as bar:
        result = run_optimization(objective, x0, targets, config.loss, config.optimize, bar)

    painted = restore_colors(config.preserve_colors, deprocess(result.x), original)
    optimized = time.perf_counter()
    final = upsample_to_width(painted, source, config.output_width, config.upsample)
    write_image(config.output, final)
    finished = time.perf_counter()
    report = {
        "output": str(config.output),
        "config": jsonable(asdict(config)),
        "weights_used": describe_weights(config.style.weights),
        "size": {"height": int(final.shape[0]), "width": int(final.shape[1])},
        "working_size": {"height": int(content.shape[0]), "width": int(content.shape[1])},
        "timings_seconds": {"setup": loaded - started, "optimize": optimized - loaded, "upsample": finished - optimized,
                            "total": finished - started},
        "iterations": result.iterations,
        "stopped_early": result.stopped_early,
        "initial_losses": start_parts,
        "final_losses": {**result.parts, "total": result.loss},
        "loss_history": result.history,
    }
    atomic_write_json(Path(config.output).with_suffix(".json"), report)
    return report
