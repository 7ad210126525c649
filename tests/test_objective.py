"""The objective's loss and gradient depend on their inputs only, never on the sizes evaluated before them."""

from __future__ import annotations

import numpy as np

from media.structure import structure_score
from transfer.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor, deprocess, pixel_bounds, preprocess
from transfer.objective import LossWeights, StyleObjective, laplacian_pool
from transfer.optimize import OptimizeOptions, minimize


def _inputs(r: np.random.Generator, h: int, w: int, k: int):
    """Return (x (1, h, w, 3), content (1, h, w, 3), warped (k, h, w, 3), certainty (k, h, w, 1)), preprocessed."""
    image = lambda: preprocess(r.uniform(0, 255, (h, w, 3)).astype(np.float32))  # noqa: E731
    warped = np.concatenate([image() for _ in range(k)]) if k else None
    certainty = r.uniform(0, 1, (k, h, w, 1)).astype(np.float32) if k else None
    return image(), image(), warped, certainty


def test_gradient_does_not_depend_on_earlier_calls(bundled_backbone):
    """A resumed video run's first call is a later frame's; it must get the uninterrupted run's gradient bit for
    bit, although that run evaluated a first frame (no warped frame, K = 0) and another size before it."""
    extractor = FeatureExtractor(bundled_backbone, (CONTENT_LAYER, *STYLE_LAYERS))
    r = np.random.default_rng(4)
    weights = LossWeights(temporal=1e3)

    def objective() -> StyleObjective:
        return StyleObjective(extractor, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))

    style = objective().style_grams(preprocess(r.uniform(0, 255, (40, 40, 3)).astype(np.float32)))

    def call(obj: StyleObjective, x, content, warped, certainty):
        return obj.value_and_grad(x, obj.targets(content, style, warped, certainty), weights)

    later = _inputs(r, 32, 40, 1)
    used = objective()
    for h, w, k in [(16, 24, 0), (32, 40, 0), (32, 40, 2)]:  # a coarse level, a first frame, a long-term frame
        call(used, *_inputs(r, h, w, k))
    loss_used, grad_used, parts_used = call(used, *later)
    loss_fresh, grad_fresh, parts_fresh = call(objective(), *later)
    assert loss_used == loss_fresh and parts_used == parts_fresh
    np.testing.assert_array_equal(grad_used, grad_fresh)


def test_laplacian_term_pulls_a_noisy_start_towards_the_contents_shapes(bundled_backbone):
    """With only the Laplacian term on, L-BFGS from noise makes the content's shapes come back: the term falls and
    the structure measure (which does not use the term's pooling or the backbone) rises."""
    extractor = FeatureExtractor(bundled_backbone, (CONTENT_LAYER, *STYLE_LAYERS))
    obj = StyleObjective(extractor, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))
    yy, xx = np.mgrid[0:48, 0:64]
    content_bgr = np.where(((xx - 24) ** 2 + (yy - 24) ** 2 < 150)[..., None], 220, 40).astype(np.uint8)
    content_bgr = np.repeat(content_bgr, 3, axis=2)
    content = preprocess(content_bgr)
    targets = obj.targets(content, obj.style_grams(content))
    assert laplacian_pool(64) == 1 and laplacian_pool(256) == 4
    weights = LossWeights(content=0.0, style=0.0, tv=0.0, laplacian=1.0)
    start = preprocess(np.random.default_rng(1).uniform(0, 255, (48, 64, 3)).astype(np.uint8))
    before = obj.value_and_grad(start, targets, weights)[2]["laplacian"]
    result = minimize(lambda x: obj.value_and_grad(x, targets, weights), start, pixel_bounds(),
                      OptimizeOptions(iterations=30, stall_tolerance=0.0))
    assert result.parts["laplacian"] < 0.05 * before
    assert structure_score(content_bgr, deprocess(result.x)) > structure_score(content_bgr, deprocess(start)) + 0.3
