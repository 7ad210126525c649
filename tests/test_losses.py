"""Loss terms: hand-computed values on tiny tensors and gradients w.r.t. the image."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transfer import losses


def test_gram_matrix_hand_computed():
    # 1 image, 2x1 pixels, 2 channels: pixel a = (1, 2), pixel b = (3, 4)
    f = tf.constant([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    g = losses.gram_matrix(f).numpy()[0]
    # F^T F = [[1*1+3*3, 1*2+3*4], [2*1+4*3, 2*2+4*4]] = [[10, 14], [14, 20]], divided by H*W*C = 4
    np.testing.assert_allclose(g, [[2.5, 3.5], [3.5, 5.0]])


def test_content_loss_hand_computed():
    a = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = tf.constant([[[[1.0, 0.0], [0.0, 4.0]]]])
    assert float(losses.content_loss(a, b)) == pytest.approx((0 + 4 + 9 + 0) / 4)


def test_style_loss_weights_layers():
    g1 = {"a": tf.constant([[[1.0, 0.0], [0.0, 1.0]]]), "b": tf.constant([[[2.0]]])}
    g2 = {"a": tf.constant([[[0.0, 0.0], [0.0, 1.0]]]), "b": tf.constant([[[0.0]]])}
    # layer a: mean of (1, 0, 0, 0) = 0.25; layer b: 4
    assert float(losses.style_loss(g1, g2, {"a": 2.0, "b": 0.5})) == pytest.approx(2 * 0.25 + 0.5 * 4)


def test_total_variation_hand_computed():
    img = np.zeros((1, 2, 2, 3), np.float32)
    img[0, 0, 0, :] = 1.0
    # vertical diffs (1 row x 2 cols x 3): one pixel differs by 1 -> mean 3/6; horizontal likewise
    assert float(losses.total_variation(tf.constant(img))) == pytest.approx(0.5 + 0.5)


def test_temporal_loss_weighted_per_pixel():
    x = tf.zeros((1, 2, 2, 3))
    warped = tf.ones((1, 2, 2, 3)) * 2.0
    c = tf.constant([[[[1.0], [0.0]], [[0.5], [0.0]]]])
    # sum c * 4 over 3 channels = (1 + 0.5) * 4 * 3 = 18, D = 12
    assert float(losses.temporal_loss(x, warped, c)) == pytest.approx(18 / 12)
    # two earlier frames add up
    two = losses.temporal_loss(x, tf.concat([warped, warped], 0), tf.concat([c, c], 0))
    assert float(two) == pytest.approx(36 / 12)


def test_blend_grams_endpoints_and_midpoint():
    a = {"l": tf.constant([[[1.0]]])}
    b = {"l": tf.constant([[[3.0]]])}
    assert float(losses.blend_grams([a, b], [1, 0])["l"][0, 0, 0]) == 1.0
    assert float(losses.blend_grams([a, b], [0, 2])["l"][0, 0, 0]) == 3.0
    assert float(losses.blend_grams([a, b], [1, 1])["l"][0, 0, 0]) == 2.0
    with pytest.raises(ValueError):
        losses.blend_grams([a, b], [0, 0])


@pytest.mark.parametrize("term", ["content", "style", "tv", "temporal"])
def test_each_term_is_differentiable_wrt_image(term, bundled_backbone):
    from transfer.features import STYLE_LAYERS, FeatureExtractor

    ext = FeatureExtractor(bundled_backbone, ("block4_conv2", *STYLE_LAYERS))
    r = np.random.default_rng(1)
    other = tf.constant(r.normal(0, 40, (1, 32, 32, 3)).astype(np.float32))
    feats_other = ext(other)

    def value_of(x):
        feats = ext(x)
        if term == "content":
            return losses.content_loss(feats["block4_conv2"], feats_other["block4_conv2"])
        if term == "style":
            grams = {n: losses.gram_matrix(feats[n]) for n in STYLE_LAYERS}
            targets = {n: losses.gram_matrix(feats_other[n]) for n in STYLE_LAYERS}
            return losses.style_loss(grams, targets, dict.fromkeys(STYLE_LAYERS, 1.0))
        if term == "tv":
            return losses.total_variation(x)
        return losses.temporal_loss(x, other, tf.ones((1, 32, 32, 1)))

    x = tf.Variable(r.normal(0, 40, (1, 32, 32, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        before = value_of(x)
    grad = tape.gradient(before, x)
    assert grad is not None
    g = grad.numpy()
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    # the gradient is the real one: a small step against it lowers the loss
    x.assign_sub(0.5 * g / np.abs(g).max())
    assert float(value_of(x)) < float(before)


def _pooled_then_laplacian(image: np.ndarray, pool: int) -> np.ndarray:
    """Reference: luminance, mean over p x p cells (stride p), then the 4-neighbour Laplacian of the cells."""
    luma = image @ np.array(losses.LUMA_BGR, np.float32)
    h, w = (s // pool for s in luma.shape)
    cells = luma[: h * pool, : w * pool].reshape(h, pool, w, pool).mean(axis=(1, 3))
    return cells[:-2, 1:-1] + cells[2:, 1:-1] + cells[1:-1, :-2] + cells[1:-1, 2:] - 4 * cells[1:-1, 1:-1]


def _dense_laplacian(image: np.ndarray, pool: int) -> np.ndarray:
    """Reference: the (3p, 3p) kernel of laplacian_kernel over the luminance, valid positions, stride 1."""
    luma = tf.constant((image @ np.array(losses.LUMA_BGR, np.float32))[None, ..., None])
    return tf.nn.conv2d(luma, tf.constant(losses.laplacian_kernel(pool)), 1, "VALID").numpy()[0, ..., 0]


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_laplacian_is_pooling_then_laplacian(pool):
    # at stride-p positions the stride-1 term gives exactly Li et al.'s pooled Laplacian, and at every position it
    # equals the one dense kernel that defines it
    image = np.random.default_rng(pool).uniform(-100, 100, (6 * pool + 3, 7 * pool + 1, 3)).astype(np.float32)
    fast = losses.laplacian(tf.constant(image[None]), pool).numpy()[0, ..., 0]
    np.testing.assert_allclose(fast, _dense_laplacian(image, pool), rtol=1e-4, atol=1e-3)
    expected = _pooled_then_laplacian(image, pool)
    np.testing.assert_allclose(fast[::pool, ::pool][: expected.shape[0], : expected.shape[1]], expected,
                               rtol=1e-4, atol=1e-3)


def test_laplacian_of_a_ramp_is_zero_and_of_an_edge_is_not():
    x = np.arange(20, dtype=np.float32)
    ramp = np.broadcast_to((3.0 * x[None, :] + 2.0 * x[:, None])[..., None], (20, 20, 3)).copy()
    np.testing.assert_allclose(losses.laplacian(tf.constant(ramp[None]), 2).numpy(), 0.0, atol=1e-3)
    edge = np.zeros((20, 20, 3), np.float32)
    edge[:, 10:] = 100.0
    assert np.abs(losses.laplacian(tf.constant(edge[None]), 2).numpy()).max() > 10


def test_laplacian_loss_zero_for_the_content_and_larger_for_a_shifted_copy():
    image = np.random.default_rng(0).uniform(-100, 100, (1, 24, 24, 3)).astype(np.float32)
    image = tf.constant(image)
    target = losses.laplacian(image, 2)
    assert float(losses.laplacian_loss(image, target, 2)) == pytest.approx(0.0, abs=1e-6)
    shifted = tf.roll(image, shift=3, axis=2)
    assert float(losses.laplacian_loss(shifted, target, 2)) > 10.0
    # an image smaller than 3p (a 4 px strip against 6 px) still gets a finite term, not an error
    strip = tf.constant(np.random.default_rng(1).uniform(-100, 100, (1, 4, 40, 3)).astype(np.float32))
    target = losses.laplacian(strip, 2)
    assert target.shape[1] == 1
    assert float(losses.laplacian_loss(strip, target, 2)) == 0.0
    assert np.isfinite(float(losses.laplacian_loss(tf.roll(strip, 3, axis=2), target, 2)))


def _plain_gram(features: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], -1, shape[3]))
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2] * shape[3], features.dtype)


def _gram_loss_gradient(gram, features: tf.Tensor, target: tf.Tensor) -> np.ndarray:
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_sum(tf.square(gram(features) - target) * tf.range(1.0, 1.0 + target.shape[-1]))
    return tf.cast(tape.gradient(loss, features), tf.float32).numpy()


def test_gram_gradient_is_automatic_differentiations():
    # one product F (dG + dG^T) / n gives the same gradient as differentiating F^T F, with a non-symmetric upstream
    rng = np.random.default_rng(0)
    features = tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32))
    target = tf.constant(rng.normal(size=(2, 4, 4)).astype(np.float32))
    np.testing.assert_allclose(losses.gram_matrix(features).numpy(), _plain_gram(features).numpy(), rtol=1e-6)
    np.testing.assert_allclose(_gram_loss_gradient(losses.gram_matrix, features, target),
                               _gram_loss_gradient(_plain_gram, features, target), rtol=1e-5, atol=1e-6)


def test_gram_of_bfloat16_features_is_float32_and_its_gradient_bfloat16():
    rng = np.random.default_rng(1)
    exact = rng.normal(size=(1, 8, 8, 16)).astype(np.float32)
    features = tf.cast(exact, tf.bfloat16)
    as_float = tf.cast(features, tf.float32)  # the same values, so the forward Gram must agree to float32 rounding
    gram = losses.gram_matrix(features)
    assert gram.dtype == tf.float32
    np.testing.assert_allclose(gram.numpy(), _plain_gram(as_float).numpy(), rtol=1e-5, atol=1e-7)
    target = tf.constant(rng.normal(size=(1, 16, 16)).astype(np.float32) * 0.01)
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_sum(tf.square(losses.gram_matrix(features) - target))
    assert tape.gradient(loss, features).dtype == tf.bfloat16
    # bfloat16 keeps 8 bits: the gradient agrees with the float32 one to about 1 %
    grad = _gram_loss_gradient(losses.gram_matrix, features, target)
    reference = _gram_loss_gradient(_plain_gram, as_float, target)
    np.testing.assert_allclose(grad, reference, rtol=0.02, atol=0.005 * np.abs(reference).max())


def test_total_variation_gradient_is_automatic_differentiations():
    rng = np.random.default_rng(2)
    image = tf.constant(rng.normal(0, 50, (2, 7, 9, 3)).astype(np.float32))

    def plain(x):
        dy, dx = x[:, 1:] - x[:, :-1], x[:, :, 1:] - x[:, :, :-1]
        return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))

    grads = []
    for function in (losses.total_variation, plain):
        with tf.GradientTape() as tape:
            tape.watch(image)
            value = 3.0 * function(image)
        grads.append(tape.gradient(value, image).numpy())
    assert float(losses.total_variation(image)) == pytest.approx(float(plain(image)), rel=1e-6)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)
