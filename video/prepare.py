"""Stage 1 and 2 of a run: extract the frames and find the shots, then the optical flows and certainty maps.

Both stages skip files that already exist, so a rerun continues where a killed run stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from media.consistency import certainty
from media.flo import read_flo, write_flo
from media.flow import FlowMethod, estimate_flow
from media.shots import Shot, ShotMode, ShotsConfig, find_shots, shots_from_cuts, write_cuts_csv
from media.video_io import ReadOptions, VideoInfo, iter_frames
from video.workdir import WorkDir


def extract_frames(workdir: WorkDir, video: Path, read_options: ReadOptions, progress: bool = True,
                   info: VideoInfo | None = None) -> int:
    """Write the selected frames as ``frames/000001.png``...; return how many there are.

    Completion is recorded in ``frames/done.json`` so that later runs need not decode the video again.
    """
    done = workdir.root / "frames" / "done.json"
    if done.exists():
        return int(json.loads(done.read_text())["count"])
    count = 0
    frames = iter_frames(video, read_options, info)
    for index, frame in tqdm(frames, desc="read frames", unit="frame", disable=not progress, leave=False):
        count = index + 1
        path = workdir.frame(count)
        if not path.exists():
            workdir.write_png(path, frame)
    if count == 0:
        raise UserError(f"{video}: no frames in the selected range")
    atomic_write_json(done, {"count": count})
    return count


def find_run_shots(workdir: WorkDir, n_frames: int, shots: ShotsConfig, fps: float, frames_key: str,
                   progress: bool = True) -> list[Shot]:
    """Return the run's shots (``media.shots``) and write their cuts to ``WORKDIR/shots.csv`` (editable, then
    usable as ``--shots FILE``). Detected cuts are kept in ``shots/cuts.json`` for the same frames and settings."""
    key = fingerprint({"frames": frames_key, "shots": shots, "file": file_digest(shots.file) if shots.file else None})
    cache = workdir.root / "shots" / "cuts.json"
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if cached.get("key") == key and cached.get("n_frames") == n_frames:
        found = shots_from_cuts(cached["cuts"], n_frames)
    else:
        frames = (workdir.read_png(workdir.frame(i)) for i in range(1, n_frames + 1))
        found = find_shots(tqdm(frames, desc="find shots", total=n_frames, unit="frame", leave=False,
                                disable=not progress or shots.mode is not ShotMode.AUTO), n_frames, shots)
        atomic_write_json(cache, {"key": key, "n_frames": n_frames, "cuts": [s.start for s in found[1:]]})
    target = workdir.root / "shots.csv"
    if shots.file is None or Path(shots.file).resolve() != target.resolve():  # never rewrite the user's own file
        write_cuts_csv(target, found, fps)
    return found


def flow_pairs(n_frames: int, long_term: Iterable[int], frames: range | None = None) -> list[tuple[int, int]]:
    """Return every ordered pair (i, j) whose flow i -> j the run needs (both directions of each offset).

    ``frames``: only pairs inside these 1-based frame numbers (one shot: no flow across a cut); None: 1..n_frames.
    """
    frames = frames if frames is not None else range(1, n_frames + 1)
    pairs: list[tuple[int, int]] = []
    for i in frames[1:]:
        for k in sorted(set(long_term)):
            if i - k in frames:
                pairs += [(i, i - k), (i - k, i)]
    return pairs


def compute_flows(
    workdir: WorkDir,
    n_frames: int,
    long_term: Iterable[int],
    method: str,
    flow_dir: Path | None = None,
    progress: bool = True,
    frames: range | None = None,
) -> None:
    """Make sure ``flow/i_j.flo`` and ``certainty/i_j.png`` exist for every pair the run (or one shot's
    ``frames``, 1-based) needs."""
    pairs = flow_pairs(n_frames, long_term, frames)
    todo = [p for p in pairs if not workdir.flow(*p).exists()]
    flow_method = FlowMethod(method)
    cache: dict[int, np.ndarray] = {}

    def frame(i: int) -> np.ndarray:
        if i not in cache:
            if len(cache) > 16:
                cache.pop(next(iter(cache)))
            cache[i] = workdir.read_png(workdir.frame(i))
        return cache[i]

    for i, j in tqdm(todo, desc=f"flow ({'files' if flow_dir else flow_method.value})", unit="pair",
                     disable=not progress, leave=False):
        if flow_dir is not None:
            flow = read_flo(_external_flow_path(Path(flow_dir), i, j))
            h, w = frame(i).shape[:2]
            if flow.shape[:2] != (h, w):
                raise UserError(f"{_external_flow_path(Path(flow_dir), i, j)}: flow is {flow.shape[1]}x{flow.shape[0]}"
                                f", frames are {w}x{h}")
        else:
            flow = estimate_flow(frame(i), frame(j), flow_method)
        write_flo(workdir.flow(i, j), flow)

    for i, j in tqdm([p for p in pairs if not workdir.certainty(*p).exists()], desc="certainty", unit="pair",
                     disable=not progress, leave=False):
        workdir.write_certainty(i, j, certainty(read_flo(workdir.flow(i, j)), read_flo(workdir.flow(j, i))))


def _external_flow_path(flow_dir: Path, i: int, j: int) -> Path:
    """Find the user's flow file for i -> j: ``000002_000001.flo`` or artistic-videos' forward/backward names."""
    candidates = [flow_dir / f"{i:06d}_{j:06d}.flo"]
    if j > i:
        candidates.append(flow_dir / f"forward_{i}_{j}.flo")
    else:
        candidates.append(flow_dir / f"backward_{i}_{j}.flo")
    for c in candidates:
        if c.exists():
            return c
    raise UserError(f"{flow_dir}: no flow file for frame {i} -> {j} (expected {candidates[0].name} or "
                    f"{candidates[1].name})")


