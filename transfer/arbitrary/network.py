"""The arbitrary-style network: the project's VGG16 as a frozen encoder, AdaIN, and a small trained decoder.

Contract of :meth:`ArbitraryNet.stylize`:
- input: ``(B, H, W, 3) float32`` BGR in ``[0, 255]`` (OpenCV frames cast to float), any ``H, W >= 1``, and a
  :class:`~transfer.arbitrary.statistics.StyleCode` of one painting (or a blend) from :meth:`ArbitraryNet.style_code`;
- output: ``(B, H, W, 3) float32`` BGR in ``[0, 255]``, the same size.

Two designs share the code (``ArbitrarySpec.transform``), both for a 2-core CPU (issue 14): the frame is 2×2
average-pooled (``internal_scale``), encoded by the frozen VGG16 prefix, its features given the painting's
statistics, decoded back to the internal size, bilinearly upsampled, and the frame's own high-frequency detail
(frame minus its pooled-and-upsampled self) added back with a learnt gain — the full-resolution skip that keeps
people legible at a half-resolution core.

- ``wct`` (the default): the frame's pixels get the painting's colour covariance, then the features of ``relu2_1``
  its feature covariance (whitening and colouring, Li et al. 2017); the decoder is trained to *reconstruct* a frame
  from its own features (and to be steady on stylised frame pairs), so it paints whatever statistics it is handed,
  including those of paintings it never saw. Style does not have to be learnt per painting: the transform carries it.
- ``adain`` (session 5's network, still loadable): ``relu3_1`` features get the painting's per-channel mean and
  deviation, and a FiLM-conditioned decoder trained with the Gram style loss paints a change of the colour-matched
  frame. On the bundled backbone that decoder learnt to switch itself off (see README, "What it learnt").

Sizes that are not a multiple of ``stride`` are reflect-padded on the bottom/right and cropped back.
The weights file (``.npz``) holds only the decoder, with its :class:`ArbitrarySpec` and a record of the backbone
it was trained on (``meta.weights``): the encoder is always that backbone, loaded by :mod:`transfer.backbone`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from foundation.atomic import atomic_write
from foundation.errors import UserError
from media.image_io import resize_to_width
from transfer.arbitrary.statistics import (
    StyleCode,
    adain,
    apply_wct,
    channel_stats,
    covariance_stats,
    mix,
    toward,
    wct,
    wct_matrix,
)
from transfer.arbitrary.weights_file import FORMAT, read_header
from transfer.backbone import BUNDLED, VGG_MEAN_BGR, load_backbone
from transfer.features import DEFAULT_PRECISION, FeatureExtractor, Precision


@dataclass(frozen=True)
class ArbitrarySpec:
    """Shape of the network.

    Attributes:
        transform: ``wct`` (covariances of pixels and encoder features, a reconstruction decoder) or ``adain``
            (per-channel statistics, a style-trained decoder); see the module docstring.
        encoder_layer: the VGG16 layer the transform works on (``block2_conv1``: stride 2, 128 channels).
        code_layers: shallower layers whose channel statistics join the style code (computed in the same encoder
            pass): they carry the painting's palette, which relu3_1 of the edge-leaning bundled backbone barely
            does (trained without them, every painting came out the same greyish pink).
        color_transfer: first give the frame the painting's per-channel colour mean and deviation (AdaIN on the
            pixels, the last three entries of every code), so the palette is right before the decoder learns anything.
        residual: the decoder paints a change of that colour-matched frame (``±127.5 * tanh``, starting at zero)
            instead of the whole picture: decoded from relu3_1 alone, colours came out pale and alike.
        internal_scale: the frame is average-pooled by this factor before encoding (1, 2 or 4).
        channels: decoder channels at 1/4, 1/2 and 1/1 of the internal size.
        film: condition the decoder on the style code (FiLM scale and shift after each hidden convolution).
        detail_gain: initial gain of the full-resolution detail skip (learnt; 0 switches the skip off for good).
        style_size: width a painting is resized to before its statistics are taken.
        feature_scale: encoder features (about 12 ± 18 at relu3_1 of the bundled backbone) are divided by it
            before the decoder, so its first convolution starts in a sane range.
    """

    transform: str = "wct"
    encoder_layer: str = "block2_conv1"
    code_layers: tuple[str, ...] = ()
    color_transfer: bool = True
    residual: bool = False
    internal_scale: int = 2
    channels: tuple[int, int, int] = (128, 64, 64)
    film: bool = False
    detail_gain: float = 1.0
    style_size: int = 256
    feature_scale: float = 20.0

    def __post_init__(self) -> None:
        if self.internal_scale not in (1, 2, 4):
            raise ValueError(f"internal_scale must be 1, 2 or 4, got {self.internal_scale}")
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be three positive ints, got {self.channels}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.encoder_layer not in _ENCODER_STRIDE:
            raise ValueError(f"encoder_layer must be one of {sorted(_ENCODER_STRIDE)}, got {self.encoder_layer}")

    @property
    def encoder_stride(self) -> int:
        """Return how many internal pixels one encoder feature spans."""
        return _ENCODER_STRIDE[self.encoder_layer]

    @property
    def stride(self) -> int:
        """Return the size multiple the core needs (inputs are padded up to it)."""
        return self.encoder_stride * self.internal_scale


#: The feature transforms (see the module docstring).
TRANSFORMS = ("wct", "adain")
#: The spec of weights files written before ``transform`` existed (session 5's AdaIN network).
LEGACY_SPEC = {"transform": "adain", "encoder_layer": "block3_conv1", "code_layers": ("block1_conv1",),
               "residual": True, "channels": (192, 96, 48), "film": True}


def design_spec(transform: str = "wct", **overrides) -> ArbitrarySpec:
    """Return the default spec of the ``wct`` design or of the legacy ``adain`` one, with ``overrides``."""
    return ArbitrarySpec(**{**(LEGACY_SPEC if transform == "adain" else {}), **overrides})


_ENCODER_STRIDE = {"block2_conv1": 2, "block3_conv1": 4, "block4_conv1": 8}


@keras.saving.register_keras_serializable(package="paintvid_arbitrary")
class Decoder(keras.Model):
    """``(t (B, h, w, C) float32 features, vector (B, 2K) float32) -> (B, h*s, w*s, 3) float32``: in (0, 255), or
    a change in (-127.5, 127.5) of the colour-matched frame with ``spec.residual``.

    ``s`` is the encoder stride; each of its ×2 steps is a nearest upsample and a 3×3 convolution (no transposed
    convolution, so no checkerboard), every hidden convolution followed by FiLM (when on) and ReLU.
    """

    def __init__(self, spec: ArbitrarySpec, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.spec = spec
        c1, c2, c3 = spec.channels
        policy = self.dtype_policy
        ups = {1: 0, 2: 1, 4: 2, 8: 3}[spec.encoder_stride]
        # (channels, upsample before this conv)
        plan = [(c1, False)] + [(c2 if i == 0 else c3, True) for i in range(ups)] + [(c3, False)]
        # each hidden layer is also an attribute of its own: tf.train.Checkpoint does not follow Keras' wrapped
        # lists, and a training resumed from a checkpoint restarted its hidden layers from scratch
        self.convs = [keras.layers.Conv2D(c, 3, padding="same", dtype=policy, name=f"conv{i}")
                      for i, (c, _) in enumerate(plan)]
        for i, conv in enumerate(self.convs):
            setattr(self, f"conv{i}", conv)
        self.upsample = tuple(up for _, up in plan)
        self.film = (keras.layers.Dense(2 * sum(c for c, _ in plan), kernel_initializer="zeros", dtype="float32",
                                        name="film") if spec.film else None)
        self.out = keras.layers.Conv2D(3, 3, padding="same", dtype=policy, name="conv_out",
                                       kernel_initializer="zeros" if spec.residual else "glorot_uniform")
        self.sizes = [c for c, _ in plan]

    def call(self, t, vector):
        """``vector`` is :meth:`StyleCode.vector` of the target statistics, in the encoder's units."""
        scale = self.spec.feature_scale
        n = tf.shape(vector)[1] // 2
        vector = tf.concat([vector[:, :n] / scale, vector[:, n:] - tf.math.log(scale)], axis=1)
        y = tf.cast(t / scale, self.compute_dtype)
        # FiLM's scale and shift are bounded by tanh: unbounded, a wide FiLM diverged under Adam; scaling its input
        # down instead (1/sqrt(n)) slowed it so much that the decoder never learnt to tell paintings apart
        film = self.film(vector) if self.film is not None else None
        offset = 0
        for conv, up, c in zip(self.convs, self.upsample, self.sizes, strict=True):
            if up:
                y = tf.image.resize(y, tf.shape(y)[1:3] * 2, method="nearest")
            y = conv(y)
            if film is not None:
                gamma = film[:, offset : offset + c][:, None, None, :]
                beta = film[:, offset + c : offset + 2 * c][:, None, None, :]
                offset += 2 * c
                y = y * tf.cast(1.0 + tf.tanh(gamma), y.dtype) + tf.cast(tf.tanh(beta), y.dtype)
            y = tf.nn.relu(y)
        # bounded, so one extreme painting cannot blow the Gram loss up (an unbounded head diverged at step ~110)
        z = tf.tanh(tf.cast(self.out(y), tf.float32))
        return 127.5 * z if self.spec.residual else 127.5 * (1.0 + z)


@dataclass
class ArbitraryNet:
    """Encoder (frozen VGG16 prefix), decoder and detail gain; see the module docstring for the contract.

    Build with :func:`build_arbitrary` or :func:`load_arbitrary`. ``meta`` records the backbone and recipe.
    """

    spec: ArbitrarySpec
    encoder: FeatureExtractor
    decoder: Decoder
    detail_gain: tf.Variable
    meta: dict = field(default_factory=dict)

    @property
    def trainable_variables(self) -> list[tf.Variable]:
        return [*self.decoder.trainable_variables, self.detail_gain]

    def encode(self, small: tf.Tensor) -> tf.Tensor:
        """Return encoder features ``(B, h/s, w/s, C) float32`` of an internal-size ``(B, h, w, 3)`` [0, 255] batch."""
        return self.encode_all(small)[0]

    def encode_all(self, small: tf.Tensor) -> tuple[tf.Tensor, StyleCode]:
        """Return (encoder features, the batch's own style code ``(B, 1, 1, C + code-layer channels + 3)``): the
        statistics of the encoder layer, of each code layer, and of the pixels (BGR, [0, 255]), in that order; with
        ``wct`` also the covariances of the encoder layer ``(B, C, C)`` and of the pixels ``(B, 3, 3)``."""
        small = tf.cast(small, tf.float32)
        feats = self.encoder(small - tf.constant(VGG_MEAN_BGR))
        layer = feats[self.spec.encoder_layer]
        stats = [channel_stats(feats[name]) for name in (self.spec.encoder_layer, *self.spec.code_layers)]
        stats.append(channel_stats(small))
        covs = {}
        if self.spec.transform == "wct":
            covs = {"feature_cov": covariance_stats(layer)[1], "pixel_cov": covariance_stats(small)[1]}
        return layer, StyleCode(tf.concat([c.mean for c in stats], axis=-1), tf.concat([c.std for c in stats], axis=-1),
                                **covs)

    def pool(self, images: tf.Tensor) -> tf.Tensor:
        """Return ``images`` average-pooled by ``internal_scale`` (sizes divisible by it)."""
        r = self.spec.internal_scale
        return images if r == 1 else tf.nn.avg_pool2d(images, r, r, "VALID")

    def style_code(self, painting: np.ndarray) -> StyleCode:
        """Return the ``(1, 1, 1, C)`` style code of one ``(H, W, 3) uint8`` BGR painting."""
        image = resize_to_width(painting, self.spec.style_size)
        s = self.spec.stride
        h, w = image.shape[0] - image.shape[0] % s, image.shape[1] - image.shape[1] % s
        if h < s or w < s:
            raise UserError(f"painting too small ({painting.shape[1]}x{painting.shape[0]}) to take its style")
        batch = tf.constant(image[None, :h, :w].astype(np.float32))
        return self.encode_all(self.pool(batch))[1]

    def mixed_code(self, paintings: list[np.ndarray], weights: list[float] | None = None) -> StyleCode:
        """Return the blend of several paintings' codes (equal weights unless given)."""
        codes = [self.style_code(p) for p in paintings]
        return mix(codes, weights if weights is not None else [1.0] * len(codes))

    def stylize(self, images: tf.Tensor, code: StyleCode, strength: float | tf.Tensor = 1.0) -> tf.Tensor:
        """Return the stylised batch (see the module docstring); ``strength`` 0 keeps each frame's own statistics."""
        return self.forward(images, code, strength)[0]

    def forward(self, images: tf.Tensor, code: StyleCode, strength: float | tf.Tensor = 1.0, clip: bool = True,
                recolour: bool = True):
        """Return ``(output (B, H, W, 3) float32 [0, 255], transformed target t (B, h, w, C) float32)``.

        ``code`` is ``(1, 1, 1, C)`` (broadcast) or ``(B, 1, 1, C)`` (one painting per sample). Training passes
        ``clip=False``: a clipped output has no gradient where it overshoots, and the decoder can get stuck there.
        With ``wct`` and ``recolour``, the decoded picture is given the colour covariance of the colour-matched
        frame once more (the decoder's own colour drift, about a tint, removed); training passes ``recolour=False``
        (no gradient through an eigen-decomposition).
        """
        x = tf.cast(images, tf.float32)
        shape = tf.shape(x)
        h, w = shape[1], shape[2]
        s = self.spec.stride
        pad_h, pad_w = (-h) % s, (-w) % s
        x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT") if s > 1 else x
        small = self.pool(x)
        if self.spec.color_transfer:
            x, small = self._colour(x, small, code, strength)
        feats, own = self.encode_all(small)
        target = toward(own, code, strength)
        c = feats.shape[-1]
        if self.spec.transform == "wct":
            t = wct(feats, own.mean[..., :c], own.feature_cov, target.mean[..., :c], target.feature_cov)
        else:
            t = adain(feats, StyleCode(own.mean[..., :c], own.std[..., :c]),
                      StyleCode(target.mean[..., :c], target.std[..., :c]))
        base = self.decoder(t, target.vector())
        if self.spec.residual:
            base = base + small
        if recolour and self.spec.transform == "wct" and self.spec.color_transfer:
            # to the colour-matched frame's colour statistics, which ``own`` already holds
            mean, cov = covariance_stats(base)
            base = wct(base, mean, cov, own.mean[..., -3:], own.pixel_cov)
        size = tf.shape(x)[1:3]
        if self.spec.internal_scale > 1:
            base = tf.image.resize(base, size, method="bilinear")
            detail = x - tf.image.resize(small, size, method="bilinear")
            base = base + self.detail_gain * detail
        out = tf.clip_by_value(base, 0.0, 255.0) if clip else base
        return out[:, :h, :w, :], t

    def palette(self, images: tf.Tensor, code: StyleCode, strength: float | tf.Tensor = 1.0) -> tf.Tensor:
        """Return ``images`` given only the painting's colours (the first step of :meth:`forward`), same shape;
        unclipped. The measure of how much the rest of the network paints beyond them."""
        x = tf.cast(images, tf.float32)
        r = self.spec.internal_scale
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        padded = tf.pad(x, [[0, 0], [0, (-h) % r], [0, (-w) % r], [0, 0]], mode="REFLECT") if r > 1 else x
        return self._colour(padded, self.pool(padded), code, strength)[0][:, :h, :w, :]

    def _colour(self, x: tf.Tensor, small: tf.Tensor, code: StyleCode, strength) -> tuple[tf.Tensor, tf.Tensor]:
        """Return the full-size and pooled frames given the painting's palette (moved by ``strength``): the same
        per-channel (``adain``) or 3×3 colour (``wct``) map for both, computed on the pooled frame."""
        s = tf.cast(strength, tf.float32)
        if self.spec.transform == "wct":
            mean, cov = covariance_stats(small)
            t_mean, t_cov = mean + s * (code.mean[..., -3:] - mean), cov + s * (code.pixel_cov - cov)
            matrix = wct_matrix(cov, t_cov)  # one map for both sizes
            return apply_wct(x, mean, matrix, t_mean), apply_wct(small, mean, matrix, t_mean)
        pixels = channel_stats(small)
        palette = toward(pixels, StyleCode(code.mean[..., -3:], code.std[..., -3:]), strength)
        return adain(x, pixels, palette), adain(small, pixels, palette)


def build_arbitrary(spec: ArbitrarySpec = ArbitrarySpec(), weights: str = BUNDLED,
                    precision: Precision | str = DEFAULT_PRECISION, seed: int | None = None,
                    meta: dict | None = None) -> ArbitraryNet:
    """Return a fresh network on the ``weights`` backbone (``bundled``, ``imagenet`` or a path), built."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    encoder = FeatureExtractor(load_backbone(weights), [spec.encoder_layer, *spec.code_layers], precision)
    policy = "mixed_bfloat16" if Precision(precision) is Precision.BFLOAT16 else "float32"
    decoder = Decoder(spec, dtype=policy)
    channels = {name: int(encoder.model.output[name].shape[-1]) for name in (spec.encoder_layer, *spec.code_layers)}
    decoder(tf.zeros((1, 2, 2, channels[spec.encoder_layer])), tf.zeros((1, 2 * (sum(channels.values()) + 3))))
    gain = tf.Variable(float(spec.detail_gain), dtype=tf.float32, name="detail_gain",
                       trainable=spec.detail_gain != 0 and spec.internal_scale > 1)
    return ArbitraryNet(spec, encoder, decoder, gain, {"weights": weights, **(meta or {})})


def save_arbitrary(net: ArbitraryNet, path: str | Path, meta: dict | None = None) -> Path:
    """Write the decoder, the detail gain, the spec and ``meta`` to one ``.npz`` atomically; returns ``path``."""
    path = Path(path)
    if path.suffix != ".npz":
        raise UserError(f"{path}: arbitrary-style weights are saved as a .npz file")
    arrays = {f"w{i:03d}": np.asarray(v, np.float32) for i, v in enumerate(net.decoder.get_weights())}
    header = {"format": FORMAT, "spec": asdict(net.spec), "meta": {**net.meta, **(meta or {})}}
    arrays["detail_gain"] = np.asarray(net.detail_gain.numpy(), np.float32)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return atomic_write(path, write)


def load_arbitrary(path: str | Path, precision: Precision | str = DEFAULT_PRECISION,
                   weights: str | None = None) -> ArbitraryNet:
    """Load a weights file written by :func:`save_arbitrary`, on the backbone it was trained on (or ``weights``).

    Raises:
        UserError: see :func:`read_header`; also a file whose arrays do not fit its spec.
    """
    header = read_header(path)
    raw = header.get("spec") or {}
    if raw and "transform" not in raw:
        raw = {**LEGACY_SPEC, **raw}
    try:
        spec = ArbitrarySpec(**{**raw, "channels": tuple(raw["channels"]), "code_layers": tuple(raw["code_layers"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged arbitrary-style weights file (bad network spec: {exc})") from None
    meta = header.get("meta", {})
    net = build_arbitrary(spec, weights or meta.get("weights", BUNDLED), precision, meta=meta)
    with np.load(path) as data:
        arrays = [data[k] for k in sorted(k for k in data.files if k.startswith("w"))]
        gain = float(data["detail_gain"])
    try:
        net.decoder.set_weights(arrays)
    except ValueError as exc:
        raise UserError(f"{path}: weights do not fit the network they describe ({exc})") from None
    net.detail_gain.assign(gain)
    return net
