"""VGG loss-pass efficiency against the machine's GEMM peak, per precision (float32, bfloat16); L-BFGS vs Adam.

The FLOP count is that of the pass the optimisation really runs: the forward convolutions up to the deepest layer
the loss reads (``block5_conv1``), the Gram matrices of the style layers, and the gradient with respect to the
*input image only* -- one backward-data convolution per layer (as many FLOPs as its forward) and the Gram's
backward. No weight gradients: the backbone is frozen and the tape asks for ``d loss / d image`` alone (the graph's
filter-gradient nodes have no consumer and are pruned). ReLU, pooling and the loss sums are left out (well under
1 % of the FLOPs).

The peak is the best GFLOP/s of plain matrix products in the same precision, over a square GEMM and GEMMs shaped
like the convolutions' own (rows = pixels, inner = 9 x input channels, columns = output channels). The loss pass
and the peak are timed alternately, best of N each, so load from other jobs on a shared machine hits both alike.

Every row runs twice: natively, and in a subprocess with ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN then runs an AVX2-only
CPU's kernels; :mod:`benchmarks.cpu_class`), each against the GEMM peak measured under the same ISA. float32 runs
with both convolution kernels (:class:`transfer.features.Convolutions`: Keras' forward convolutions, the previous
path, and the backward-data kernels), timed alternately in one process, so the speed-up is measured before/after in
one run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.cpu_class import GemmPeak, columns, timed
from foundation.cpu import native_bfloat16
from transfer.backbone import load_backbone
from transfer.features import (
    CONTENT_LAYER,
    DEFAULT_PRECISION,
    STYLE_LAYERS,
    Convolutions,
    FeatureExtractor,
    Precision,
    default_convolutions,
)
from transfer.objective import LossWeights, StyleObjective
from transfer.optimize import OptimizeOptions, OptimizerKind
from transfer.stylize import StyleSpec, StylizeConfig, stylize_image

SAMPLES = Path("samples")

#: VGG16's convolutions: (name, input channels, output channels, downsampling factor of its input).
VGG16_CONVS = (
    ("block1_conv1", 3, 64, 1), ("block1_conv2", 64, 64, 1),
    ("block2_conv1", 64, 128, 2), ("block2_conv2", 128, 128, 2),
    ("block3_conv1", 128, 256, 4), ("block3_conv2", 256, 256, 4), ("block3_conv3", 256, 256, 4),
    ("block4_conv1", 256, 512, 8), ("block4_conv2", 512, 512, 8), ("block4_conv3", 512, 512, 8),
    ("block5_conv1", 512, 512, 16), ("block5_conv2", 512, 512, 16), ("block5_conv3", 512, 512, 16),
)


def loss_pass_flops(height: int, width: int, layers: tuple[str, ...] = (CONTENT_LAYER, *STYLE_LAYERS),
                    style_layers: tuple[str, ...] = STYLE_LAYERS) -> dict[str, float]:
    """Return FLOPs of one loss-and-gradient pass at (height, width): ``forward``, ``backward_input``, ``gram``
    (forward and backward of the style Grams) and their ``total``. A multiply-add counts as 2 FLOPs."""
    deepest = max(layers, key=lambda name: [c[0] for c in VGG16_CONVS].index(name))
    forward = gram = 0.0
    for name, cin, cout, down in VGG16_CONVS:
        h, w = height // down, width // down
        forward += 2.0 * 9 * h * w * cin * cout
        if name in style_layers:
            gram += 2 * (2.0 * h * w * cout * cout)  # F^T F, and F (dG + dG^T) on the way back
        if name == deepest:
            break
    return {"forward": forward, "backward_input": forward, "gram": gram, "total": 2 * forward + gram}


def conv_gemm_shapes(height: int, width: int) -> list[tuple[int, int, int]]:
    """Return (M, K, N) of the im2col GEMMs of VGG16's block 1-5 convolutions at (height, width), one per shape."""
    shapes = {(height // down * (width // down), 9 * cin, cout) for _, cin, cout, down in VGG16_CONVS[:11]}
    return sorted(shapes)


def _loss_pass(size: int, precision: Precision, convolutions: Convolutions | None = None):
    """Return a zero-argument function running one loss-and-gradient pass at size x size (warmed up)."""
    extractor = FeatureExtractor(load_backbone("bundled"), (CONTENT_LAYER, *STYLE_LAYERS), precision, convolutions)
    objective = StyleObjective(extractor, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))
    x = np.random.default_rng(0).normal(0, 50, (1, size, size, 3)).astype(np.float32)
    targets = objective.targets(x, objective.style_grams(x))
    weights = LossWeights()
    objective.value_and_grad(x, targets, weights)
    return lambda: objective.value_and_grad(x, targets, weights)


def _variants() -> list[tuple[Precision, Convolutions]]:
    """Return the (precision, convolutions) pairs timed here: float32 with both kernels (the one this CPU uses by
    default first), and bfloat16 where the CPU computes it natively (elsewhere it is never the default: 8-10x
    slower than float32 on AVX2 cores)."""
    default = default_convolutions()
    out = [(Precision.FLOAT32, default), *[(Precision.FLOAT32, c) for c in Convolutions if c is not default]]
    if native_bfloat16():
        out.append((Precision.BFLOAT16, Convolutions.KERAS))
    return out


def roofline(size: int, repeats: int) -> list[dict]:
    """Return one row per :func:`_variants` entry: the loss pass at size x size against the GEMM peak of the same
    precision, all timed alternately (pass, pass, ..., GEMMs) so load from other jobs hits every row alike.

    ``efficiency`` is the best pass against the best GEMM (wall clock); ``efficiency_cpu_time`` the median over
    rounds of the pass's GFLOP per CPU-second against the GEMM's in the same round, which holds on cores shared
    with other jobs where the wall-clock best-ofs may catch quiet moments for one and not the other.
    """
    variants = _variants()
    passes = [_loss_pass(size, p, c) for p, c in variants]
    shapes = [(2048, 2048, 2048), *conv_gemm_shapes(size, size)]
    peaks = {p: GemmPeak(p.value, shapes) for p in dict.fromkeys(p for p, _ in variants)}
    best, ratios = [np.inf] * len(passes), [[] for _ in passes]
    flops = loss_pass_flops(size, size)
    for _ in range(repeats):
        cpu = []
        for k, run_pass in enumerate(passes):
            wall, seconds = timed(run_pass)
            best[k] = min(best[k], wall)
            cpu.append(seconds)
        for peak in peaks.values():
            peak.measure()
        for k, (precision, _) in enumerate(variants):
            ratios[k].append(flops["total"] / cpu[k] / 1e9 / peaks[precision].round_cpu_gflops)
    rows = []
    for (precision, convolutions), seconds, ratio in zip(variants, best, ratios, strict=True):
        achieved = flops["total"] / seconds / 1e9
        peak = peaks[precision].best_gflops
        rows.append({"size": size, "precision": precision.value, "convolutions": convolutions.value,
                     "default": precision is DEFAULT_PRECISION and convolutions is default_convolutions(),
                     "seconds_per_iteration": seconds, "gflop_per_iteration": flops["total"] / 1e9,
                     "gflop_breakdown": {k: v / 1e9 for k, v in flops.items() if k != "total"},
                     "achieved_gflops": achieved, "gemm_peak_gflops": peak, "efficiency": achieved / peak,
                     "efficiency_cpu_time": float(np.median(ratio))})
    return rows


def isa_rows(sizes: list[int], repeats: int) -> dict:
    """Return ``{"loss_pass": rows}`` of :func:`roofline` at every size, run under this process's ISA (a row
    function for :func:`benchmarks.cpu_class.columns`)."""
    return {"loss_pass": [row for size in sizes for row in roofline(size, repeats)]}


def optimizer_comparison(iterations: int, width: int) -> dict:
    """Return the loss after ``iterations`` for L-BFGS and Adam on the sample pair (no early stopping)."""
    content, style = SAMPLES / "building.jpg", SAMPLES / "starry_night.jpg"
    out = {}
    for kind in OptimizerKind:
        cfg = StylizeConfig(content=content, output=Path("bench") / f"optimizer_{kind.value}.png",
                            style=StyleSpec(styles=(style,)), width=width, loss=LossWeights(),
                            optimize=OptimizeOptions(kind=kind, iterations=iterations, stall_tolerance=0.0),
                            progress=False)
        report = stylize_image(cfg)
        out[kind.value] = {"final_loss": report["final_losses"]["total"],
                           "style_loss": report["final_losses"]["style"],
                           "content_loss": report["final_losses"]["content"],
                           "seconds": report["timings_seconds"]["optimize"]}
    return {"iterations": iterations, "width": width, **out}


def run(quick: bool, out_dir: Path) -> dict:
    """Loss pass at 256 (and 384) px per precision and convolution kernel against the GEMM peak of the same
    precision, natively and under ``ONEDNN_MAX_CPU_ISA=AVX2`` (:func:`benchmarks.cpu_class.columns`); L-BFGS vs
    Adam."""
    sizes = [256] if quick else [256, 384]
    cols = columns("benchmarks.vgg:isa_rows", {"sizes": sizes, "repeats": 3 if quick else 7})
    result: dict = {"note": cols["note"], "efficiency_target": 0.85, "avx2_efficiency_target": 0.80}
    for name in ("native", "avx2"):
        rows = cols[name]["loss_pass"]
        result[f"cpu_{name}"] = cols[name]["cpu"]
        result[f"loss_pass_{name}"] = rows
        result[f"summary_{name}"] = _summary(rows, sizes)
    if (SAMPLES / "building.jpg").exists():
        result["optimizers"] = optimizer_comparison(iterations=20 if quick else 100, width=128 if quick else 256)
    return result


def _summary(rows: list[dict], sizes: list[int]) -> dict:
    """Return one column's headline: the default's least efficiency over the sizes, and per size its seconds, the
    speed-up of the backward-data kernels over Keras' in float32 and of bfloat16 over float32 where it ran."""
    default = [r for r in rows if r["default"]]
    out: dict = {"default_precision": default[0]["precision"], "default_convolutions": default[0]["convolutions"],
                 "default_efficiency": min(r["efficiency"] for r in default),
                 "default_efficiency_cpu_time": min(r["efficiency_cpu_time"] for r in default)}
    for size in sizes:
        t = {(r["precision"], r["convolutions"]): r["seconds_per_iteration"] for r in rows if r["size"] == size}
        keras32 = t[("float32", "keras")]
        out[f"default_seconds_{size}"] = next(r["seconds_per_iteration"] for r in default if r["size"] == size)
        out[f"backward_data_speedup_{size}"] = keras32 / t[("float32", "backward-data")]
        if ("bfloat16", "keras") in t:
            out[f"bfloat16_speedup_{size}"] = min(keras32, t[("float32", "backward-data")]) / t[("bfloat16", "keras")]
    return out
