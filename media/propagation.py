"""Carrying painted keyframes along optical flow: accumulated flow with its certainty, the blend of two keyframes
and the fill of what neither saw. No TensorFlow.

- :class:`Carry` is a keyframe's correspondence with frame t: the flow from frame t to the keyframe, accumulated
  frame to frame by :func:`compose` (``F_{t->k}(p) = f_{t->n}(p) + F_{n->k}(p + f_{t->n}(p))`` for the neighbour
  n of t nearer the keyframe), and its certainty, the smallest forward-backward certainty met along the way
  (:func:`media.consistency.certainty` of each step). The keyframe is then warped ONCE, by the accumulated flow
  (:func:`carry_look`): its marks are resampled a single time instead of once per frame, so they stay crisp.
- :func:`colour_model` fits the keyframe as a local affine function of its input frame's colours (a colour guided
  filter: ``keyframe ≈ A frame + b`` in windows, A 3x3); carried along the same flow and applied to frame t's input,
  it paints what the keyframe never saw (disocclusions, new content) in the keyframe's local colours.
- :func:`mix_details` blends two carried keyframes: their smooth parts linearly, their detail (brush texture) so
  that its contrast is kept — two keyframes painted independently have uncorrelated strokes, and a plain 50/50
  average of those halves their energy (the smear of the midway frames); dividing by
  ``sqrt(ca^2 + cb^2 + 2 ca cb rho)``, with ``rho`` the local correlation of the two details, keeps it (Heitz and
  Neyret's variance-preserving blending, made exact for correlated details too). The detail's weights
  ``(ca, cb) = (cos, sin)(pi/2 wb)`` turn at a constant rate (:func:`detail_weights`), so the texture changes by
  the same amount every frame of the hand-over.

Images are (H, W, 3) arrays, BGR, 0..255 (uint8 in, float32 out where noted); flows (H, W, 2) float32, pixels,
x then y, ``flow i -> j`` such that ``frame_i(p) ≈ frame_j(p + flow(p))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media.consistency import flow_checks
from media.structure import luminance
from media.warp import sample_coordinates, warp

#: Guided-filter window of the colour model: its radius is the frame width divided by this (16 px at 640 wide).
COLOUR_RADIUS_DIVISOR = 40
#: Regulariser of the colour model's slope, on the 0..255 scale (0.02 of the range, squared): flat windows get
#: ``A`` near 0 and the keyframe's local mean colour, textured ones follow the input's shapes.
COLOUR_EPS = (0.02 * 255.0) ** 2
#: Smoothing of the forward-backward test in :func:`step_certainty` (pixels; the reference checker's sigma).
CERTAINTY_SIGMA = 0.8
#: Detail = image minus its Gaussian blur of this sigma (pixels); the correlation of two details is taken under a
#: Gaussian window of DETAIL_WINDOW_SIGMA.
DETAIL_SIGMA = 2.0
DETAIL_WINDOW_SIGMA = 4.0
#: Lowest local correlation of two details used in the normalisation (caps the detail gain at 2).
RHO_FLOOR = -0.5


@dataclass(frozen=True)
class Carry:
    """Where frame t's pixels lie in a keyframe and how sure that is.

    flow: (H, W, 2) float32, frame t -> keyframe; certainty: (H, W) float32 in [0, 1].
    """

    flow: np.ndarray
    certainty: np.ndarray


@dataclass(frozen=True)
class Look:
    """What one keyframe gives frame t: ``image`` the keyframe warped into t, ``fill`` frame t's input in the
    keyframe's local colours (both (H, W, 3) float32, 0..255), ``certainty`` (H, W) float32 in [0, 1]."""

    image: np.ndarray
    fill: np.ndarray
    certainty: np.ndarray


def identity_carry(height: int, width: int) -> Carry:
    """Return the carry of the keyframe's own frame: zero flow, certain everywhere."""
    return Carry(np.zeros((height, width, 2), np.float32), np.ones((height, width), np.float32))


def step_certainty(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Return the (H, W) float32 certainty in [0, 1] of one step's flow for carrying marks: the forward-backward
    check of :func:`media.consistency.flow_checks` (1 where it passes, 0 where it fails or leaves the image), the
    zero zone grown by about a pixel as the reference checker does.

    Unlike :func:`media.consistency.certainty` it does not drop motion boundaries: on a still, noisy background
    (a fixed camera) the flow's own noise trips that test over whole regions, and a carried keyframe would lose
    them for good, since a pixel stays uncertain once any step on its way was.
    """
    checks = flow_checks(flow, reverse)
    signed = np.where(checks.consistent, 1.0, np.where(checks.inside, -1.0, 0.0)).astype(np.float32)
    return np.clip(_blur(signed, CERTAINTY_SIGMA), 0.0, 1.0)


def compose(carry: Carry, step_flow: np.ndarray, step_certainty: np.ndarray) -> Carry:
    """Return the carry of frame t from its neighbour n's carry and the flow t -> n with its certainty.

    Args:
        carry: n's carry (flow n -> keyframe); step_flow: (H, W, 2) float32 flow t -> n; step_certainty: (H, W)
            float in [0, 1], the forward-backward certainty of ``step_flow``.
    """
    stacked = np.dstack([carry.flow, carry.certainty[..., None]])
    moved, inside = warp(stacked, step_flow)
    flow = (step_flow + moved[..., :2]).astype(np.float32)
    certainty = np.minimum(np.asarray(step_certainty, np.float32), moved[..., 2]) * inside
    return Carry(flow, np.clip(certainty, 0.0, 1.0).astype(np.float32))


def colour_model(keyframe: np.ndarray, frame: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Return the (H, W, 12) float32 local affine colour model ``keyframe ≈ A frame + b`` (He et al.'s colour guided
    filter): ``A`` (3x3, row = output channel) flattened in [..., :9], ``b`` in [..., 9:]. A full 3x3 map, so a
    painter's hue shifts and channel swaps are learnt, not only per-channel contrast.

    Args:
        keyframe, frame: (H, W, 3) uint8 BGR, the painted keyframe and its input frame.
        radius: window radius in pixels (default: width / :data:`COLOUR_RADIUS_DIVISOR`, at least 2).
    """
    if keyframe.shape != frame.shape:
        raise ValueError(f"keyframe {keyframe.shape} and frame {frame.shape} differ in size")
    r = radius or max(2, round(frame.shape[1] / COLOUR_RADIUS_DIVISOR))
    size = (2 * r + 1, 2 * r + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    i = frame.astype(np.float32)
    k = keyframe.astype(np.float32)
    mean_i, mean_k = box(i), box(k)
    h, w = frame.shape[:2]
    outer_ii = box((i[..., :, None] * i[..., None, :]).reshape(h, w, 9)).reshape(h, w, 3, 3)
    outer_ik = box((i[..., :, None] * k[..., None, :]).reshape(h, w, 9)).reshape(h, w, 3, 3)
    sigma = outer_ii - mean_i[..., :, None] * mean_i[..., None, :] + COLOUR_EPS * np.eye(3, dtype=np.float32)
    cross = outer_ik - mean_i[..., :, None] * mean_k[..., None, :]
    a = np.swapaxes(_inverse3(sigma) @ cross, -1, -2)  # (h, w, out channel, in channel)
    b = mean_k - np.einsum("hwki,hwi->hwk", a, mean_i)
    return np.dstack([box(np.ascontiguousarray(a.reshape(h, w, 9))), box(b)]).astype(np.float32)


def apply_colour_model(model: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Return ``A frame + b`` (H, W, 3) float32 for a :func:`colour_model` and an (H, W, 3) uint8 BGR frame."""
    f = frame.astype(np.float32)
    # nine multiply-adds over whole planes: several times faster than a per-pixel einsum
    return np.dstack([model[..., 3 * k] * f[..., 0] + model[..., 3 * k + 1] * f[..., 1] + model[..., 3 * k + 2]
                      * f[..., 2] + model[..., 9 + k] for k in range(3)])


def carry_look(keyframe: np.ndarray, model: np.ndarray, frame: np.ndarray, carry: Carry) -> Look:
    """Return the :class:`Look` of ``keyframe`` at frame t (``frame``: its (H, W, 3) uint8 input) under ``carry``."""
    image = warp_crisp(keyframe, carry.flow)
    ab, _ = warp(model, carry.flow)
    fill = apply_colour_model(ab, frame)
    return Look(np.clip(image, 0, 255), np.clip(fill, 0, 255), carry.certainty)


def warp_crisp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return ``image`` (H, W, 3) sampled at ``p + flow(p)`` with Lanczos interpolation, (H, W, 3) float32 0..255.

    Lanczos keeps more of a painting's finest marks than :func:`media.warp.warp`'s bicubic: at a half-pixel shift
    of a 640x360 stroke painting it keeps 85 % of the Laplacian energy where bicubic keeps 75 % and bilinear 40 %.
    Edges are replicated where the flow leaves the image (the certainty is 0 there).
    """
    xs, ys = sample_coordinates(flow)
    finite = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = np.where(finite, xs, 0).astype(np.float32), np.where(finite, ys, 0).astype(np.float32)
    out = cv2.remap(np.ascontiguousarray(image, dtype=np.float32), xs, ys, cv2.INTER_LANCZOS4,
                    borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, 0, 255)


def blend_weight(t: int, a: int, b: int) -> float:
    """Return the weight in [0, 1] of keyframe ``b`` at frame ``t`` between keyframes ``a < b``: the distance.

    Linear, because the hand-over between two differently painted keyframes changes the picture by the weight's step
    each frame, and the warping error grows with the square of that step: equal steps give the least total, and no
    step stands out (an eased curve, smoothstep, makes the middle steps 1.5x the mean, a visible seam). The detail
    follows it at a constant rate too (:func:`detail_weights`).
    """
    return min(max((t - a) / (b - a), 0.0), 1.0)


def detail_weights(weight_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the detail's weights ``(cos, sin)(pi/2 weight_b)`` (arrays of ``weight_b``'s shape, float32).

    With the variance-preserving normalisation, the blended detail of two unrelated textures is ``ca da + cb db`` on
    the unit circle; the plain weights ``(1 - w, w)`` turn along it at a rate ``1 / (w^2 + (1 - w)^2)``, twice as
    fast at the midpoint as next to a keyframe, which makes the midway frames' steps 1.27x the hand-over's mean
    change. These weights turn at a constant rate: every step of the hand-over changes the texture equally.
    """
    angle = np.float32(np.pi / 2) * np.asarray(weight_b, np.float32)
    return np.cos(angle), np.sin(angle)


def mix_details(image_a: np.ndarray, image_b: np.ndarray, weight_a: np.ndarray) -> np.ndarray:
    """Return the (H, W, 3) float32 blend of two images that keeps the contrast of their detail.

    The smooth parts are blended linearly by ``weight_a``, the details by :func:`detail_weights` of ``1 - weight_a``.

    Args:
        image_a, image_b: (H, W, 3) float32, 0..255. weight_a: (H, W) float in [0, 1], the share of ``image_a``.
    """
    wa = np.asarray(weight_a, np.float32)[..., None]
    wb = 1.0 - wa
    ca, cb = (c[..., None] for c in detail_weights(1.0 - np.asarray(weight_a, np.float32)))
    low_a, low_b = _blur(image_a, DETAIL_SIGMA), _blur(image_b, DETAIL_SIGMA)
    da, db = image_a - low_a, image_b - low_b
    cross = _blur(np.sum(da * db, axis=2), DETAIL_WINDOW_SIGMA)
    energy = np.sqrt(_blur(np.sum(da * da, axis=2), DETAIL_WINDOW_SIGMA) * _blur(np.sum(db * db, axis=2),
                                                                                DETAIL_WINDOW_SIGMA))
    # negative estimates are kept (down to RHO_FLOOR): clipped at 0, the estimate of two unrelated textures' correlation
    # in small windows is biased upwards and the blend loses about a tenth of its detail
    rho = np.clip(cross / np.maximum(energy, 1e-6), RHO_FLOOR, 1.0)[..., None]
    norm = np.sqrt(np.maximum(ca * ca + cb * cb + 2.0 * ca * cb * rho, 1e-6))
    return (wa * low_a + wb * low_b + (ca * da + cb * db) / norm).astype(np.float32)


def unseen_share(look_a: Look | None, look_b: Look | None) -> np.ndarray:
    """Return the (H, W) float32 share in [0, 1] of frame t that no keyframe saw: ``(1 - ca)(1 - cb)`` of the
    looks' certainties (a missing look counts as unsure everywhere)."""
    looks = [look for look in (look_a, look_b) if look is not None]
    if not looks:
        raise ValueError("unseen_share needs at least one look")
    share = np.ones(looks[0].certainty.shape, np.float32)
    for look in looks:
        share = share * (1.0 - look.certainty)
    return share


def combine(look_a: Look | None, look_b: Look | None, weight_b: float, detail: bool = True,
            fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (the frame (H, W, 3) float32 0..255, the share (H, W) float32 of it that is fill) from the looks of
    the keyframes before (``look_a``) and after (``look_b``; either may be None) at blend weight ``weight_b``.

    Where a keyframe is certain its carried marks are used; where both are, they are blended by distance
    (:func:`mix_details`, or linearly with ``detail=False``), each weighted by its certainty, so a region only one
    keyframe saw comes from that one; where neither is, the distance blend of their fills, or ``fill`` ((H, W, 3)
    float 0..255) when given.
    """
    if look_a is None or look_b is None:
        only = look_a if look_b is None else look_b
        if only is None:
            raise ValueError("combine needs at least one look")
        c = only.certainty[..., None]
        fill = only.fill if fill is None else np.asarray(fill, np.float32)
        return (c * only.image + (1.0 - c) * fill).astype(np.float32), 1.0 - only.certainty
    wb = float(weight_b)
    ea, eb = (1.0 - wb) * look_a.certainty, wb * look_b.certainty
    total = ea + eb
    share_a = np.where(total > 1e-6, ea / np.maximum(total, 1e-6), 1.0 - wb)
    if detail:
        carried = mix_details(look_a.image, look_b.image, share_a)
    else:
        carried = share_a[..., None] * look_a.image + (1.0 - share_a[..., None]) * look_b.image
    confidence = 1.0 - (1.0 - look_a.certainty) * (1.0 - look_b.certainty)
    fill = (1.0 - wb) * look_a.fill + wb * look_b.fill if fill is None else np.asarray(fill, np.float32)
    out = confidence[..., None] * carried + (1.0 - confidence[..., None]) * fill
    return out.astype(np.float32), (1.0 - confidence).astype(np.float32)


def detail_energy(image: np.ndarray) -> float:
    """Return the mean squared Laplacian of the luminance (0..255 scale) of an (H, W, 3) uint8 BGR image: how much
    fine detail (brush texture) it holds; a smeared or blurred frame scores lower."""
    y = luminance(np.asarray(image, np.uint8)) * 255.0
    return float(np.mean(np.square(cv2.Laplacian(y, cv2.CV_32F, ksize=3))))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a float image rounded and clipped to (H, W, 3) uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _inverse3(m: np.ndarray) -> np.ndarray:
    """Return the inverses of (..., 3, 3) symmetric matrices by their adjugate (a batched solve is several times
    slower for 3x3 systems); the colour model's matrices are positive definite (regularised by ``COLOUR_EPS``)."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 1], m[..., 1, 2], m[..., 2, 2]
    adj = np.stack([np.stack([d * f - e * e, c * e - b * f, b * e - c * d], -1),
                    np.stack([c * e - b * f, a * f - c * c, b * c - a * e], -1),
                    np.stack([b * e - c * d, b * c - a * e, a * d - b * b], -1)], -2)
    det = a * adj[..., 0, 0] + b * adj[..., 1, 0] + c * adj[..., 2, 0]
    return adj / det[..., None, None]


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
