"""``tf.data`` input pipelines: decode, view (whole image, native-resolution crop, augmented), VGG-preprocess, batch.

Every element leaving a pipeline is ``(S, S, 3) float32`` VGG-preprocessed BGR (BGR in [0, 255] minus
``VGG_MEAN_BGR``), the input contract of :mod:`transfer.backbone`. Random choices use stateless ops seeded by
``(seed, view, index)``, so view ``k`` of image ``i`` is the same pixels in every run: that is what lets
:mod:`classifier.cache` store blocks 1-4 once per view.

Views (the ``variant`` of :func:`image_dataset`):

- ``0``: the whole image squashed to ``S x S`` (the global composition);
- ``1`` (:data:`MIRROR`): view 0 mirrored left-right;
- ``2 .. 9`` (:data:`FIRST_CROP`): ``S x S`` crops at near-native resolution (the image scaled so its longer side
  is at most :func:`native_side`, never upscaled unless the shorter side is below ``S``), at the fixed positions
  :data:`CROP_POSITIONS`: where brush strokes, paper grain, craquelure and sensor noise are still visible. These
  and views 0-1 are the clean views a prediction averages (``paintvid finetune``'s default: all of them);
- ``10 ..`` (:data:`FIRST_AUGMENTED`): training-only views that break the colour and contrast shortcut: even
  ones the whole image, odd ones a crop at a random position and a random scale between half and full native,
  then (each with its own seed) random grayscale, hue and saturation jitter, contrast and brightness jitter and
  JPEG re-compression (:class:`Augment`). No prediction path ever asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from transfer.backbone import VGG_MEAN_BGR

#: The view index of the mirrored whole image.
MIRROR = 1
#: The first view index of clean near-native crops (at :data:`CROP_POSITIONS`).
FIRST_CROP = 2
#: The first view index of augmented training views.
FIRST_AUGMENTED = 10
#: Centre ``(y, x)`` of the clean crops as fractions of the free range (crop ``k`` is view ``FIRST_CROP + k``).
CROP_POSITIONS: tuple[tuple[float, float], ...] = (
    (0.5, 0.5), (0.2, 0.2), (0.8, 0.8), (0.2, 0.8), (0.8, 0.2), (0.5, 0.2), (0.5, 0.8), (0.2, 0.5))
#: Native-scale reference: at ``S = 224`` an image is cropped with its longer side at most 768 px (the size the
#: shared data's newer images are stored at); other ``S`` scale it proportionally.
NATIVE_AT_224 = 768
#: Views a prediction averages for a classifier without a ``finetune.json`` record: the whole image and a
#: near-native crop (the recipe before the every-view default, :func:`clean_views`; README, classifier section).
EVAL_VIEWS: tuple[int, ...] = (0, FIRST_CROP)


@dataclass(frozen=True)
class Augment:
    """Strengths of the training-only views (``FIRST_AUGMENTED ..``).

    Attributes:
        flip: random left-right mirror.
        grayscale: probability of dropping colour altogether.
        hue: largest hue shift (fraction of the colour circle); saturation: factor range ``1 -/+ saturation``.
        contrast: factor range ``1 -/+ contrast``; brightness: largest additive shift (images in [0, 1]).
        jpeg: probability of re-compressing at a JPEG quality drawn from ``jpeg_quality``.
        min_scale: smallest scale of a crop relative to native (1 = always native).
    """

    flip: bool = True
    grayscale: float = 0.25
    hue: float = 0.08
    saturation: float = 0.5
    contrast: float = 0.35
    brightness: float = 0.1
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)
    min_scale: float = 0.5


def clean_views(crops: int, mirror: bool = False) -> tuple[int, ...]:
    """Return the clean views a prediction averages: the whole image, its mirror if ``mirror``, then the first
    ``crops`` near-native crops (``(0, 2)`` for one crop, ``(0, 1, 2, 3)`` for two and the mirror)."""
    return (0, *((MIRROR,) if mirror else ()), *range(FIRST_CROP, FIRST_CROP + crops))


def augmented_views(n: int) -> tuple[int, ...]:
    """Return the first ``n`` augmented training views in the order they are used: a near-native crop
    (odd view), then a whole image (even view), and so on (``11, 10, 13, 12, ...``)."""
    return tuple(FIRST_AUGMENTED + (k ^ 1) for k in range(n))


def native_side(size: int) -> int:
    """Return the longest side (pixels) an image is shrunk to before near-native crops of ``size``."""
    return int(round(NATIVE_AT_224 * size / 224))


def decode(path):
    """Return the image at ``path`` (a tf string) as ``(H, W, 3) float32`` RGB in [0, 255]."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.cast(image, tf.float32)


def whole(image_rgb, size: int):
    """Return the whole image squashed to ``size x size`` (area resampling), RGB float32 in [0, 255]."""
    image = tf.image.resize(image_rgb, (size, size), method="area", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def near_native(image_rgb, size: int, scale=1.0):
    """Return the image rescaled so its longer side is at most ``native_side(size) * scale`` (and its shorter
    side at least ``size``), RGB float32 in [0, 255]."""
    hw = tf.cast(tf.shape(image_rgb)[:2], tf.float32)
    factor = tf.minimum(1.0, native_side(size) * tf.cast(scale, tf.float32) / tf.reduce_max(hw))
    factor = tf.maximum(factor, size / tf.reduce_min(hw))
    target = tf.cast(tf.math.ceil(hw * factor), tf.int32)
    image = tf.image.resize(image_rgb, target, method="area", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def crop_at(image_rgb, size: int, fy, fx):
    """Return the ``size x size`` crop whose top-left corner is at fractions ``(fy, fx)`` of the free range."""
    free = tf.shape(image_rgb)[:2] - size
    y = tf.cast(tf.round(tf.cast(free[0], tf.float32) * fy), tf.int32)
    x = tf.cast(tf.round(tf.cast(free[1], tf.float32) * fx), tf.int32)
    return image_rgb[y:y + size, x:x + size, :]


def to_vgg(image_rgb):
    """Return VGG input (BGR minus mean, float32) from RGB float32 in [0, 255]."""
    return tf.reverse(image_rgb, axis=[-1]) - tf.constant(VGG_MEAN_BGR)


def clean_view(image_rgb, size: int, variant: int):
    """Return clean view ``variant`` (0, :data:`MIRROR` or a crop ``FIRST_CROP + k``) of a decoded image."""
    if variant == 0:
        return whole(image_rgb, size)
    if variant == MIRROR:
        return tf.reverse(whole(image_rgb, size), axis=[1])
    fy, fx = CROP_POSITIONS[variant - FIRST_CROP]
    return tf.ensure_shape(crop_at(near_native(image_rgb, size), size, fy, fx), (size, size, 3))


def augmented_view(image_rgb, size: int, variant: int, seed, augment: Augment = Augment()):
    """Return training view ``variant`` (>= FIRST_AUGMENTED) of a decoded image, deterministic for ``seed`` (2,):
    the whole image (even views) or a crop at a random position and scale (odd views), then :func:`jitter`."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    if (variant - FIRST_AUGMENTED) % 2 == 0:
        image = whole(image_rgb, size)
    else:
        u = tf.random.stateless_uniform((3,), seed=seeds[0])
        scale = augment.min_scale + (1 - augment.min_scale) * u[0]
        image = tf.ensure_shape(crop_at(near_native(image_rgb, size, scale), size, u[1], u[2]), (size, size, 3))
    if augment.flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return jitter(image, seeds[2], augment)


def jitter(image_rgb, seed, augment: Augment):
    """Return ``image_rgb`` ((S, S, 3) float32 in [0, 255]) with the colour, contrast and compression shortcuts
    randomised: grayscale, hue, saturation, contrast, brightness, JPEG re-compression (each its own seed)."""
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=7)
    image = image_rgb / 255.0
    if augment.hue:
        image = tf.image.stateless_random_hue(image, augment.hue, seed=s[0])
    if augment.saturation:
        image = tf.image.stateless_random_saturation(image, max(0.0, 1 - augment.saturation),
                                                     1 + augment.saturation, seed=s[1])
    if augment.contrast:
        image = tf.image.stateless_random_contrast(image, 1 - augment.contrast, 1 + augment.contrast, seed=s[2])
    if augment.brightness:
        image = tf.image.stateless_random_brightness(image, augment.brightness, seed=s[3])
    image = tf.clip_by_value(image, 0.0, 1.0)
    gray = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))
    image = tf.where(tf.random.stateless_uniform((), seed=s[4]) < augment.grayscale, gray, image)
    if augment.jpeg:
        lo, hi = augment.jpeg_quality
        recompressed = tf.image.stateless_random_jpeg_quality(image, lo, hi, seed=s[5])
        image = tf.where(tf.random.stateless_uniform((), seed=s[6]) < augment.jpeg, recompressed, image)
    return tf.clip_by_value(image, 0.0, 1.0) * 255.0


def image_dataset(paths: Sequence[str], size: int, batch_size: int, variant: int = 0, seed: int = 0,
                  labels: Sequence[int] | None = None, augment: Augment = Augment(), ids: Sequence[int] | None = None):
    """Return a batched, prefetched ``tf.data.Dataset`` of VGG inputs ``(B, size, size, 3)`` (with labels if given).

    ``variant`` is a view of the module docstring; augmented views are seeded by ``(seed, variant, id)``, ``ids``
    defaulting to the positions ``0..n-1`` (pass the rows' table indices so that a subset gets the same views).
    Order is kept.
    """
    if size < 32:
        raise ValueError(f"image size {size} is below VGG16's minimum of 32")
    if FIRST_CROP + len(CROP_POSITIONS) <= variant < FIRST_AUGMENTED or variant < 0:
        raise ValueError(f"view {variant} is not defined")
    ids = np.arange(len(paths)) if ids is None else np.asarray(ids)
    if len(ids) != len(paths):
        raise ValueError(f"{len(ids)} ids for {len(paths)} paths")
    index = tf.data.Dataset.from_tensor_slices(tf.constant(ids, dtype=tf.int64))
    files = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), dtype=tf.string))

    def load(i, path):
        image = decode(path)
        if variant < FIRST_AUGMENTED:
            return to_vgg(clean_view(image, size, variant))
        seed_pair = tf.stack([tf.constant(seed * 1000 + variant, tf.int64), i])
        return to_vgg(augmented_view(image, size, variant, seed_pair, augment))

    ds = tf.data.Dataset.zip(index, files).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if labels is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(np.asarray(labels, np.float32)))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def training_image_dataset(paths: Sequence[str], labels: Sequence[int], size: int, batch_size: int, seed: int,
                           augment: Augment = Augment()):
    """Return an endless shuffled dataset of augmented ``(image, label)`` batches (the uncached training path).

    Each element draws a fresh augmented view (whole or crop alternately; stateless seed from a running counter),
    so repeated epochs see new views while a run with the same ``seed`` sees the same sequence.
    """
    n = len(paths)
    items = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(paths), dtype=tf.string), tf.constant(np.asarray(labels, np.float32)))
    )
    items = items.repeat().shuffle(max(1, n), seed=seed, reshuffle_each_iteration=True)
    counter = tf.data.Dataset.counter()

    def load(k, item):
        path, label = item
        image = decode(path)
        seed_pair = tf.stack([tf.constant(seed, tf.int64), k])
        whole_view = augmented_view(image, size, FIRST_AUGMENTED, seed_pair, augment)
        crop_view = augmented_view(image, size, FIRST_AUGMENTED + 1, seed_pair, augment)
        return to_vgg(tf.where(k % 2 == 0, whole_view, crop_view)), label

    ds = tf.data.Dataset.zip(counter, items).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
