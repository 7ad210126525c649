"""A clip with exactly known optical flow: a photograph filmed by a virtual camera that pans, zooms and turns.

Used to judge temporal stability with flow that no method under test estimated (the optimisation path aligns its
output to DeepFlow, fast-mode smoothing to DIS). Frame t samples the photograph at ``M_t p`` for output pixel
``p`` (homogeneous coordinates, ``M_t`` an affine camera); a pixel ``p`` of frame t therefore shows what frame
t-1 showed at ``q = M_{t-1}^{-1} M_t p``, so the flow t -> t-1 is ``q - p`` exactly, and the only occlusion is
what enters at the border (``q`` outside the frame).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from media.video_io import ffmpeg_exe


@dataclass(frozen=True)
class KnownMotionClip:
    """T frames (H, W, 3) uint8 BGR; T-1 flows (H, W, 2) float32 each way (``flows_back[t-1]``: frame t -> t-1,
    ``flows_forward[t-1]``: t-1 -> t, pixels (dx, dy)); T-1 masks (H, W) bool, True where pixel p of frame t was
    visible in frame t-1."""

    frames: list[np.ndarray]
    flows_back: list[np.ndarray]
    flows_forward: list[np.ndarray]
    masks: list[np.ndarray]


def camera(t: int, size: tuple[int, int], source_size: tuple[int, int], pan: tuple[float, float], zoom: float,
           turn_deg: float) -> np.ndarray:
    """Return the 3x3 matrix taking output pixel (x, y, 1) of frame t to source pixel coordinates.

    The camera starts centred on the source at one source pixel per output pixel, moves ``pan`` source pixels
    per frame, magnifies by ``zoom`` per frame (> 1 zooms in) and turns by ``turn_deg`` degrees per frame.
    """
    w, h = size
    sw, sh = source_size
    a = np.deg2rad(turn_deg * t)
    s = zoom ** (-t)
    centre_out = np.array([[1, 0, -(w - 1) / 2], [0, 1, -(h - 1) / 2], [0, 0, 1]], np.float64)
    scale_turn = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
    move = np.array([[1, 0, (sw - 1) / 2 + t * pan[0]], [0, 1, (sh - 1) / 2 + t * pan[1]], [0, 0, 1]])
    return move @ scale_turn @ centre_out


def camera_clip(image: np.ndarray, n_frames: int, size: tuple[int, int] = (256, 192),
                pan: tuple[float, float] = (1.7, 0.6), zoom: float = 1.006, turn_deg: float = 0.2) -> KnownMotionClip:
    """Return a :class:`KnownMotionClip` of ``n_frames`` (>= 2) frames of ``size`` (width, height) from ``image``.

    ``image`` ((H, W, 3) uint8 BGR) is first shrunk (area filter, so sampling it does not alias) to about 1.5x
    the output width, leaving room for the motion; frames are sampled from it bicubically.
    """
    if n_frames < 2:
        raise ValueError("a clip needs at least 2 frames")
    w, h = size
    factor = 1.5 * w / image.shape[1]
    if factor * image.shape[0] < 1.5 * h:
        factor = 1.5 * h / image.shape[0]
    source = cv2.resize(image, (round(image.shape[1] * factor), round(image.shape[0] * factor)),
                        interpolation=cv2.INTER_AREA)
    source_size = (source.shape[1], source.shape[0])
    cams = [camera(t, size, source_size, pan, zoom, turn_deg) for t in range(n_frames)]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    grid = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # (h, w, 3)

    def sample(m: np.ndarray) -> np.ndarray:
        p = grid @ m.T
        if p[..., 0].min() < 0 or p[..., 1].min() < 0 or p[..., 0].max() > source_size[0] - 1 \
                or p[..., 1].max() > source_size[1] - 1:
            raise ValueError("the camera leaves the photograph: use fewer frames or slower motion")
        return cv2.remap(source, p[..., 0].astype(np.float32), p[..., 1].astype(np.float32), cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT101)

    def flow(to: np.ndarray, frm: np.ndarray) -> np.ndarray:
        q = grid @ (np.linalg.inv(to) @ frm).T
        return (q[..., :2] - grid[..., :2]).astype(np.float32)

    frames = [sample(m) for m in cams]
    back = [flow(cams[t - 1], cams[t]) for t in range(1, n_frames)]
    fwd = [flow(cams[t], cams[t - 1]) for t in range(1, n_frames)]
    masks = []
    for b in back:
        qx, qy = xs + b[..., 0], ys + b[..., 1]
        masks.append((qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1))
    return KnownMotionClip(frames, back, fwd, masks)


def lossless_clip(frames: list[np.ndarray], path: Path, fps: float = 25.0) -> Path:
    """Write (H, W, 3) uint8 BGR ``frames`` as a lossless FFV1 ``.mkv`` (once; decoding gives them back bit for bit)
    and return its path."""
    if not path.is_file():
        h, w = frames[0].shape[:2]
        tmp = path.with_name(f".{path.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
                        "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "ffv1", "-f", "matroska", str(tmp)],
                       input=b"".join(f.tobytes() for f in frames), check=True)
        tmp.replace(path)
    return path
