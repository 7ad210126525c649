"""Engines of the any-painting network: onnxruntime (the int8 graph as released, its float graph) against TensorFlow.

``run(quick, out_dir)`` measures Magenta's transfer network alone (the frame already at its painted size, batch 1,
uint8 BGR in and out, the conversions included) at two painted sizes: 384x216, where a 640x360 clip (or any 16:9
clip) is painted at stroke scale 1, and 768x432, where a 1080p clip is painted at stroke scale 0.5 (finer marks):

- milliseconds per frame of every engine, best and median of interleaved rounds (each round runs every engine once,
  so all see the same load from other jobs), and the median CPU milliseconds of the process per frame (all its
  threads; it moves far less with other jobs' load than the wall clock does); the variants are onnxruntime on the
  int8 graph (today's default) and on the float graph, TensorFlow float32, and (where bfloat16 is native)
  TensorFlow bfloat16, plus, in full mode, TensorFlow float32 with the graph's own convs (not rearranged) and
  compiled with XLA (native only: XLA's CPU code does not follow the oneDNN cap);
- the same rows with ``ONEDNN_MAX_CPU_ISA=AVX2`` set before TensorFlow loads (a subprocess), so that oneDNN runs an
  AVX2-only CPU's kernels. onnxruntime chooses its kernels from the CPU itself and ignores that switch, so its AVX2
  column is not measurable on an AVX-512 machine (``null``, with a note); its runs in that process are kept as a
  load reference only;
- the mean and largest |difference| in grey levels between the engines' frames, on the demo clip's frames painted
  with The Starry Night.

Every row carries the CPU record (:func:`benchmarks.cpu_class.cpu_record`) and the load average at the time.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import cv2
import numpy as np
import onnx

from benchmarks.cpu_class import AVX2_NOTE, cpu_record, native_is_avx2, run_capped, timed
from foundation.cpu import native_bfloat16
from media.video_io import ReadOptions, read_frames
from transfer.arbitrary.magenta import TRANSFORM_FILE, load_magenta, model_file
from transfer.arbitrary.magenta_graph import float_graph
from transfer.arbitrary.magenta_tf import TransferNetTF, load_network, read_weights

REPO = Path(__file__).resolve().parents[1]
DEMO_CLIP = REPO / "demo" / "vtest.mp4"
DEMO_PAINTING = REPO / "demo" / "starry_night.jpg"
#: name -> (width, height) painted, and what it stands for.
SIZES = {"384x216": (384, 216), "768x432": (768, 432)}
SIZE_NOTES = {"384x216": "a 640x360 clip at stroke scale 1 (every 16:9 clip at stroke scale 1)",
              "768x432": "a 1080p clip at stroke scale 0.5"}
ORT_AVX2_NOTE = ("onnxruntime ignores ONEDNN_MAX_CPU_ISA (it picks its kernels from the CPU itself): its AVX2 column "
                 "is not measurable on this machine")


def _painters(quick: bool, capped: bool) -> dict:
    """Return {variant: paint(frames (1, H, W, 3) uint8 BGR, vector (100,)) -> (1, H, W, 3) uint8 BGR}."""
    float_model = float_graph(onnx.load(str(model_file(TRANSFORM_FILE))))
    painters = {"onnxruntime_int8": load_magenta(engine="onnxruntime").paint,
                "onnxruntime_float": load_magenta(engine="onnxruntime-float").paint,
                "tensorflow_float32": load_network(float_model, "float32")}
    if native_bfloat16():
        painters["tensorflow_bfloat16"] = load_network(float_model, "bfloat16")
    if not quick:  # what the defaults of magenta_tf leave out, measured
        painters["tensorflow_float32_graph_convs"] = TransferNetTF(read_weights(float_model.graph), rearranged=False)
    if not quick and not capped:
        painters["tensorflow_float32_xla"] = load_network(float_model, "float32", jit_compile=True)
    return painters


def _frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """Return ``count`` frames of the demo clip at ``size`` ((1, H, W, 3) uint8 BGR each), or textured noise."""
    if DEMO_CLIP.is_file():
        frames = read_frames(DEMO_CLIP, ReadOptions(frames=count))
    else:
        rng = np.random.default_rng(0)
        frames = [cv2.GaussianBlur(rng.integers(0, 256, (size[1], size[0], 3), np.uint8), (0, 0), 3)
                  for _ in range(count)]
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA)[None] for f in frames]


def _vector() -> np.ndarray:
    painting = cv2.imread(str(DEMO_PAINTING)) if DEMO_PAINTING.is_file() else None
    if painting is None:
        painting = np.random.default_rng(1).integers(0, 256, (256, 256, 3), np.uint8)
    return load_magenta().style_vector(painting)


def timing_rows(quick: bool, capped: bool = False) -> dict:
    """Return ``{size: {variant: {"best_ms", "median_ms", "rounds"}}, "load_average": ...}`` under this process's
    ISA: a row function for :func:`benchmarks.cpu_class.run_capped` (``capped`` leaves out what the cap does not
    reach)."""
    painters = _painters(quick, capped)
    vector = _vector()
    out: dict = {"load_average_before": list(os.getloadavg())}
    for size_name, size in SIZES.items():
        frames = _frames(size, 4)
        rounds = (6 if quick else 20) if size_name == "384x216" else (3 if quick else 10)
        for paint in painters.values():  # warm-up: tracing, XLA compilation, onnxruntime's first-run allocations
            for frame in frames[:2]:
                paint(frame, vector)
        seconds: dict[str, list[float]] = {name: [] for name in painters}
        cpu: dict[str, list[float]] = {name: [] for name in painters}
        for k in range(rounds):
            for name, paint in painters.items():
                wall, busy = timed(lambda paint=paint, frame=frames[k % len(frames)]: paint(frame, vector))
                seconds[name].append(wall)
                cpu[name].append(busy)
        out[size_name] = {name: {"best_ms": 1000 * min(s), "median_ms": 1000 * statistics.median(s),
                                 "cpu_median_ms": 1000 * statistics.median(cpu[name]), "rounds": rounds}
                          for name, s in seconds.items()}
    out["load_average_after"] = list(os.getloadavg())
    return out


def differences(quick: bool) -> dict:
    """Return the mean and largest |difference| (grey levels) between the engines' frames, per pair, at 384x216."""
    painters = _painters(quick=True, capped=False)
    vector = _vector()
    frames = _frames(SIZES["384x216"], 4 if quick else 12)
    painted = {name: np.concatenate([paint(f, vector) for f in frames]).astype(np.int16)
               for name, paint in painters.items()}
    pairs = [("onnxruntime_int8", "onnxruntime_float"), ("tensorflow_float32", "onnxruntime_float"),
             ("tensorflow_float32", "onnxruntime_int8")]
    if "tensorflow_bfloat16" in painted:
        pairs += [("tensorflow_bfloat16", "onnxruntime_float"), ("tensorflow_bfloat16", "onnxruntime_int8")]
    return {f"{a}_vs_{b}": {"mean_grey_levels": float(np.abs(painted[a] - painted[b]).mean()),
                            "max_grey_levels": int(np.abs(painted[a] - painted[b]).max()), "frames": len(frames)}
            for a, b in pairs}


def _avx2_column(quick: bool) -> dict:
    if native_is_avx2():
        return {"avx2_note": "this CPU is AVX2 class: the native rows are its AVX2 column"}
    col = run_capped("benchmarks.engines:timing_rows", {"quick": quick, "capped": True})
    rows = {}
    for size_name in SIZES:
        rows[size_name] = {name: (None if name.startswith("onnxruntime") else value)
                           for name, value in col[size_name].items()}
        rows[size_name]["onnxruntime_reference_in_that_process"] = {
            name: value for name, value in col[size_name].items() if name.startswith("onnxruntime")}
    return {"avx2": rows, "avx2_note": AVX2_NOTE, "onnxruntime_avx2_note": ORT_AVX2_NOTE, "cpu_avx2": col["cpu"],
            "load_average_avx2": [col["load_average_before"], col["load_average_after"]]}


def _summary(native: dict, avx2: dict) -> list[dict]:
    """Return one flat row per (size, engine): ms per frame native and under the AVX2 cap."""
    rows = []
    for size_name in SIZES:
        for name, value in native[size_name].items():
            capped = (avx2.get(size_name) or {}).get(name)
            missing = "not measurable here" if name.startswith("onnxruntime") else "-"
            rows.append({"size": size_name, "engine": name, "native_best_ms": value["best_ms"],
                         "native_median_ms": value["median_ms"], "native_cpu_ms": value["cpu_median_ms"],
                         "avx2_best_ms": capped["best_ms"] if capped else missing,
                         "avx2_median_ms": capped["median_ms"] if capped else missing,
                         "avx2_cpu_ms": capped["cpu_median_ms"] if capped else missing})
    return rows


def run(quick: bool, out_dir: Path) -> dict:
    """Run the benchmark (see the module docstring); returns JSON-serialisable numbers."""
    native = timing_rows(quick)
    results: dict = {"cpu": cpu_record(), "sizes": SIZE_NOTES, "native": native}
    results.update(_avx2_column(quick))
    results["differences"] = differences(quick)
    results["summary"] = _summary(native, results.get("avx2", {}))
    return results

