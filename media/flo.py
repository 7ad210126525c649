"""Reading and writing optical flow in the Middlebury ``.flo`` format.

Layout (little-endian): float32 magic 202021.25, int32 width, int32 height, then ``height`` rows of
``width`` interleaved float32 ``(u, v)`` pairs. In memory flow is ``(H, W, 2) float32``, pixels, x then y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foundation.atomic import atomic_write_bytes
from foundation.errors import UserError

#: First four bytes of every .flo file, read as a little-endian float32 (the bytes spell "PIEH").
FLO_MAGIC = 202021.25
#: Values above this mark "unknown flow" in Middlebury ground truth.
UNKNOWN_FLOW_THRESHOLD = 1e9
#: Refuse headers claiming absurd sizes before allocating anything.
_MAX_SIDE = 1 << 16

_HEADER = np.dtype([("magic", "<f4"), ("width", "<i4"), ("height", "<i4")])


def read_flo(path: str | Path) -> np.ndarray:
    """Return the (H, W, 2) float32 flow stored in the ``.flo`` file ``path``; raise :class:`UserError` if bad."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such flow file")
    data = path.read_bytes()
    if len(data) < _HEADER.itemsize:
        raise UserError(f"{path}: truncated .flo file ({len(data)} bytes, shorter than the 12-byte header)")
    header = np.frombuffer(data, dtype=_HEADER, count=1)[0]
    if header["magic"] != np.float32(FLO_MAGIC):
        raise UserError(f"{path}: not a Middlebury .flo file (bad magic number)")
    width, height = int(header["width"]), int(header["height"])
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise UserError(f"{path}: .flo header gives an impossible size {width}x{height}")
    expected = _HEADER.itemsize + 8 * width * height
    if len(data) < expected:
        raise UserError(f"{path}: truncated .flo file ({len(data)} bytes, {width}x{height} flow needs {expected})")
    flow = np.frombuffer(data, dtype="<f4", count=2 * width * height, offset=_HEADER.itemsize)
    return flow.reshape(height, width, 2).astype(np.float32)


def encode_flo(flow: np.ndarray) -> bytes:
    """Return the bytes of a ``.flo`` file holding ``flow`` ((H, W, 2) float, pixels, x then y)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f"flow must be (H, W, 2), got shape {flow.shape}")
    h, w = flow.shape[:2]
    header = np.array([(FLO_MAGIC, w, h)], dtype=_HEADER).tobytes()
    return header + np.ascontiguousarray(flow, dtype="<f4").tobytes()


def write_flo(path: str | Path, flow: np.ndarray) -> Path:
    """Write ``flow`` ((H, W, 2) float, pixels, x then y) to ``path`` as ``.flo``, atomically; returns ``path``."""
    return atomic_write_bytes(path, encode_flo(flow))
