"""The same frame stylised with the bundled and the fine-tuned backbone: losses side by side and one image.

``finetuned_side_by_side.png`` (under the bench output) shows the bundled result left and the fine-tuned one
right, each captioned with its own style/content losses and those measured with the bundled backbone.

The fine-tuned backbone is ``models/backbone.weights.h5`` (from ``make finetune``); without it the benchmark
reports that it was skipped. Both results are also measured with the bundled backbone, a common yardstick,
since each backbone's own losses are not comparable across networks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from transfer.features import preprocess
from transfer.optimize import OptimizeOptions
from transfer.stylize import StyleSpec, StylizeConfig, build_objective, stylize_image
from video.evaluate import frame_losses

SAMPLES = Path("samples")
FINETUNED = Path("models") / "backbone.weights.h5"


def run(quick: bool, out_dir: Path) -> dict:
    content, style = SAMPLES / "building.jpg", SAMPLES / "starry_night.jpg"
    if not FINETUNED.exists():
        return {"skipped": f"{FINETUNED} missing (run make finetune first)"}
    if not content.exists():
        return {"skipped": "samples missing (run make samples)"}
    width, iterations = (128, 40) if quick else (256, 200)
    results, images = {}, []
    yardstick = build_objective(StyleSpec(styles=(style,)))
    for name, weights in (("bundled", "bundled"), ("finetuned", str(FINETUNED))):
        out = out_dir / f"finetuned_compare_{name}.png"
        report = stylize_image(StylizeConfig(content=content, output=out, style=StyleSpec(styles=(style,),
                                                                                          weights=weights),
                                             width=width, optimize=OptimizeOptions(iterations=iterations),
                                             progress=False))
        img = cv2.imread(str(out))
        original = cv2.resize(cv2.imread(str(content)), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
        grams = yardstick.style_grams(preprocess(cv2.resize(cv2.imread(str(style)), (width, width))))
        common = frame_losses(yardstick, grams, [original], [img])
        results[name] = {"own_style_loss": report["final_losses"]["style"],
                         "own_content_loss": report["final_losses"]["content"],
                         "bundled_yardstick_style_loss": common["style"][0],
                         "bundled_yardstick_content_loss": common["content"][0],
                         "seconds": report["timings_seconds"]["optimize"]}
        images.append(_caption(img, name, results[name]))
    cv2.imwrite(str(out_dir / "finetuned_side_by_side.png"), np.hstack(images))
    return {"width": width, "iterations": iterations, "backbones": results,
            "figure": str(out_dir / "finetuned_side_by_side.png")}


def _caption(img: np.ndarray, name: str, losses: dict) -> np.ndarray:
    """Return ``img`` (BGR uint8) above a white strip naming the backbone and its losses."""
    strip = np.full((44, img.shape[1], 3), 255, np.uint8)
    lines = (f"{name}: style {losses['own_style_loss']:.3g} content {losses['own_content_loss']:.3g}",
             f"on bundled: style {losses['bundled_yardstick_style_loss']:.3g} "
             f"content {losses['bundled_yardstick_content_loss']:.3g}")
    for i, line in enumerate(lines):
        cv2.putText(strip, line, (4, 16 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.34, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([img, strip])
