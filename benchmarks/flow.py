"""Optical flow accuracy and speed of each :class:`media.flow.FlowMethod` on pairs with ground truth.

Average end-point error (EPE, pixels, over pixels with known ground truth) and seconds per pair on the
public pairs under ``../shared/data/flow``: Middlebury RubberWhale / Grove3 / Urban2 (frame10 -> frame11),
FlyingChairs examples (large synthetic motions) and the tiny mmflow fixtures, so that the default method is
chosen on evidence. Also records how closely :func:`media.consistency.certainty` reproduces the reference
implementation's ``reliable_j_i.pgm`` from the same flows (``../shared/data/video/manuelruder+artistic-videos``).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from benchmarks.shared import SHARED_DATA
from foundation.figures import save_figure
from media.consistency import certainty
from media.flo import read_flo
from media.flow import DEFAULT_METHOD, FlowMethod, estimate_flow
from media.metrics import endpoint_error

FLOW = SHARED_DATA / "flow"
MIDDLEBURY = ("RubberWhale", "Grove3", "Urban2")
CHAIRS = tuple(range(9))


def ground_truth_pairs(quick: bool) -> list[dict]:
    """Return the available pairs as dicts: dataset, name, paths of the two frames and of the ground-truth flow."""
    pairs = []
    mb = FLOW / "rodosingh+CV-IIITH"
    for name in MIDDLEBURY[:1] if quick else MIDDLEBURY:
        frames = mb / "all-frames-colour" / name
        pairs.append({"dataset": "middlebury", "name": name, "a": frames / "frame10.png", "b": frames / "frame11.png",
                      "gt": mb / "ground-truth-flow" / name / "flow10.flo"})
    chairs = FLOW / "lmb-freiburg+flownet2" / "FlyingChairs_examples"
    for i in CHAIRS[:3] if quick else CHAIRS:
        stem = chairs / f"{i:07d}"
        pairs.append({"dataset": "flyingchairs", "name": f"{i:07d}", "a": Path(f"{stem}-img0.ppm"),
                      "b": Path(f"{stem}-img1.ppm"), "gt": Path(f"{stem}-gt.flo")})
    mm = FLOW / "open-mmlab+mmflow"
    pairs.append({"dataset": "mmflow", "name": "00001", "a": mm / "00001_img1.ppm", "b": mm / "00001_img2.ppm",
                  "gt": mm / "00001_flow.flo"})
    if not quick:
        pairs.append({"dataset": "mmflow", "name": "0000000_01", "a": mm / "0000000-img_0.png",
                      "b": mm / "0000000-img_1.png", "gt": mm / "0000000-flow_01.flo"})
    return [p for p in pairs if p["a"].exists() and p["b"].exists() and p["gt"].exists()]


def run(quick: bool, out_dir: Path) -> dict:
    """Return EPE and seconds per pair of every method (tables by method and by pair); save a plot in out_dir.

    ``most_accurate`` is the method with the lowest EPE averaged over all pairs; ``pairs_won`` counts the pairs
    on which a method has the lowest EPE.
    """
    pairs = ground_truth_pairs(quick)
    if not pairs:
        return {"skipped": f"no ground-truth pairs under {FLOW} (needs ../shared/data/flow)"}
    methods = list(FlowMethod)
    # warm-up, so that OpenCV's one-off initialisation is not charged to the first pair
    tiny = np.zeros((32, 32, 3), np.uint8)
    for m in methods:
        estimate_flow(tiny, tiny, m)

    per_pair, epe, seconds = [], {m: {} for m in methods}, {m: [] for m in methods}
    for p in pairs:
        a, b, gt = cv2.imread(str(p["a"])), cv2.imread(str(p["b"])), read_flo(p["gt"])
        row = {"dataset": p["dataset"], "pair": p["name"], "size": f"{a.shape[1]}x{a.shape[0]}"}
        for m in methods:
            start = time.perf_counter()
            flow = estimate_flow(a, b, m)
            seconds[m].append(time.perf_counter() - start)
            e = endpoint_error(flow, gt)
            epe[m].setdefault(p["dataset"], []).append(e)
            row[f"{m.value}_epe"] = round(e, 4)
        per_pair.append(row)

    datasets = list(dict.fromkeys(p["dataset"] for p in pairs))
    by_method = []
    for m in methods:
        entry = {"method": m.value}
        for d in datasets:
            entry[f"epe_{d}"] = round(float(np.mean(epe[m][d])), 4)
        entry["epe_all_pairs"] = round(float(np.mean([e for v in epe[m].values() for e in v])), 4)
        entry["seconds_per_pair"] = round(float(np.mean(seconds[m])), 4)
        entry["pairs_won"] = sum(min(methods, key=lambda k: row[f"{k.value}_epe"]) is m for row in per_pair)
        by_method.append(entry)
    _plot(by_method, datasets, out_dir / "flow_epe.png")
    return {
        "default_method": DEFAULT_METHOD.value,
        "most_accurate": min(by_method, key=lambda r: r["epe_all_pairs"])["method"],
        "fastest": min(by_method, key=lambda r: r["seconds_per_pair"])["method"],
        "pairs": len(pairs),
        "methods": by_method,
        "per_pair": per_pair,
        "consistency_vs_reference": consistency_agreement(quick),
    }


def consistency_agreement(quick: bool) -> list[dict]:
    """Return, per frame pair of the reference example, how our certainty agrees with its ``reliable_j_i.pgm``.

    ``agreement``: share of pixels on the same side of 0.5; ``within_one_level``: share of pixels whose
    ``int(255 * c)`` is within one grey level of the reference's (which stores a certain pixel as 254).
    """
    folder = SHARED_DATA / "video" / "manuelruder+artistic-videos" / "deepflow"
    rows = []
    for i in range(1, 2 if quick else 5):
        for j, i_ in ((i + 1, i), (i, i + 1)):
            flow_name = "backward" if j > i_ else "forward"
            reverse_name = "forward" if j > i_ else "backward"
            ref_path = folder / f"reliable_{j}_{i_}.pgm"
            if not ref_path.exists():
                continue
            reference = cv2.imread(str(ref_path), cv2.IMREAD_UNCHANGED).astype(np.int32)
            c = certainty(read_flo(folder / f"{flow_name}_{j}_{i_}.flo"),
                          read_flo(folder / f"{reverse_name}_{i_}_{j}.flo"))
            levels = np.floor(c.astype(np.float64) * 255 + 1e-3)
            rows.append({"pair": f"{j}_{i_}", "agreement": round(float(np.mean((c >= 0.5) == (reference >= 128))), 6),
                         "within_one_level": round(float(np.mean(np.abs(levels - reference) <= 1)), 6)})
    return rows


def _plot(by_method: list[dict], datasets: list[str], path: Path) -> None:
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    width = 0.8 / len(by_method)
    x = np.arange(len(datasets))
    for k, row in enumerate(by_method):
        ax1.bar(x + k * width, [row[f"epe_{d}"] for d in datasets], width, label=row["method"])
        ax2.scatter(row["seconds_per_pair"], row["epe_all_pairs"], s=60)
        ax2.annotate(row["method"], (row["seconds_per_pair"], row["epe_all_pairs"]), textcoords="offset points",
                     xytext=(5, 5))
    ax1.set_xticks(x + 0.4 - width / 2, datasets)
    ax1.set_ylabel("average end-point error (px)")
    ax1.set_yscale("log")
    ax1.legend()
    ax1.set_title("Flow accuracy by dataset (lower is better)")
    ax2.set_xscale("log")
    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.set_xlabel("seconds per pair (2 CPU cores)")
    ax2.set_ylabel("EPE, mean over all pairs (px)")
    ax2.set_title("Accuracy vs time")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
