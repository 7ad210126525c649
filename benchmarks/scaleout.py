"""Scale-out: a clip of several shots on 1 vs 2 Ray workers, per-shot times, and a film-length projection.

The clip strings together pieces of the sample clips (vtest, Megamind, tree), each resized to one size, so the
cuts between them are real hard cuts that ``--shots auto`` finds. Both runs use the same settings; the 2-worker
run starts a local Ray instance (its start-up is part of its wall time). On this 2-core machine two workers
cannot beat one: the single process already keeps both cores busy, so expect a ratio near (or below) 1.

From the one-worker run's per-frame seconds (a shot's first frame and later frames apart) :func:`film_wall_time`
projects a feature film on K machines: shots run in parallel, a machine takes the next shot when it is free
(longest shots first), so the wall time is at least the total work / K and at least the longest shot.
"""

from __future__ import annotations

import heapq
import json
import time
from pathlib import Path

import cv2
import numpy as np

from media.shots import ShotsConfig
from media.video_io import ReadOptions, iter_frames
from transfer.stylize import StyleSpec
from video.config import VideoConfig
from video.distributed import ClusterConfig
from video.pipeline import stylize_video

SAMPLES = Path("samples")
STYLE = SAMPLES / "starry_night.jpg"
#: (sample, first frame) of each shot, in order; Megamind from frame 20 (it opens on black).
PIECES = (("vtest.avi", 0), ("Megamind.avi", 20), ("tree.avi", 0), ("vtest.avi", 300))

#: The projected film: 10 minutes at 24 fps, shots of 4 s on average (a common average shot length of recent
#: feature films), the longest shot a 60 s take.
FILM = {"minutes": 10, "fps": 24, "mean_shot_seconds": 4.0, "longest_shot_seconds": 60.0}


def make_clip(path: Path, frames_per_shot: int, width: int) -> list[int]:
    """Write the multi-shot clip (MJPG AVI, ``width`` x 3/4 ``width``); return the cut frames (0-based)."""
    size = (width, width * 3 // 4)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    cuts, t = [], 0
    for name, start in PIECES:
        for k, frame in iter_frames(SAMPLES / name, ReadOptions(frames=start + frames_per_shot)):
            if k >= start:
                writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        cuts.append(t)
        t += frames_per_shot
    writer.release()
    return cuts[1:]


def film_wall_time(shot_frames: list[int], first_seconds: float, later_seconds: float, machines: int,
                   startup_seconds: float = 0.0) -> float:
    """Return the wall seconds of stylising shots of these lengths on ``machines`` machines, one shot per machine
    at a time, longest first (a shot costs ``first_seconds + (frames - 1) * later_seconds``)."""
    costs = sorted((first_seconds + (n - 1) * later_seconds for n in shot_frames), reverse=True)
    free = [0.0] * machines
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return startup_seconds + max(free)


def film_shots() -> list[int]:
    """Return the shot lengths (frames) of the projected film: one long take, the rest of the mean length."""
    total = FILM["minutes"] * 60 * FILM["fps"]
    longest = int(FILM["longest_shot_seconds"] * FILM["fps"])
    mean = int(FILM["mean_shot_seconds"] * FILM["fps"])
    rest = total - longest
    return [longest] + [mean] * (rest // mean) + ([rest % mean] if rest % mean else [])


def _run(clip: Path, out: Path, width: int, workers: int, quick: bool) -> tuple[float, object]:
    iterations = {"first_iterations": 10, "iterations": 4} if quick else {}
    config = VideoConfig(video=clip, output=out, style=StyleSpec(styles=(STYLE,)), read=ReadOptions(width=width),
                         flow="dis", progress=False, shots=ShotsConfig(min_frames=3),
                         cluster=ClusterConfig(workers=workers), **iterations)
    t = time.perf_counter()
    result = stylize_video(config)
    return time.perf_counter() - t, result


def one_config(result) -> dict:
    """Return the config a run recorded in its ``run.json``."""
    return json.loads((Path(result.workdir) / "run.json").read_text())["config"]


def run(quick: bool, out_dir: Path) -> dict:
    missing = [p for p in [STYLE, *(SAMPLES / name for name, _ in PIECES)] if not p.exists()]
    if missing:
        return {"skipped": f"{missing[0]} missing (run make samples)"}
    width, per_shot = (64, 4) if quick else (128, 6)
    folder = out_dir / "scaleout"
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "shots.avi"
    cuts = make_clip(clip, per_shot, width)
    rows, results = [], {}
    for workers in (1, 2):
        wall, result = _run(clip, folder / f"workers{workers}.mp4", width, workers, quick)
        results[workers] = result
        rows.append({"workers": workers, "wall_seconds": wall, "stylize_seconds": result.stage_seconds["stylize"],
                     "shots": len(result.shots), "frames": result.n_frames})
    one = results[1]
    found = [s.start for s in one.shots[1:]]
    shots = [{"shot": s.shot, "frames": s.frames, "seconds_1_worker": s.seconds,
              "seconds_2_workers": results[2].shots[k].seconds, "host_pid_2_workers": results[2].shots[k].pid}
             for k, s in enumerate(one.shots)]
    first = [f["seconds"] for f in one.frames.values() if f["first_of_shot"]]
    later = [f["seconds"] for f in one.frames.values() if not f["first_of_shot"]]
    first_s, later_s = float(np.mean(first)), float(np.mean(later)) if later else 0.0
    scale = (256 / width) ** 2  # to 256 px: assumed proportional to the pixel count (VGG's convolutions are)
    film = film_shots()
    projection = [{"machines": k,
                   "hours_at_bench_width": film_wall_time(film, first_s, later_s, k) / 3600,
                   "hours_at_256px": film_wall_time(film, scale * first_s, scale * later_s, k) / 3600}
                  for k in (1, 10, 50, 150, 1000)]
    budget = {"first_iterations": one_config(one).get("first_iterations"),
              "later_iterations": one_config(one).get("iterations")}
    return {"width": width, "frames_per_shot": per_shot, "cuts_made": cuts, "cuts_found": found, **budget,
            "speedup_2_workers": rows[0]["wall_seconds"] / rows[1]["wall_seconds"],
            "first_frame_seconds": first_s, "later_frame_seconds": later_s,
            "film": {**FILM, "shots": len(film), "frames": sum(film)},
            "runs": rows, "per_shot": shots, "projection": projection}
