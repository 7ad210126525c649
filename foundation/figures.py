"""Figures as PNG bytes or files, with one set of settings for every report, notebook and benchmark."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from foundation.atomic import atomic_write_bytes

DPI = 100


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Return ``fig`` rendered as PNG bytes, cropped to its drawn area (what the notebooks display)."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png", bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, figure_png(fig, dpi))
