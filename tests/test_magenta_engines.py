"""The any-painting network's engines: the float graph (no activation rounding) and the same network in TensorFlow
paint the same frames within a grey level; the int8 graph differs from them by its rounding only; bad engine names
get one line."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest

from foundation.errors import UserError
from tests.conftest import stripes_image, textured_image
from transfer.arbitrary.magenta import (
    DEFAULT_ENGINE,
    TRANSFORM_FILE,
    Engine,
    check_engine,
    load_magenta,
    model_file,
    paint_frame,
)
from transfer.arbitrary.magenta_graph import dequantize, float_graph
from transfer.arbitrary.magenta_tf import load_network


@pytest.fixture(scope="module")
def released() -> onnx.ModelProto:
    return onnx.load(str(model_file(TRANSFORM_FILE)))


@pytest.fixture(scope="module")
def vector() -> np.ndarray:
    return load_magenta().style_vector(stripes_image(128, 128))


def test_float_graph_has_no_quantisation_and_changes_nothing_else(released):
    graph = float_graph(released)
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    before = collections.Counter(n.op_type for n in released.graph.node)
    assert ops["QuantizeLinear"] == 0 and ops["DequantizeLinear"] == 0
    # every other op is still there, as many times (the activation chains' shape ops included)
    assert {op: n for op, n in before.items() if op not in ("QuantizeLinear", "DequantizeLinear")} == dict(ops)
    assert all(i.data_type == onnx.TensorProto.FLOAT for i in graph.graph.initializer
               if i.name.endswith("_dequant"))
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:3]] == ["batch", "height", "width"]
    assert len(released.graph.node) == 740  # the input is left as it was


def test_dequantize_per_axis_and_per_tensor():
    x = np.array([[1, -2], [3, 4]], np.int8)
    np.testing.assert_allclose(dequantize(x, np.array([0.5, 2.0], np.float32), np.array([1, 0], np.int8), 0),
                               [[0.0, -1.5], [6.0, 8.0]])
    np.testing.assert_allclose(dequantize(x, np.array(0.25, np.float32), np.array(-2, np.int8)),
                               [[0.75, 0.0], [1.25, 1.5]])


def test_tensorflow_engine_paints_as_the_float_graph_within_a_grey_level(released, vector):
    frames = np.stack([textured_image(48, 64, seed=1), textured_image(48, 64, seed=2)])
    float_ort = load_magenta(engine="onnxruntime-float").paint(frames, vector).astype(int)
    tf32 = load_network(float_graph(released), "float32")(frames, vector)
    assert tf32.shape == frames.shape and tf32.dtype == np.uint8
    diff = np.abs(tf32 - float_ort)
    assert diff.max() <= 1 and diff.mean() < 0.05
    assert np.abs(tf32.astype(float) - frames).mean() > 10  # and it paints: far from the photo
    # the engine as load_magenta gives it (bfloat16 where that is native): within a grey level on average
    engine = load_magenta(engine="tensorflow")
    assert engine.engine is Engine.TENSORFLOW and engine.transform is None
    assert np.abs(engine.paint(frames, vector) - float_ort).mean() < 1.0


def test_int8_graph_differs_from_the_float_one_by_its_rounding(vector):
    frame = textured_image(48, 64, seed=3)
    int8 = paint_frame(load_magenta(), frame, vector, 1.0)
    floats = paint_frame(load_magenta(engine=Engine.ONNXRUNTIME_FLOAT), frame, vector, 1.0)
    diff = np.abs(int8.astype(float) - floats).mean()
    assert 0.5 < diff < 25  # close, but not the same graph


def test_engine_names(released):
    painter = load_magenta()
    assert painter.engine is DEFAULT_ENGINE is Engine.TENSORFLOW
    assert painter.precision in ("float32", "bfloat16")
    assert load_magenta(engine="onnxruntime").precision == "int8"
    assert check_engine("tensorflow") is Engine.TENSORFLOW
    with pytest.raises(UserError, match=r"unknown engine 'tflite'.*onnxruntime, onnxruntime-float, tensorflow"):
        check_engine("tflite")
    with pytest.raises(UserError, match="unknown engine"):
        load_magenta(engine="cuda")


def test_rearranged_convs_compute_the_graphs_sums(rng):
    import tensorflow as tf

    from transfer.arbitrary.magenta_tf import _upsample2, space_to_depth_kernel, subpixel_kernel

    x = tf.constant(rng.normal(size=(1, 8, 12, 3)), tf.float32)
    k9 = rng.normal(size=(9, 9, 3, 2)).astype(np.float32)
    padded = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]], "REFLECT")
    direct = tf.nn.conv2d(padded, k9, 1, "VALID")
    blocked = tf.nn.depth_to_space(tf.nn.conv2d(tf.nn.space_to_depth(padded, 4), space_to_depth_kernel(k9, 4), 1,
                                                "VALID"), 4)
    np.testing.assert_allclose(blocked.numpy(), direct.numpy(), atol=1e-4)
    k3 = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    up = tf.nn.conv2d(tf.pad(_upsample2(x), [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT"), k3, 1, "VALID")
    sub = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), subpixel_kernel(k3), 1, "VALID")
    np.testing.assert_allclose(tf.nn.depth_to_space(sub, 2).numpy(), up.numpy(), atol=1e-4)
