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
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from transfer.backbone import load_backbone
from transfer.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor, Precision
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


class _Gemm:
    """Timed matrix products of several shapes in one dtype; ``best_gflops`` is the best seen so far."""

    def __init__(self, dtype: str, shapes: list[tuple[int, int, int]]):
        rng = tf.random.Generator.from_seed(0)
        self.cases = [(tf.cast(rng.normal((m, k)), dtype), tf.cast(rng.normal((k, n)), dtype), 2.0 * m * k * n)
                      for m, k, n in shapes]
        self.mm = tf.function(lambda a, b: tf.matmul(a, b))
        self.best_gflops = 0.0
        for a, b, _ in self.cases:
            self.mm(a, b).numpy()

    def measure(self) -> None:
        for a, b, flops in self.cases:
            started = time.perf_counter()
            self.mm(a, b).numpy()
            self.best_gflops = max(self.best_gflops, flops / (time.perf_counter() - started) / 1e9)


def _loss_pass(size: int, precision: Precision):
    """Return a zero-argument function running one loss-and-gradient pass at size x size (warmed up)."""
    extractor = FeatureExtractor(load_backbone("bundled"), (CONTENT_LAYER, *STYLE_LAYERS), precision)
    objective = StyleObjective(extractor, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))
    x = np.random.default_rng(0).normal(0, 50, (1, size, size, 3)).astype(np.float32)
    targets = objective.targets(x, objective.style_grams(x))
    weights = LossWeights()
    objective.value_and_grad(x, targets, weights)
    return lambda: objective.value_and_grad(x, targets, weights)


def roofline(size: int, precision: Precision, repeats: int) -> dict:
    """Return the loss pass at size x size against the GEMM peak of the same precision, timed alternately."""
    run_pass = _loss_pass(size, precision)
    gemm = _Gemm(precision.value, [(2048, 2048, 2048), *conv_gemm_shapes(size, size)])
    best = np.inf
    for _ in range(repeats):
        gemm.measure()
        started = time.perf_counter()
        run_pass()
        best = min(best, time.perf_counter() - started)
    gemm.measure()
    flops = loss_pass_flops(size, size)
    achieved = flops["total"] / best / 1e9
    return {"size": size, "precision": precision.value, "seconds_per_iteration": best,
            "gflop_per_iteration": flops["total"] / 1e9,
            "gflop_breakdown": {k: v / 1e9 for k, v in flops.items() if k != "total"},
            "achieved_gflops": achieved, "gemm_peak_gflops": gemm.best_gflops,
            "efficiency": achieved / gemm.best_gflops}


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
    """Loss pass at 256 (and 512) per precision against that precision's GEMM peak; L-BFGS vs Adam."""
    sizes = (256,) if quick else (256, 512)
    repeats = 3 if quick else 7
    passes = [roofline(size, precision, repeats) for size in sizes for precision in Precision]
    by_precision = {p.value: min(r["efficiency"] for r in passes if r["precision"] == p.value) for p in Precision}
    result = {"loss_pass": passes, "efficiency_by_precision": by_precision, "efficiency_target": 0.85,
              "bfloat16_speedup": {str(s): _speedup(passes, s) for s in sizes}}
    if (SAMPLES / "building.jpg").exists():
        result["optimizers"] = optimizer_comparison(iterations=20 if quick else 100, width=128 if quick else 256)
    return result


def _speedup(passes: list[dict], size: int) -> float:
    t = {r["precision"]: r["seconds_per_iteration"] for r in passes if r["size"] == size}
    return t[Precision.FLOAT32.value] / t[Precision.BFLOAT16.value]
