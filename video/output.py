"""Where a video run writes: the output check, the side-by-side path and the default work directory."""

from __future__ import annotations

import json
from pathlib import Path

from foundation.errors import UserError

#: Containers the H.264 writer produces.
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")


def check_video_output(output: str | Path) -> Path:
    """Return ``output`` as a Path if the writer can produce it (an .mp4/.m4v/.mov file); else raise UserError."""
    output = Path(output)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserError(f"{output}: output must be an .mp4 file")
    return output


def side_by_side_path(output: str | Path) -> Path:
    """Return ``OUT_side_by_side.mp4`` beside ``OUT.mp4`` (original | stylised)."""
    out = Path(output)
    return out.with_name(f"{out.stem}_side_by_side{out.suffix}")


def default_workdir(output: str | Path, workdir: str | Path | None) -> Path:
    """Return ``workdir`` if given, else ``OUT.work/`` beside the output."""
    return Path(workdir) if workdir else Path(output).with_suffix(".work")


def finished_record(workdir: str | Path, output: str | Path, key: str, side_by_side: bool) -> dict | None:
    """Return the ``run.json`` dict in ``workdir`` if that exact run (``settings_key == key``) finished and its
    outputs are present (``output``, and ``OUTPUT_side_by_side.mp4`` when ``side_by_side``), else None: the check every
    runner makes before redoing a finished run."""
    run_json = Path(workdir) / "run.json"
    if not (run_json.is_file() and Path(output).is_file()):
        return None
    try:
        previous = json.loads(run_json.read_text())
    except ValueError:
        return None
    if previous.get("settings_key") != key or previous.get("status") != "done":
        return None
    if side_by_side and not side_by_side_path(output).is_file():
        return None
    return previous
