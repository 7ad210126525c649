"""The optimisation path paints no band along the frame's edge: VGG's 'same' convolutions pad with zeros (the mean
colour), so the objective's features see a frame around the image; the VGG pass now runs on a mirrored margin
(transfer.objective.framed_features) and the edge is painted like the inside."""

from dataclasses import replace

import numpy as np

from transfer.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor, deprocess, pixel_bounds, preprocess
from transfer.objective import LossWeights, StyleObjective, framed_features
from transfer.optimize import OptimizeOptions, minimize


def _ring_means(image: np.ndarray) -> tuple[float, float]:
    """Return the mean grey level of the outer 4 px of an (H, W, 3) image and of the 8 px just inside them."""
    g = image.astype(np.float64).mean(axis=-1)
    outer = np.concatenate([g[:, :4].ravel(), g[:, -4:].ravel(), g[:4, 4:-4].ravel(), g[-4:, 4:-4].ravel()])
    inner = np.concatenate([g[4:-4, 4:12].ravel(), g[4:-4, -12:-4].ravel(), g[4:12, 12:-12].ravel(),
                            g[-12:-4, 12:-12].ravel()])
    return float(outer.mean()), float(inner.mean())


def test_flat_frame_keeps_its_edge_as_bright_as_its_inside(bundled_backbone):
    # a flat grey frame painted in a fine grey texture: the inside stays near grey 128 on average; without the
    # mirrored margin the outer 4 px came out 12.6 grey levels brighter than the next 8 (1.0 with it)
    extractor = FeatureExtractor(bundled_backbone, (CONTENT_LAYER, *STYLE_LAYERS))
    objective = StyleObjective(extractor, CONTENT_LAYER, {name: 1.0 for name in STYLE_LAYERS})
    content = np.full((96, 128, 3), 128, np.uint8)
    style = np.random.default_rng(0).integers(64, 192, (96, 128, 3)).astype(np.uint8)
    targets = objective.targets(preprocess(content), objective.style_grams(preprocess(style)))
    result = minimize(lambda x: objective.value_and_grad(x, targets, LossWeights()), preprocess(content),
                      pixel_bounds(), replace(OptimizeOptions(), iterations=15, stall_tolerance=0))
    painted = deprocess(result.x)
    outer, inner = _ring_means(painted)
    assert painted.std() > 3, "the style should have painted a texture"
    assert abs(outer - inner) < 4, f"edge {outer:.1f} against {inner:.1f} just inside"


def test_framed_features_keep_each_layers_size(bundled_backbone, rng):
    extractor = FeatureExtractor(bundled_backbone, (CONTENT_LAYER, *STYLE_LAYERS))
    x = preprocess(rng.integers(0, 256, (48, 64, 3)).astype(np.uint8))
    plain, framed = extractor.raw(x), framed_features(extractor, x, 16)
    for name in plain:
        assert framed[name].shape == plain[name].shape, name
    # on a mirrored margin the first layer differs from zero padding on the edge only
    edge = np.abs(np.asarray(framed["block1_conv1"], np.float32) - np.asarray(plain["block1_conv1"], np.float32))
    assert edge[:, 1:-1, 1:-1].max() < 1e-3 * max(1.0, float(np.abs(np.asarray(plain["block1_conv1"])).max()))
    assert edge[:, 0].max() > 0
    # smaller than the margin: mirrored as often as it takes, same sizes
    tiny = preprocess(rng.integers(0, 256, (8, 40, 3)).astype(np.uint8))
    small = framed_features(extractor, tiny, 16)
    assert small["block1_conv1"].shape == (1, 8, 40, 64) and small["block3_conv1"].shape == (1, 2, 10, 256)
