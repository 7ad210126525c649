"""A differentiable bilinear backward warp in TensorFlow, the graph twin of ``media.warp.warp``.

Same convention as the numpy warp: ``out(p) = image(p + flow(p))``; flow is ``(B, H, W, 2) float32`` in pixels,
x then y. Samples falling outside the image are clamped to the border and flagged by the returned mask.
"""

from __future__ import annotations

import tensorflow as tf


def warp(image: tf.Tensor, flow: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Return ``(warped (B, H, W, C), inside (B, H, W, 1) float32 in {0, 1})``; differentiable in ``image``.

    Args:
        image: (B, H, W, C) float tensor.
        flow: (B, H, W, 2) float32 displacements in pixels (x, y) from each output pixel to where it samples.
    """
    image = tf.convert_to_tensor(image)
    flow = tf.cast(flow, tf.float32)
    shape = tf.shape(image)
    b, h, w = shape[0], shape[1], shape[2]
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    x = xs[None] + flow[..., 0]
    y = ys[None] + flow[..., 1]
    wf, hf = tf.cast(w, tf.float32), tf.cast(h, tf.float32)
    inside = tf.cast((x >= 0) & (x <= wf - 1) & (y >= 0) & (y <= hf - 1), tf.float32)[..., None]
    x = tf.clip_by_value(x, 0.0, wf - 1)
    y = tf.clip_by_value(y, 0.0, hf - 1)
    x0 = tf.floor(x)
    y0 = tf.floor(y)
    ax = (x - x0)[..., None]
    ay = (y - y0)[..., None]
    x0i = tf.cast(x0, tf.int32)
    y0i = tf.cast(y0, tf.int32)
    x1i = tf.minimum(x0i + 1, w - 1)
    y1i = tf.minimum(y0i + 1, h - 1)
    batch = tf.broadcast_to(tf.range(b)[:, None, None], tf.shape(x0i))

    def gather(yi, xi):
        return tf.gather_nd(image, tf.stack([batch, yi, xi], axis=-1))

    dtype = image.dtype
    ax, ay = tf.cast(ax, dtype), tf.cast(ay, dtype)
    top = gather(y0i, x0i) * (1 - ax) + gather(y0i, x1i) * ax
    bottom = gather(y1i, x0i) * (1 - ax) + gather(y1i, x1i) * ax
    return top * (1 - ay) + bottom * ay, inside


def downscale_flow(flow: tf.Tensor, certainty: tf.Tensor, factor: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Return flow and certainty on a grid ``factor`` times coarser (flow averaged and divided, certainty min).

    Args:
        flow: (B, H, W, 2) pixels; certainty: (B, H, W, 1) in [0, 1]; H, W divisible by ``factor``.
    """
    if factor == 1:
        return flow, certainty
    small = tf.nn.avg_pool2d(flow, factor, factor, "VALID") / float(factor)
    cert = -tf.nn.max_pool2d(-certainty, factor, factor, "VALID")
    return small, cert
