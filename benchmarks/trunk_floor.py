"""The frozen trunk on this CPU, and the least time ``make finetune``'s cache fill can take for its views.

Filling the cache runs VGG16's blocks 1-4 once per image and view, and on two CPU cores that is most of
``make finetune``'s wall time. Measured here on one random ``(16, 224, 224, 3)`` batch, the three alternated twice:

- ``trunk``: the trunk as :func:`classifier.model.build_trunk` builds it on this CPU (bfloat16 convolutions where
  the CPU computes bfloat16 natively, float32 elsewhere; float32 texture statistics), what the cache fill and
  ``paintvid classify`` run;
- ``float32``: the same trunk in float32;
- ``convolutions``: the trunk's convolutions alone (every conv of blocks 1-4 still computed, the
  statistics left out), an upper bound for any faster way to compute the statistics.

The views the recipe caches on ``../shared/data/images`` (:func:`classifier.finetune.cache_plan` on its own split),
for the default and for the previous default (``--crops 1 --augment-variants 1 --no-average-mirror``), divided by
those rates: the trunk's seconds, a floor under the cache fill that decoding, jitter and writes only add to, and
under ``make finetune`` (block-5 vectors and training come on top).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.cpu_class import columns
from benchmarks.shared import SHARED_IMAGES
from classifier import model as M
from classifier.data import load_dataset
from classifier.finetune import FinetuneConfig, cache_plan
from transfer.backbone import load_backbone

#: The issue's target for ``make finetune`` on the shared images, seconds.
TARGET_SECONDS = 30 * 60
#: The previous default's view options (README, classifier section).
PREVIOUS_DEFAULT = {"crops": 1, "augment_variants": 1, "average_mirror": False}


def run(quick: bool, out_dir: Path) -> dict:
    """Return the trunk's rates and the cache-fill floors of both recipes on the shared images, natively and (under
    ``avx2``) in a process with ``ONEDNN_MAX_CPU_ISA=AVX2``, where the trunk's default precision is float32."""
    if not SHARED_IMAGES.is_dir():
        return {"skipped": f"needs {SHARED_IMAGES} (not present on this machine)"}
    config = FinetuneConfig(data=SHARED_IMAGES, out=Path(out_dir) / "trunk_floor")
    size, batch, seconds = (64, 4, 0.5) if quick else (config.image_size, 16, 10.0)
    rates = columns("benchmarks.trunk_floor:trunk_rates", {"image_size": size, "batch": batch, "seconds": seconds})
    return {**floors(config, rates["native"]), "avx2": floors(config, rates["avx2"]), "avx2_note": rates["note"]}


def trunk_rates(image_size: int, batch: int, seconds: float) -> dict:
    """Views per second of the trunk (its default precision on this CPU), the float32 trunk and the trunk's
    convolutions alone (module docstring) on one random ``(batch, image_size, image_size, 3)`` VGG input, each
    timed for ``seconds`` twice, alternated."""
    backbone = load_backbone("bundled")
    trunk = M.build_trunk(backbone, image_size)
    wide = M.build_trunk(backbone, image_size, precision="float32")
    convolutions = keras.Model(trunk.input, [trunk.get_layer(M.TRUNK_OUTPUT).output]
                               + [trunk.get_layer(name).output for name in M.FROZEN_LAYERS])
    calls = {name: tf.function(lambda v, m=model: m(v, training=False))
             for name, model in (("trunk", trunk), ("float32", wide), ("convolutions", convolutions))}
    x = np.random.default_rng(0).uniform(-100, 100, (batch, image_size, image_size, 3)).astype("float32")
    for call in calls.values():  # trace and warm up once each
        np.asarray(call(x)[0])
    rate = alternated_rates(calls, x, seconds)
    mean = {name: float(np.mean(r)) for name, r in rate.items()}
    return {"image_size": image_size, "batch": batch, "views_per_second": mean,
            "runs": {name: [float(v) for v in r] for name, r in rate.items()},
            "statistics_share": 1.0 - mean["trunk"] / mean["convolutions"],
            "default_precision": M.trunk_precision(), "speedup_over_float32": mean["trunk"] / mean["float32"]}


def alternated_rates(calls: dict, x: np.ndarray, seconds: float, rounds: int = 2, output: int = 0) -> dict:
    """Return ``{name: [views per second per round]}``: each of ``calls`` (``x`` -> outputs) run on the batch ``x``
    for ``seconds``, in turn, ``rounds`` times, output ``output`` fetched each time (so a loaded machine slows them
    alike)."""
    rate: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                np.asarray(call(x)[output])
                n += len(x)
            rate[name].append(n / (time.perf_counter() - t0))
    return rate


def floors(config: FinetuneConfig, rates: dict) -> dict:
    """Return ``rates`` with, per recipe (``config`` and the previous default's views), the views it caches on
    ``config.data`` and the seconds the trunk and its convolutions alone need for them at those rates."""
    table = load_dataset(config.data, seed=config.seed, fractions=config.fractions).table
    train_rows = np.flatnonzero(table["split"].to_numpy() == "train")
    recipes = {}
    for name, recipe in (("default", config), ("previous_default", replace(config, **PREVIOUS_DEFAULT))):
        views = sum(len(rows) for rows in cache_plan(recipe, train_rows, len(table)).values())
        recipes[name] = {"views": int(views), "train_views": list(recipe.train_views),
                         "eval_views": list(recipe.eval_views),
                         "trunk_seconds": views / rates["views_per_second"]["trunk"],
                         "convolutions_seconds": views / rates["views_per_second"]["convolutions"]}
    return {**rates, "images": int(len(table)), "training_images": int(len(train_rows)),
            "target_seconds": TARGET_SECONDS, "recipes": recipes}

