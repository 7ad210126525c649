"""Make the README's hero picture and GIF from a real run: input | any painting | optimisation, side by side.

Runs ``paintvid video`` twice on the same frames of the sample clip (``--method arbitrary`` and the optimisation
path, the defaults otherwise), then lays the input and both results side by side: every frame into an animated
GIF, the middle frame into a JPEG, and the runs' timings into a JSON beside them.

    python scripts/make_hero.py                      # vtest.avi, Starry Night, 12 frames at 320 px (needs make samples)
    python scripts/make_hero.py --frames 20 --width 384

A rerun resumes: each ``paintvid video`` run keeps its finished frames in its work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from foundation.cpu import describe_cpu

REPO = Path(__file__).resolve().parents[1]
#: (method option, caption) of each painted panel, left to right after the input
METHODS = (("arbitrary", "any painting (--method arbitrary)"), ("optimize", "optimisation (default)"))


@dataclass(frozen=True)
class HeroConfig:
    """What to run and where the pictures go."""

    video: Path
    style: Path
    frames: int
    width: int
    start: float
    work: Path
    out_dir: Path
    gif_width: int


def parse_args(argv: list[str] | None = None) -> HeroConfig:
    """Return the :class:`HeroConfig` of the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=REPO / "samples" / "vtest.avi")
    p.add_argument("--style", type=Path, default=REPO / "samples" / "starry_night.jpg")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--width", type=int, default=320, help="width of the stylised frames (multiple of 8)")
    p.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    p.add_argument("--work", type=Path, default=REPO / "out" / "hero", help="where the runs go")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs" / "assets")
    p.add_argument("--gif-width", type=int, default=240, help="width of each panel in the GIF")
    a = p.parse_args(argv)
    for path in (a.video, a.style):
        if not path.is_file():
            p.error(f"{path}: no such file (run `make samples` first, or pass --video/--style)")
    return HeroConfig(a.video, a.style, a.frames, a.width, a.start, a.work, a.out_dir, a.gif_width)


def run_method(cfg: HeroConfig, method: str) -> tuple[Path, float]:
    """Run ``paintvid video --method method`` on the configured frames; return the MP4 and its wall seconds."""
    out = cfg.work / f"{method}.mp4"
    cmd = [str(REPO / ".venv" / "bin" / "paintvid"), "video", str(cfg.video), str(cfg.style), "-o", str(out),
           "--method", method, "--frames", str(cfg.frames), "--width", str(cfg.width), "--output-width", str(cfg.width),
           "--start", str(cfg.start)]
    began = time.perf_counter()
    subprocess.run(cmd, check=True)
    return out, time.perf_counter() - began


def read_frames(path: Path, count: int, size: tuple[int, int] | None = None, start: float = 0.0) -> list[np.ndarray]:
    """Return up to ``count`` frames of ``path`` from ``start`` seconds, as (H, W, 3) uint8 BGR, resized to ``size``
    (width, height) when given."""
    cap = cv2.VideoCapture(str(path))
    if start:
        cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000.0)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size else frame)
    cap.release()
    return frames


def caption(panel: np.ndarray, text: str) -> np.ndarray:
    """Return ``panel`` (H, W, 3) uint8 BGR with ``text`` on a dark band along its bottom edge."""
    out = panel.copy()
    h, w = out.shape[:2]
    scale = max(0.3, w / 700)
    band = int(28 * scale) + 6
    out[h - band:] = (out[h - band:] * 0.35).astype(np.uint8)
    cv2.putText(out, text, (6, h - band // 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def compose(columns: list[list[np.ndarray]], captions: list[str], panel_width: int) -> list[np.ndarray]:
    """Return one (H, W * len(columns), 3) uint8 BGR frame per time step: the columns side by side, captioned."""
    steps = min(len(c) for c in columns)
    h, w = columns[0][0].shape[:2]
    size = (panel_width, round(h * panel_width / w))
    return [np.hstack([caption(cv2.resize(col[t], size, interpolation=cv2.INTER_AREA), text)
                       for col, text in zip(columns, captions, strict=True)]) for t in range(steps)]


def write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write ``frames`` ((H, W, 3) uint8 BGR) as a looping GIF at ``fps``."""
    images = [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).quantize(colors=192, method=Image.Quantize.MEDIANCUT)
              for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, optimize=True)


def seconds_per_frame(output: Path) -> float | None:
    """Return the painting seconds per frame that the run's ``run.json`` records: the optimisation path's mean
    (kept across resumed runs), else the network's stylise time over the frames (None without a record)."""
    try:
        record = json.loads(output.with_suffix(".work").joinpath("run.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("summary"):
        return round(record["summary"]["mean_seconds_per_frame"], 3)
    stylize = record.get("stage_seconds", {}).get("stylize")
    return round(stylize / record["n_frames"], 4) if stylize and record.get("n_frames") else None


def main(argv: list[str] | None = None) -> int:
    """Run both methods, write hero.gif, hero.jpg and hero.json into the output folder; return 0."""
    cfg = parse_args(argv)
    cfg.work.mkdir(parents=True, exist_ok=True)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    runs = {method: run_method(cfg, method) for method, _ in METHODS}
    painted = [read_frames(runs[m][0], cfg.frames) for m, _ in METHODS]
    h, w = painted[0][0].shape[:2]
    source = read_frames(cfg.video, cfg.frames, (w, h), cfg.start)
    captions = ["input", *(text for _, text in METHODS)]
    fps = cv2.VideoCapture(str(cfg.video)).get(cv2.CAP_PROP_FPS) or 10.0
    write_gif(compose([source, *painted], captions, cfg.gif_width), cfg.out_dir / "hero.gif", fps)
    still = compose([source, *painted], captions, w)[len(source) // 2]
    cv2.imwrite(str(cfg.out_dir / "hero.jpg"), still, [cv2.IMWRITE_JPEG_QUALITY, 88])
    record = {"video": cfg.video.name, "style": cfg.style.name, "frames": len(source), "width": w, "height": h,
              "cpu": describe_cpu(), "load_average_1min": round(os.getloadavg()[0], 2),
              "date": time.strftime("%Y-%m-%d"),
              "seconds_per_frame": {m: seconds_per_frame(runs[m][0]) for m, _ in METHODS}}
    (cfg.out_dir / "hero.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
