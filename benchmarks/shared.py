"""Where the benchmarks find ``../shared/data`` (real media beside the repository; not part of a fresh clone)."""

from __future__ import annotations

from pathlib import Path

#: ``../shared/data`` next to the repository (the same path string every run: cache keys include image paths).
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
#: The labelled paintings and photographs (``painting/``, ``photo/``, ``manifest.csv``).
SHARED_IMAGES = SHARED_DATA / "images"
