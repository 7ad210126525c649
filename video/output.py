"""Where a video run writes: the output check, the side-by-side path and the default work directory."""

from __future__ import annotations

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
