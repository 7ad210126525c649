"""The image transformation network of Johnson et al. (2016), with a width multiplier and a slim CPU variant.

Contract of :class:`StyleNet`:
- input: ``(B, H, W, 3) float32`` BGR in ``[0, 255]`` (an OpenCV frame cast to float), any ``H, W >= 8``;
- output: ``(B, H, W, 3) float32`` BGR in ``[0, 255]`` (same size), so that subtracting
  :data:`transfer.backbone.VGG_MEAN_BGR` gives VGG input, and rounding gives an OpenCV frame.

Sizes that are not a multiple of the network's stride (4, times ``internal_scale``) are reflect-padded on the
bottom/right and cropped back, so every size works and divisible sizes see no padding at all.

Architecture: k×k conv → two stride-2 3×3 convs → residual blocks → two (nearest ×2 upsample + 3×3 conv)
"resize-convolutions" (no transposed convolution, hence no checkerboard) → k×k conv → ``255 * sigmoid``
(with ``input_skip``, the sigmoid's argument also gets the input's logit; see :class:`NetworkSpec`).
Every conv but the last is followed by instance normalisation and ReLU. The slim variant adds two things
for CPUs: depthwise-separable residual blocks and an ``internal_scale`` of 2 — the network runs on a
2×2 average-pooled frame and its output is bilinearly upsampled, which divides the work by about 4 — and
the input skip, which keeps the full-resolution detail the half-resolution core cannot produce.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

import keras
import tensorflow as tf

from foundation.atomic import atomic_write
from foundation.errors import UserError

PACKAGE = "paintvid_fast"
#: Input values are clamped to [eps, 1 - eps] before the logit of the input skip (keeps it finite at 0 and 255).
LOGIT_EPS = 0.5 / 255.0


class Preset(StrEnum):
    """Named network shapes."""

    JOHNSON = "johnson"
    SLIM = "slim"


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a :class:`StyleNet`.

    Attributes:
        channels: channels at full, 1/2 and 1/4 of the (internal) resolution, before the width multiplier.
        residual_blocks: number of residual blocks at 1/4 resolution.
        separable: depthwise-separable 3×3 convolutions inside the residual blocks.
        internal_scale: 1 (Johnson) or 2: run on a half-size frame, upsample the output bilinearly.
        edge_kernel: kernel size of the first and last convolution (9 in Johnson et al.).
        width: width multiplier applied to ``channels`` (rounded, at least 4).
        input_skip: add the network's result to the input in logit space,
            ``out = 255 * sigmoid(logit(x / 255) + z)``, with ``z`` upsampled from the internal resolution: the
            input's fine detail survives the half-resolution core, and a zero ``z`` is the identity (the last
            convolution starts at zero), so training starts from the content instead of from noise.
    """

    channels: tuple[int, int, int] = (32, 64, 128)
    residual_blocks: int = 5
    separable: bool = False
    internal_scale: int = 1
    edge_kernel: int = 9
    width: float = 1.0
    input_skip: bool = False

    def __post_init__(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be three positive ints, got {self.channels}")
        if self.internal_scale not in (1, 2, 4):
            raise ValueError(f"internal_scale must be 1, 2 or 4, got {self.internal_scale}")
        if self.edge_kernel % 2 != 1 or self.residual_blocks < 0 or self.width <= 0:
            raise ValueError(f"bad network spec {self}")

    @property
    def scaled_channels(self) -> tuple[int, int, int]:
        """Return ``channels`` times ``width``, rounded, at least 4 each."""
        return tuple(max(4, round(c * self.width)) for c in self.channels)  # type: ignore[return-value]

    @property
    def stride(self) -> int:
        """Return the size multiple the core network needs (the input is padded up to it)."""
        return 4 * self.internal_scale

    @classmethod
    def preset(cls, name: Preset | str, width: float = 1.0) -> NetworkSpec:
        """Return the spec of a named preset with a width multiplier."""
        base = {
            Preset.JOHNSON: cls(),
            Preset.SLIM: cls(channels=(16, 32, 64), residual_blocks=5, separable=True, internal_scale=2, edge_kernel=5,
                            input_skip=True),
        }[Preset(name)]
        return replace(base, width=width)


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceNorm(keras.layers.Layer):
    """Instance normalisation over H, W per sample and channel, with a learnt scale and shift.

    Statistics are computed in float32 even under a bfloat16 policy (bfloat16 has 8 bits of mantissa).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        x32 = tf.cast(x, tf.float32)
        mean, var = tf.nn.moments(x32, axes=[1, 2], keepdims=True)
        scale = tf.math.rsqrt(var + self.epsilon) * tf.cast(self.gamma, tf.float32)
        shift = tf.cast(self.beta, tf.float32) - mean * scale
        # one fused multiply-add on the activations in their own dtype
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StyleNet(keras.Model):
    """Feed-forward stylisation network; see the module docstring for the input/output contract.

    Args:
        spec: a :class:`NetworkSpec` or its ``asdict`` (how it is stored in a ``.keras`` file).
        dtype: Keras dtype policy, ``"float32"`` or ``"mixed_bfloat16"`` (variables stay float32).
    """

    def __init__(self, spec: NetworkSpec | dict | None = None, **kwargs):
        # the input stays float32 [0, 255]; the cast to the compute dtype happens after rescaling
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if spec is None:
            spec = NetworkSpec()
        if isinstance(spec, dict):
            spec = NetworkSpec(**{**spec, "channels": tuple(spec["channels"])})
        self.spec = spec
        c1, c2, c3 = spec.scaled_channels
        k = spec.edge_kernel
        policy = self.dtype_policy

        def conv(filters, kernel, stride=1, name=None):
            return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", dtype=policy, name=name)

        def norm(name):
            return InstanceNorm(dtype=policy, name=name)

        self.down = [
            (conv(c1, k, name="conv_in"), norm("norm_in")),
            (conv(c2, 3, 2, name="down1"), norm("norm_down1")),
            (conv(c3, 3, 2, name="down2"), norm("norm_down2")),
        ]
        self.blocks = []
        for i in range(spec.residual_blocks):
            if spec.separable:
                a = keras.layers.SeparableConv2D(c3, 3, padding="same", dtype=policy, name=f"res{i}_a")
                b = keras.layers.SeparableConv2D(c3, 3, padding="same", dtype=policy, name=f"res{i}_b")
            else:
                a, b = conv(c3, 3, name=f"res{i}_a"), conv(c3, 3, name=f"res{i}_b")
            self.blocks.append((a, norm(f"res{i}_norm_a"), b, norm(f"res{i}_norm_b")))
        self.up = [
            (conv(c2, 3, name="up1"), norm("norm_up1")),
            (conv(c1, 3, name="up2"), norm("norm_up2")),
        ]
        self.conv_out = keras.layers.Conv2D(3, k, padding="same", dtype=policy, name="conv_out",
                                            kernel_initializer="zeros" if spec.input_skip else "glorot_uniform")

    def features(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Return (output, bottleneck features) for a ``(B, H, W, 3)`` float32 BGR [0, 255] batch.

        Output as in :meth:`call`; features are the ``(B, h, w, C)`` float32 activations after the residual
        blocks, on the padded, downscaled grid (h = ceil(H / stride) * stride / 4 / internal_scale).
        """
        x = tf.cast(x, tf.float32)
        shape = tf.shape(x)
        h, w = shape[1], shape[2]
        s = self.spec.stride
        pad_h, pad_w = (-h) % s, (-w) % s
        y = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        if self.spec.internal_scale > 1:
            r = self.spec.internal_scale
            y = tf.nn.avg_pool2d(y, r, r, "VALID")
        y = tf.cast(y / 127.5 - 1.0, self.compute_dtype)
        for c, n in self.down:
            y = tf.nn.relu(n(c(y)))
        for a, na, b, nb in self.blocks:
            y = y + nb(b(tf.nn.relu(na(a(y)))))
        feats = y
        for c, n in self.up:
            size = tf.shape(y)[1:3] * 2
            y = tf.image.resize(y, size, method="nearest")
            y = tf.nn.relu(n(c(y)))
        y = tf.cast(self.conv_out(y), tf.float32)
        if self.spec.internal_scale > 1:
            y = tf.image.resize(y, (h + pad_h, w + pad_w), method="bilinear")
        y = y[:, :h, :w, :]
        if self.spec.input_skip:
            p = tf.clip_by_value(x / 255.0, LOGIT_EPS, 1.0 - LOGIT_EPS)
            y = y + tf.math.log(p / (1.0 - p))
        return 255.0 * tf.sigmoid(y), tf.cast(feats, tf.float32)

    def call(self, x):
        """Return the stylised ``(B, H, W, 3) float32`` BGR in [0, 255] of a same-shaped input."""
        return self.features(x)[0]

    def get_config(self):
        return {"spec": asdict(self.spec), "name": self.name}

    def build(self, input_shape=None):
        if not self.built:
            self.features(tf.zeros((1, 4 * self.spec.stride, 4 * self.spec.stride, 3), tf.float32))
            self.built = True


def policy_for(precision: str) -> str:
    """Return the Keras dtype policy for ``float32`` / ``bfloat16`` (bfloat16 compute, float32 variables)."""
    return {"float32": "float32", "bfloat16": "mixed_bfloat16"}[str(precision)]


def build_network(spec: NetworkSpec, precision: str = "float32", seed: int | None = None) -> StyleNet:
    """Return a built :class:`StyleNet` for ``spec`` computing in ``precision`` (float32 or bfloat16)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    net = StyleNet(spec, dtype=policy_for(precision))
    net.build()
    return net


def with_precision(net: StyleNet, precision: str) -> StyleNet:
    """Return ``net`` itself if it already computes in ``precision``, else a copy with the same weights."""
    if net.dtype_policy.name == policy_for(precision):
        return net
    copy = build_network(net.spec, precision)
    copy.set_weights(net.get_weights())
    return copy


def save_network(net: StyleNet, path: str | Path) -> Path:
    """Save ``net`` as a self-contained ``.keras`` file atomically; returns ``path``."""
    path = Path(path)
    if path.suffix != ".keras":
        raise UserError(f"{path}: model files must end in .keras")
    return atomic_write(path, lambda tmp: net.save(tmp))


def load_network(path: str | Path, precision: str = "float32") -> StyleNet:
    """Load a ``.keras`` file written by :func:`save_network`, computing in ``precision``.

    Raises:
        UserError: missing file, or not a fast-mode style model.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file (train one with `paintvid train-style`)")
    try:
        net = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one line
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot load fast style model ({text})") from None
    if not isinstance(net, StyleNet):
        raise UserError(f"{path}: not a fast-mode style model (got {type(net).__name__})")
    return with_precision(net, precision)
