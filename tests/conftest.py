"""Shared fixtures: quiet TensorFlow, one bundled backbone per session, paths to shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def shared_data(*parts: str) -> Path:
    """Return a path under ../shared/data, skipping the test with a reason when that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)} (not present on this machine)")
    return path


@pytest.fixture(scope="session")
def bundled_backbone():
    from transfer.backbone import load_backbone

    return load_backbone("bundled")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def textured_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Return a (h, w, 3) uint8 BGR image with smooth colour blobs and fine texture (deterministic)."""
    import cv2

    r = np.random.default_rng(seed)
    base = r.uniform(0, 255, size=(max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    base = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = r.normal(0, 25, size=(h, w, 3)).astype(np.float32)
    return np.clip(base + fine, 0, 255).astype(np.uint8)


def stripes_image(h: int, w: int, period: int = 6, angle_deg: float = 30.0) -> np.ndarray:
    """Return a (h, w, 3) uint8 BGR image of coloured diagonal stripes (a 'style' with a clear texture)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle_deg)
    phase = (xx * np.cos(t) + yy * np.sin(t)) * 2 * np.pi / period
    s = 0.5 + 0.5 * np.sin(phase)
    img = np.stack([255 * s, 60 + 120 * (1 - s), 200 * (1 - s)], axis=-1)
    return img.astype(np.uint8)
