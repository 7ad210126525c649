"""What no keyframe saw: candidates for painting it, compared on a real clip (part of ``benchmarks.keyframes``).

Candidates (each a :class:`video.keyframe_propagation.FillPainter`, or None for the method's own):

- ``colour_model``: the method's fill, the keyframes' local colour model applied to the frame's input;
- ``network``: the any-painting network (Magenta's, :mod:`transfer.arbitrary.magenta`) conditioned on the
  keyframes: the frame painted with the style vectors of the two keyframes around it, blended by distance, at
  the painter's default stroke scale (:data:`STROKE_SCALE`);
- ``network_detail``: the colour model's fill plus the network painting's fine detail (brush texture).

Measured per candidate on the clip with its keyframes (the carried marks are the same for all): the warping error
over the input's, over the whole frames and in the unseen regions only (share of the frame no keyframe saw > 0.5),
the seam and the sharpness midway; and a hold-out: the clip built from its FIRST keyframe alone up to the next
keyframe's frame, whose unseen regions are compared with that next keyframe — what the painter painted there
(another seed of the same painter): colour error (mean |difference| of the two blurred by ``COLOUR_SIGMA``, 0..255)
and texture (Laplacian energy of the fill over the painter's own in the same region; 1 = as crisp, lower =
smeared).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from media.metrics import occlusion_mask, warping_error
from media.structure import luminance
from transfer.arbitrary.magenta import load_magenta, paint_frame
from video.keyframe_propagation import FillPainter, PropagationSettings, render_shot_parts

#: Regions no keyframe saw: unseen share above this.
UNSEEN = 0.5
#: Colour error of the hold-out: both images blurred by this sigma (pixels), so brush marks at other places of
#: the same colour do not count.
COLOUR_SIGMA = 4.0
CANDIDATES = ("colour_model", "network", "network_detail")
#: The network's stroke scale (``--stroke-scale``): at 1 (a 640x360 frame painted at 384x216 and brought back), its
#: detail has about the stroke painter's texture on vtest's hold-out (0.97x); painted at the frame's own size
#: (0.6) it has 1.64x and flickers more in the unseen regions (0.83x the input's warping error there against 0.52x).
STROKE_SCALE = 1.0


class NetworkFill:
    """The any-painting network conditioned on the keyframes (a :class:`FillPainter`); ``detail_only``: keep the
    colour model's colours and add the painting's fine detail. Counts its calls and seconds."""

    def __init__(self, keys: dict[int, np.ndarray], detail_only: bool):
        self.painter = load_magenta()
        self.vectors = {k: self.painter.style_vector(image) for k, image in keys.items()}
        self.detail_only = detail_only
        self.calls, self.seconds = 0, 0.0

    def __call__(self, frame: np.ndarray, styles: dict[int, float], colours: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        vector = sum(w * self.vectors[k] for k, w in styles.items())
        painted = paint_frame(self.painter, frame, np.asarray(vector, np.float32), STROKE_SCALE).astype(np.float32)
        if self.detail_only:
            painted = np.clip(colours + painted - cv2.GaussianBlur(painted, (0, 0), 2.0), 0, 255)
        self.calls += 1
        self.seconds += time.perf_counter() - t
        return painted


def painter_for(name: str, keys: dict[int, np.ndarray]) -> FillPainter | None:
    """Return the fill painter of candidate ``name`` (None: the method's colour model)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown fill {name!r}; one of {CANDIDATES}")
    return None if name == "colour_model" else NetworkFill(keys, detail_only=name == "network_detail")


def texture(image: np.ndarray, mask: np.ndarray) -> float:
    """Return the mean squared Laplacian of the luminance (0..255 scale) of ``image`` over ``mask``."""
    y = luminance(np.asarray(image, np.uint8)) * 255.0
    return float(np.mean(np.square(cv2.Laplacian(y, cv2.CV_32F, ksize=3))[mask]))


def region_warping_ratio(out: list[np.ndarray], inputs: list[np.ndarray], flows: tuple,
                         masks: list[np.ndarray]) -> float:
    """Return the warping error of ``out`` over the input's, both over the pixels of ``masks`` (one per step t -> t-1,
    True where frame t's fill is judged) that pass the flow's forward-backward check; flows: (back, forward) of the
    input."""
    back, fwd = flows
    judged = [m & occlusion_mask(b, f) for m, b, f in zip(masks, back, fwd, strict=True)]
    errors = [warping_error(frames, back, judged) for frames in (out, inputs)]
    counts = np.array([m.sum() for m in judged], np.float64)
    return float(np.nansum(errors[0] * counts) / np.nansum(errors[1] * counts))


def compare_fills(source, inputs: list[np.ndarray], keys: dict[int, np.ndarray], flows: tuple,
                  judge: Callable[[dict[int, np.ndarray]], dict]) -> dict:
    """Return {candidate: measures} (see the module docstring) and ``unseen_share`` (mean over frames).

    Args:
        source: the clip's :class:`video.keyframe_propagation.FrameSource`; inputs: its frames; keys: {frame:
            keyframe}; flows: (back, forward) lists of the input's flows; judge: {frame: output} -> whole-frame
            measures (warping error ratio, seam, sharpness, fidelity).
    """
    n = len(inputs)
    results: dict = {}
    for name in CANDIDATES:
        painter = painter_for(name, keys)
        t = time.perf_counter()
        parts = list(render_shot_parts(source, range(1, n + 1), keys, PropagationSettings(), painter))
        seconds = time.perf_counter() - t
        out = {i: o for i, o, _ in parts}
        masks = [u > UNSEEN for _, _, u in parts]
        results["unseen_share"] = float(np.mean([m.mean() for m in masks]))
        results[name] = {**judge(out), "warping_error_ratio_unseen": region_warping_ratio(
            [out[i] for i in range(1, n + 1)], inputs, flows, masks[1:]), "seconds_per_frame": seconds / n,
            "painter_calls": getattr(painter, "calls", 0), **_hold_out(source, keys, painter)}
    results["verdict"] = verdict(results)
    return results


def verdict(results: dict) -> dict:
    """Return which candidate keeps the marks crispest (hold-out texture nearest the painter's own, 1), which is
    steadiest where no keyframe saw (lowest warping error there) and which has the painter's colours (lowest
    hold-out colour error)."""
    rows = {name: results[name] for name in CANDIDATES if name in results}
    return {"crispest": min(rows, key=lambda n: abs(np.log(rows[n]["hold_out_texture_ratio"]))),
            "steadiest": min(rows, key=lambda n: rows[n]["warping_error_ratio_unseen"]),
            "closest_colours": min(rows, key=lambda n: rows[n]["hold_out_colour_error"])}


def _hold_out(source, keys: dict[int, np.ndarray], painter: FillPainter | None) -> dict:
    """Return the hold-out measures: the first keyframe alone carried to the next keyframe's frame, its unseen
    region against the next keyframe."""
    first, second = sorted(keys)[:2]
    parts = list(render_shot_parts(source, range(first, second + 1), {first: keys[first]}, PropagationSettings(),
                                   painter))
    _, out, unseen = parts[-1]
    mask = unseen > UNSEEN
    truth = keys[second]

    def blur(x):
        return cv2.GaussianBlur(x.astype(np.float32), (0, 0), COLOUR_SIGMA)

    return {"hold_out_frame": second, "hold_out_unseen_share": float(mask.mean()),
            "hold_out_colour_error": float(np.abs(blur(out) - blur(truth))[mask].mean()),
            "hold_out_texture_ratio": texture(out, mask) / texture(truth, mask)}
