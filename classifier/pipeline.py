"""``tf.data`` input pipelines: decode, resize, augment, VGG-preprocess, batch, prefetch.

Every element leaving a pipeline is ``(S, S, 3) float32`` VGG-preprocessed BGR (BGR in [0, 255] minus
``VGG_MEAN_BGR``), the input contract of :mod:`transfer.backbone`. Augmentation uses stateless random ops
seeded by ``(seed, variant, index)``, so variant ``k`` of image ``i`` is the same crop and jitter in every run:
that is what lets :mod:`classifier.cache` store blocks 1-4 once per variant.

Views: ``0`` is the whole image squashed to ``S x S`` (no crop: cropping a larger resize measured worse, and
texture statistics want the whole picture), ``1`` (:data:`MIRROR`) is view 0 mirrored left-right (training
data and the test-time augmentation of :func:`classifier.model.build_classifier`), ``2..`` are random crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from transfer.backbone import VGG_MEAN_BGR

#: Images are resized to ``size * ZOOM`` before random crops of ``size`` (augmented views), so a crop keeps
#: most of the picture.
ZOOM = 8 / 7
#: The view index of the mirrored whole image.
MIRROR = 1
#: The first view index of random augmented crops.
FIRST_AUGMENTED = 2


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths: random crop (always), horizontal flip, small colour jitter."""

    flip: bool = True
    brightness: float = 0.08
    contrast: float = 0.12
    saturation: float = 0.12


def decode_resized(path, size: int, zoom: float = ZOOM):
    """Return ``(round(size*zoom),)*2 float32`` RGB in [0, 255] decoded from the file at ``path`` (a tf string)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    big = int(round(size * zoom))
    image = tf.image.resize(tf.cast(image, tf.float32), (big, big), method="area", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def to_vgg(image_rgb):
    """Return VGG input (BGR minus mean, float32) from RGB float32 in [0, 255]."""
    return tf.reverse(image_rgb, axis=[-1]) - tf.constant(VGG_MEAN_BGR)


def augmented_view(image_rgb, size: int, seed, augment: Augment = Augment()):
    """Return a random ``size x size`` crop with flip and colour jitter, deterministic for a given ``seed`` (2,)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    image = tf.image.stateless_random_crop(image_rgb, (size, size, 3), seed=seeds[0])
    if augment.flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    image = image / 255.0
    if augment.brightness:
        image = tf.image.stateless_random_brightness(image, augment.brightness, seed=seeds[2])
    if augment.contrast:
        image = tf.image.stateless_random_contrast(image, 1 - augment.contrast, 1 + augment.contrast, seed=seeds[3])
    if augment.saturation:
        image = tf.image.stateless_random_saturation(image, 1 - augment.saturation, 1 + augment.saturation,
                                                     seed=seeds[4])
    return tf.clip_by_value(image, 0.0, 1.0) * 255.0


def image_dataset(paths: Sequence[str], size: int, batch_size: int, variant: int = 0, seed: int = 0,
                  labels: Sequence[int] | None = None, augment: Augment = Augment(), ids: Sequence[int] | None = None):
    """Return a batched, prefetched ``tf.data.Dataset`` of VGG inputs ``(B, size, size, 3)`` (with labels if given).

    ``variant == 0`` is the whole image squashed to ``size`` (validation, test, prediction), ``variant == 1``
    its mirror image; ``variant >= 2`` is a random augmented crop of each image (seeded by ``(seed, variant,
    id)``, ``ids`` defaulting to the positions ``0..n-1``; pass the rows' table indices so that a subset gets
    the same views). Order is kept.
    """
    if size < 32:
        raise ValueError(f"image size {size} is below VGG16's minimum of 32")
    ids = np.arange(len(paths)) if ids is None else np.asarray(ids)
    if len(ids) != len(paths):
        raise ValueError(f"{len(ids)} ids for {len(paths)} paths")
    index = tf.data.Dataset.from_tensor_slices(tf.constant(ids, dtype=tf.int64))
    files = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), dtype=tf.string))

    def load(i, path):
        if variant < FIRST_AUGMENTED:
            view = decode_resized(path, size, zoom=1.0)
            if variant == MIRROR:
                view = tf.reverse(view, axis=[1])
        else:
            image = decode_resized(path, size)
            view = augmented_view(image, size, tf.stack([tf.constant(seed * 1000 + variant, tf.int64), i]),
                                  augment)
        return to_vgg(view)

    ds = tf.data.Dataset.zip(index, files).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if labels is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(np.asarray(labels, np.float32)))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def training_image_dataset(paths: Sequence[str], labels: Sequence[int], size: int, batch_size: int, seed: int,
                           augment: Augment = Augment()):
    """Return an endless shuffled dataset of augmented ``(image, label)`` batches (the uncached training path).

    Each element draws a fresh augmentation (stateless seed from a running counter), so repeated epochs
    see new crops while a run with the same ``seed`` sees the same sequence.
    """
    n = len(paths)
    items = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(paths), dtype=tf.string), tf.constant(np.asarray(labels, np.float32)))
    )
    items = items.repeat().shuffle(max(1, n), seed=seed, reshuffle_each_iteration=True)
    counter = tf.data.Dataset.counter()

    def load(k, item):
        path, label = item
        image = decode_resized(path, size)
        view = augmented_view(image, size, tf.stack([tf.constant(seed, tf.int64), k]), augment)
        return to_vgg(view), label

    ds = tf.data.Dataset.zip(counter, items).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
