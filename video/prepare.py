"""Stage 1 and 2 of a run: extract the frames, then the optical flows and certainty maps they need.

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
from media.consistency import certainty
from media.flo import read_flo, write_flo
from media.flow import FlowMethod, estimate_flow
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


def flow_pairs(n_frames: int, long_term: Iterable[int]) -> list[tuple[int, int]]:
    """Return every ordered pair (i, j) whose flow i -> j the run needs (both directions of each offset)."""
    pairs: list[tuple[int, int]] = []
    for i in range(2, n_frames + 1):
        for k in sorted(set(long_term)):
            if i - k >= 1:
                pairs += [(i, i - k), (i - k, i)]
    return pairs


def compute_flows(
    workdir: WorkDir,
    n_frames: int,
    long_term: Iterable[int],
    method: str,
    flow_dir: Path | None = None,
    progress: bool = True,
) -> None:
    """Make sure ``flow/i_j.flo`` and ``certainty/i_j.png`` exist for every pair the run needs."""
    pairs = flow_pairs(n_frames, long_term)
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


