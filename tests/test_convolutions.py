"""The float32 VGG pass's two convolution kernels give the same features and image gradient; AVX2 picks the fast one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from foundation import cpu
from tests.conftest import REPO
from transfer.features import CONTENT_LAYER, STYLE_LAYERS, Convolutions, FeatureExtractor

LAYERS = (CONTENT_LAYER, *STYLE_LAYERS)


def _features_and_gradient(extractor: FeatureExtractor, x: tf.Tensor):
    with tf.GradientTape() as tape:
        tape.watch(x)
        feats = extractor(x)
        total = tf.add_n([tf.reduce_sum(tf.square(v)) / tf.cast(tf.size(v), tf.float32) for v in feats.values()])
    return feats, tape.gradient(total, x)


def test_backward_data_matches_keras_features_and_gradient(bundled_backbone):
    # odd sizes: the pools floor as Keras' do; a batch of 2: the output shape follows the input's
    x = tf.constant(np.random.default_rng(0).normal(0, 50, (2, 35, 46, 3)).astype(np.float32))
    keras_feats, keras_grad = _features_and_gradient(FeatureExtractor(bundled_backbone, LAYERS, "float32", "keras"), x)
    extractor = FeatureExtractor(bundled_backbone, LAYERS, "float32", "backward-data")
    feats, grad = _features_and_gradient(extractor, x)
    assert extractor.convolutions is Convolutions.BACKWARD_DATA
    for name in LAYERS:
        assert feats[name].shape == keras_feats[name].shape
        scale = float(tf.reduce_max(tf.abs(keras_feats[name])))
        assert float(tf.reduce_max(tf.abs(feats[name] - keras_feats[name]))) <= 1e-5 * scale
    assert float(tf.reduce_max(tf.abs(grad - keras_grad))) <= 1e-5 * float(tf.reduce_max(tf.abs(keras_grad)))
    assert float(tf.reduce_max(tf.abs(keras_grad))) > 0


def test_bfloat16_always_takes_keras_layers(bundled_backbone):
    extractor = FeatureExtractor(bundled_backbone, ("block1_conv1",), "bfloat16", "backward-data")
    assert extractor.convolutions is Convolutions.KERAS


@pytest.mark.parametrize(("cap", "expected"), [("AVX2", "backward-data"), ("SSE41", "keras")])
def test_default_follows_onednn_cap(cap, expected):
    code = "from transfer.features import default_convolutions; print(default_convolutions().value)"
    env = {"PATH": "/usr/bin:/bin", cpu.ISA_CAP: cap}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=str(REPO)).stdout.strip()
    assert out == expected
