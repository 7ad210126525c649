"""The per-run work directory: where every intermediate lives, and which of it is still valid.

Layout (indices are 1-based frame numbers, zero-padded to 6 digits)::

    DIR/frames/000001.png            content frames after resizing (lossless)
    DIR/flow/000002_000001.flo       optical flow from frame 2 to frame 1 (Middlebury .flo)
    DIR/certainty/000002_000001.png  consistency weights of that flow, uint8 = round(255 * c)
    DIR/pass1/000001.png ...         stylised frames of each pass (only when --passes > 1)
    DIR/stylized/000001.png          final stylised frames (lossless PNG, measured without codec noise)
    DIR/shots.csv                    the cuts between shots (0-based first frames; edit it, pass it as --shots FILE)
    DIR/shots/cuts.json              the detected cuts, for the frames and detector settings they came from
    DIR/shots/000002.json            shot 2's last attempt: host, pid, attempt, status, seconds
    DIR/shots/000002_frames.json     shot 2's per-frame losses, iterations and seconds (merged into run.json)
    DIR/keys.json                    fingerprints of the settings each stage was made with
    DIR/run.json                     config, weights used, per-frame losses and seconds

Every file is written to a temporary name and renamed, so a run killed at any moment leaves either the old
file, the complete new file, or nothing. Stage fingerprints make a rerun with other settings discard that stage's
stale files (with a message) instead of reusing them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from foundation.atomic import atomic_write, atomic_write_json
from media.image_io import write_image

#: Stages in dependency order; invalidating one invalidates everything after it.
STAGES = ("frames", "flow", "stylize")
_STAGE_DIRS = {"frames": ("frames",), "flow": ("flow", "certainty"), "stylize": ("stylized", "pass*", "shots")}


class WorkDir:
    """Paths and atomic reads/writes of one run's intermediates (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- paths ------------------------------------------------------------------------------------------
    def frame(self, i: int) -> Path:
        return self.root / "frames" / f"{i:06d}.png"

    def flow(self, i: int, j: int) -> Path:
        return self.root / "flow" / f"{i:06d}_{j:06d}.flo"

    def certainty(self, i: int, j: int) -> Path:
        return self.root / "certainty" / f"{i:06d}_{j:06d}.png"

    def stylized(self, i: int, pass_index: int | None = None) -> Path:
        folder = "stylized" if pass_index is None else f"pass{pass_index}"
        return self.root / folder / f"{i:06d}.png"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    # -- stage validity -----------------------------------------------------------------------------------
    def reconcile(self, keys: dict[str, str], log: Callable[[str], None] = print) -> None:
        """Drop every stage whose fingerprint changed (and all later stages), then record the new keys."""
        path = self.root / "keys.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        stale = False
        for stage in STAGES:
            stale = stale or (stage in old and old[stage] != keys[stage])
            if stale and self._has_files(stage):
                log(f"{self.root}: settings changed since the last run, discarding stale '{stage}' outputs")
                self._clear(stage)
        atomic_write_json(path, keys)

    def _has_files(self, stage: str) -> bool:
        return any(any(d.glob("*")) for pattern in _STAGE_DIRS[stage] for d in self.root.glob(pattern) if d.is_dir())

    def _clear(self, stage: str) -> None:
        for pattern in _STAGE_DIRS[stage]:
            for d in self.root.glob(pattern):
                if d.is_dir():
                    shutil.rmtree(d)
        if stage == "stylize" and self.run_json.exists():
            self.run_json.unlink()

    # -- atomic I/O ---------------------------------------------------------------------------------------
    @staticmethod
    def write_png(path: Path, image: np.ndarray) -> None:
        """Write a (H, W, 3) uint8 BGR or (H, W) uint8 image losslessly and atomically."""
        write_image(path, image)

    @staticmethod
    def read_png(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
        """Read an image this run wrote (uint8); raises FileNotFoundError if it is missing."""
        image = cv2.imread(str(path), flags)
        if image is None:
            raise FileNotFoundError(path)
        return image

    def write_certainty(self, i: int, j: int, c: np.ndarray) -> None:
        """Store (H, W) float weights in [0, 1] as an 8-bit PNG."""
        self.write_png(self.certainty(i, j), np.rint(np.clip(c, 0, 1) * 255).astype(np.uint8))

    def read_certainty(self, i: int, j: int) -> np.ndarray:
        """Return (H, W) float32 weights in [0, 1]."""
        return self.read_png(self.certainty(i, j), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0

    def load_run(self) -> dict:
        return json.loads(self.run_json.read_text()) if self.run_json.exists() else {}

    def save_run(self, run: dict) -> None:
        atomic_write_json(self.run_json, run)

    @staticmethod
    def copy_atomic(src: Path, dst: Path) -> None:
        atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
