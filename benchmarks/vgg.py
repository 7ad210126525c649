"""VGG loss-pass efficiency against the machine's GEMM peak (fp32 and bf16), and L-BFGS vs Adam.

FLOPs are counted analytically: a 3x3 convolution costs 2*9*H*W*Cin*Cout multiply-adds per forward pass, and
the loss pass (forward + gradient w.r.t. the image only, no weight gradients) costs about twice the forward.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from transfer.features import CONTENT_LAYER, STYLE_LAYERS, Precision

SAMPLES = Path("samples")


def conv_flops(height: int, width: int, deepest: str = "block5_conv1") -> float:
    """Return forward FLOPs of VGG16's convolutions up to and including ``deepest`` at (height, width)."""
    import keras

    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(height, width, 3))
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            total += 2.0 * 9 * h * w * cin * cout
            if layer.name == deepest:
                break
    return total


def gemm_peak(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    """Return measured GFLOP/s of an n x n matmul in TensorFlow for ``dtype`` (float32 / bfloat16)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    mm = tf.function(lambda x: tf.matmul(x, x))
    mm(a).numpy()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def loss_pass_seconds(size: int, precision: Precision, repeats: int) -> float:
    """Return the median seconds of one loss+gradient evaluation at size x size."""
    from transfer.backbone import load_backbone
    from transfer.features import FeatureExtractor
    from transfer.objective import LossWeights, StyleObjective

    extractor = FeatureExtractor(load_backbone("bundled"), (CONTENT_LAYER, *STYLE_LAYERS), precision)
    objective = StyleObjective(extractor, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))
    rng = np.random.default_rng(0)
    x = rng.normal(0, 50, (1, size, size, 3)).astype(np.float32)
    targets = objective.targets(x, objective.style_grams(x))
    weights = LossWeights()
    objective.value_and_grad(x, targets, weights)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        objective.value_and_grad(x, targets, weights)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def optimizer_comparison(iterations: int, width: int) -> dict:
    """Return the loss after ``iterations`` for L-BFGS and Adam on the sample pair."""
    from transfer.objective import LossWeights
    from transfer.optimize import OptimizeOptions, OptimizerKind
    from transfer.stylize import StyleSpec, StylizeConfig, stylize_image

    content, style = SAMPLES / "building.jpg", SAMPLES / "starry_night.jpg"
    out = {}
    for kind in OptimizerKind:
        cfg = StylizeConfig(content=content, output=Path("bench") / f"optimizer_{kind.value}.png",
                            style=StyleSpec(styles=(style,)), width=width, loss=LossWeights(),
                            optimize=OptimizeOptions(kind=kind, iterations=iterations), progress=False)
        report = stylize_image(cfg)
        out[kind.value] = {"final_loss": report["final_losses"]["total"],
                           "style_loss": report["final_losses"]["style"],
                           "content_loss": report["final_losses"]["content"],
                           "seconds": report["timings_seconds"]["optimize"]}
    return {"iterations": iterations, "width": width, **out}


def run(quick: bool, out_dir: Path) -> dict:
    """VGG loss pass at 256 and 512 (fp32, bf16) vs GEMM peak; L-BFGS vs Adam on the samples."""
    sizes = (256,) if quick else (256, 512)
    repeats = 3 if quick else 5
    peaks = {p.value: gemm_peak(p.value) for p in Precision}
    passes = []
    for size in sizes:
        flops = 2 * conv_flops(size, size)
        for precision in Precision:
            s = loss_pass_seconds(size, precision, repeats)
            achieved, peak = flops / s / 1e9, peaks[precision.value]
            passes.append({"size": size, "precision": precision.value, "seconds_per_iteration": s,
                           "gflop_per_iteration": flops / 1e9, "achieved_gflops": achieved,
                           "gemm_peak_gflops": peak, "ratio_to_peak": achieved / peak})
    result = {"gemm_peak_gflops": peaks, "loss_pass": passes}
    if (SAMPLES / "building.jpg").exists():
        result["optimizers"] = optimizer_comparison(iterations=20 if quick else 100, width=128 if quick else 256)
    return result
