"""The distilled any-painting student: a slim feed-forward network conditioned on Magenta's 100-number style vector.

Contract of :class:`StudentNet` (``net(frames, vector)``):
- ``frames``: ``(B, H, W, 3) float32`` BGR in ``[0, 255]``, any ``H, W >= 8`` (sizes that are not a multiple of
  :attr:`StudentSpec.stride` are reflect-padded on the bottom/right and cropped back);
- ``vector``: ``(B, 100) float32``, the style vector of the teacher's style-prediction network
  (:meth:`transfer.arbitrary.magenta.MagentaPainter.style_vector`), one row per frame;
- output: ``(B, H, W, 3) float32`` BGR in ``[0, 255]``.

Architecture: fast mode's slim network (:mod:`transfer.fast.network`) with every instance norm made
*conditional* (Dumoulin et al. 2017; Ghiasi et al. 2017): its scale and shift come from one dense layer on the style
vector, so one network paints any painting. The core runs on a 2x2 average-pooled frame (``internal_scale``),
k x k conv -> two stride-2 convs -> depthwise-separable residual blocks -> two (nearest x2 + 3x3 conv); a small
full-resolution head (the core's features upsampled bilinearly, concatenated with the frame, two 3x3 convs) draws
the marks at the frame's own resolution, and its result is added to the input's logit (``255 * sigmoid(logit(x) +
z)``): the full-resolution skip, so a zero ``z`` is the identity and training starts from the content.

The weights file (``.npz``) holds the arrays and a JSON header (:mod:`transfer.arbitrary.student_file`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from foundation.atomic import atomic_write
from foundation.errors import UserError
from transfer.arbitrary.magenta import STYLE_DIM
from transfer.arbitrary.student_file import FORMAT, read_student_header

#: Input values are clamped to [eps, 1 - eps] before the logit of the input skip (keeps it finite at 0 and 255).
LOGIT_EPS = 0.5 / 255.0


@dataclass(frozen=True)
class StudentSpec:
    """Shape of a :class:`StudentNet`.

    Attributes:
        channels: channels at 1, 1/2 and 1/4 of the internal resolution.
        residual_blocks: depthwise-separable residual blocks at 1/4 of the internal resolution.
        internal_scale: the core runs on a frame ``internal_scale`` times smaller (1 or 2).
        edge_kernel: kernel of the first convolution (odd).
        head_channels: channels of the full-resolution head (0: the core's output is upsampled alone).
    """

    channels: tuple[int, int, int] = (16, 32, 64)
    residual_blocks: int = 4
    internal_scale: int = 2
    edge_kernel: int = 5
    head_channels: int = 8

    def __post_init__(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be three positive ints, got {self.channels}")
        if self.internal_scale not in (1, 2) or self.edge_kernel % 2 != 1 or self.residual_blocks < 0:
            raise ValueError(f"bad student spec {self}")
        if self.head_channels < 0:
            raise ValueError(f"head_channels must be >= 0, got {self.head_channels}")

    @property
    def stride(self) -> int:
        """Return the size multiple the core needs (the input is padded up to it)."""
        return 4 * self.internal_scale

    @classmethod
    def tiny(cls) -> StudentSpec:
        """Return a very small spec for tests (seconds of training)."""
        return cls(channels=(8, 8, 16), residual_blocks=1, edge_kernel=3, head_channels=4)


class CondNorm(keras.layers.Layer):
    """Conditional instance normalisation: per sample and channel over H, W, then ``gamma * x + beta`` with
    ``(gamma, beta)`` given per sample ``(B, C)`` each (float32 statistics under a bfloat16 policy)."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x, gamma, beta):
        x32 = tf.cast(x, tf.float32)
        mean, var = tf.nn.moments(x32, axes=[1, 2], keepdims=True)
        scale = tf.math.rsqrt(var + self.epsilon) * gamma[:, None, None, :]
        shift = beta[:, None, None, :] - mean * scale
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)


class StudentNet(keras.Model):
    """The student; see the module docstring for the contract. ``dtype``: ``float32`` or ``mixed_bfloat16``."""

    def __init__(self, spec: StudentSpec = StudentSpec(), **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.spec = spec
        c1, c2, c3 = spec.channels
        policy = self.dtype_policy

        def conv(filters, kernel, stride=1, name=None, **extra):
            return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", dtype=policy, name=name,
                                       **extra)

        self.down = [conv(c1, spec.edge_kernel, name="conv_in"), conv(c2, 3, 2, name="down1"),
                     conv(c3, 3, 2, name="down2")]
        self.blocks = [(keras.layers.SeparableConv2D(c3, 3, padding="same", dtype=policy, name=f"res{i}_a"),
                        keras.layers.SeparableConv2D(c3, 3, padding="same", dtype=policy, name=f"res{i}_b"))
                       for i in range(spec.residual_blocks)]
        self.up = [conv(c2, 3, name="up1"), conv(c1, 3, name="up2")]
        self.norm_channels = [c1, c2, c3] + [c3] * (2 * spec.residual_blocks) + [c2, c1]
        self.norm = CondNorm(dtype=policy, autocast=False, name="cond_norm")
        self.film = keras.layers.Dense(2 * sum(self.norm_channels), dtype="float32", name="film",
                                       kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        zeros = {"kernel_initializer": "zeros"}
        if spec.head_channels:
            self.head = conv(spec.head_channels, 3, name="head")
            self.conv_out = conv(3, 3, name="conv_out", **zeros)
        else:
            self.head = None
            self.conv_out = conv(3, 3, name="conv_out", **zeros)

    def _norm_params(self, vector: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """Return one ``(gamma (B, C), beta (B, C))`` per norm, from the style vector."""
        raw = self.film(tf.cast(vector, tf.float32))
        parts = tf.split(raw, [c for c in self.norm_channels for _ in (0, 1)], axis=-1)
        return [(1.0 + parts[2 * i], parts[2 * i + 1]) for i in range(len(self.norm_channels))]

    def _core(self, y: tf.Tensor, params: list) -> tf.Tensor:
        """Return the core's features ``(B, h, w, c1)`` at the internal resolution of a [-1, 1] input."""
        it = iter(params)
        for c in self.down:
            y = tf.nn.relu(self.norm(c(y), *next(it)))
        for a, b in self.blocks:
            inner = tf.nn.relu(self.norm(a(y), *next(it)))
            y = y + self.norm(b(inner), *next(it))
        for c in self.up:
            y = tf.image.resize(y, tf.shape(y)[1:3] * 2, method="nearest")
            y = tf.nn.relu(self.norm(c(y), *next(it)))
        return y

    def call(self, frames, vector):
        """Return the painted ``(B, H, W, 3) float32`` BGR in [0, 255] of ``frames`` with ``vector`` (B, 100)."""
        x = tf.cast(frames, tf.float32)
        shape = tf.shape(x)
        h, w = shape[1], shape[2]
        s = self.spec.stride
        pad_h, pad_w = (-h) % s, (-w) % s
        padded = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        unit = padded / 127.5 - 1.0
        r = self.spec.internal_scale
        small = tf.nn.avg_pool2d(unit, r, r, "VALID") if r > 1 else unit
        y = self._core(tf.cast(small, self.compute_dtype), self._norm_params(vector))
        if self.head is not None:
            if r > 1:
                y = tf.image.resize(y, (h + pad_h, w + pad_w), method="bilinear")
            y = tf.concat([tf.cast(y, self.compute_dtype), tf.cast(unit, self.compute_dtype)], axis=-1)
            y = tf.nn.relu(self.head(y))
            z = tf.cast(self.conv_out(y), tf.float32)
        else:
            z = tf.cast(self.conv_out(y), tf.float32)
            if r > 1:
                z = tf.image.resize(z, (h + pad_h, w + pad_w), method="bilinear")
        z = z[:, :h, :w, :]
        p = tf.clip_by_value(x / 255.0, LOGIT_EPS, 1.0 - LOGIT_EPS)
        return 255.0 * tf.sigmoid(z + tf.math.log(p / (1.0 - p)))

    def build_now(self) -> StudentNet:
        """Create every weight with one small call; returns ``self``."""
        side = 2 * self.spec.stride
        self(tf.zeros((1, side, side, 3), tf.float32), tf.zeros((1, STYLE_DIM), tf.float32))
        return self


def policy_for(precision: str) -> str:
    """Return the Keras dtype policy for ``float32`` / ``bfloat16`` (bfloat16 compute, float32 variables)."""
    try:
        return {"float32": "float32", "bfloat16": "mixed_bfloat16"}[str(precision)]
    except KeyError:
        raise UserError(f"precision must be float32 or bfloat16, got {precision}") from None


def build_student(spec: StudentSpec = StudentSpec(), precision: str = "float32", seed: int | None = None
                  ) -> StudentNet:
    """Return a built :class:`StudentNet` computing in ``precision``; ``seed`` fixes its initial weights."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return StudentNet(spec, dtype=policy_for(precision)).build_now()


def save_student(net: StudentNet, path: str | Path, meta: dict | None = None) -> Path:
    """Write the weights, the spec and ``meta`` to one ``.npz`` atomically (float32); returns ``path``."""
    path = Path(path)
    if path.suffix != ".npz":
        raise UserError(f"{path}: student weights are saved as a .npz file")
    arrays = {f"w{i:03d}": np.asarray(v, np.float32) for i, v in enumerate(net.get_weights())}
    header = {"format": FORMAT, "spec": asdict(net.spec), "meta": meta or {}}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return atomic_write(path, write)


def load_student(path: str | Path, precision: str = "float32") -> StudentNet:
    """Load a file written by :func:`save_student`, computing in ``precision`` (float32 or bfloat16).

    Raises:
        UserError: see :func:`read_student_header`; also a spec or arrays that do not fit a student.
    """
    header = read_student_header(path)
    raw = header.get("spec") or {}
    try:
        spec = StudentSpec(**{**raw, "channels": tuple(raw["channels"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged student weights file (bad network spec: {exc})") from None
    net = build_student(spec, precision)
    with np.load(path) as data:
        arrays = [data[k] for k in sorted(k for k in data.files if k.startswith("w"))]
    try:
        net.set_weights(arrays)
    except ValueError as exc:
        raise UserError(f"{path}: weights do not fit the network they describe ({exc})") from None
    net.meta = header.get("meta", {})
    return net


def paint_batch(net: StudentNet, frames: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return ``frames`` ((B, H, W, 3) uint8 BGR, H, W >= 8) painted with one ``vector`` ((100,) or (B, 100)
    float32) as (B, H, W, 3) uint8 BGR.

    Raises:
        ValueError: frames or vector of the wrong shape.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[1:3]) < 8:
        raise ValueError(f"frames must be (B, H, W, 3) with H, W >= 8, got {frames.shape}")
    vector = np.asarray(vector, np.float32)
    if vector.shape[-1] != STYLE_DIM or vector.ndim not in (1, 2):
        raise ValueError(f"style vector must be ({STYLE_DIM},) or (B, {STYLE_DIM}), got {vector.shape}")
    vectors = np.broadcast_to(vector.reshape(-1, STYLE_DIM), (len(frames), STYLE_DIM))
    out = _forward(net, tf.constant(frames.astype(np.float32)), tf.constant(vectors))
    return np.clip(np.rint(out.numpy()), 0, 255).astype(np.uint8)


@tf.function(reduce_retracing=True)
def _forward(net, frames, vectors):
    return net(frames, vectors)
