"""Tiny seeded stand-ins for the two classes: flat brush strokes ("paintings") and noisy scenes ("photos")."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def painting(size: int, seed: int) -> np.ndarray:
    """Return a (size, size, 3) uint8 BGR image of flat-coloured thick strokes over a smooth wash."""
    r = np.random.default_rng(seed)
    palette = r.uniform(30, 230, size=(5, 3))
    img = np.empty((size, size, 3), np.float32)
    img[:] = palette[0]
    for _ in range(14):
        p0 = r.integers(0, size, 2)
        angle = r.uniform(0, np.pi)
        length = r.uniform(size / 4, size / 1.5)
        p1 = (p0 + length * np.array([np.cos(angle), np.sin(angle)])).astype(int)
        colour = palette[r.integers(0, 5)].tolist()
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, int(r.integers(3, 7)))
    img = cv2.GaussianBlur(img, (3, 3), 0.7)
    return np.clip(img, 0, 255).astype(np.uint8)


def photo(size: int, seed: int) -> np.ndarray:
    """Return a (size, size, 3) uint8 BGR image: smooth random scene plus sensor-like noise and fine detail."""
    r = np.random.default_rng(10_000 + seed)
    base = r.uniform(20, 235, size=(4, 4, 3)).astype(np.float32)
    base = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)
    noise = r.normal(0, 18, size=(size, size, 3)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_tree(root: Path, n_per_class: int, size: int = 48) -> Path:
    """Write ``root/painting/*.png`` and ``root/photo/*.png`` (``n_per_class`` each); returns ``root``."""
    for name, make in (("painting", painting), ("photo", photo)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            cv2.imwrite(str(folder / f"{name}_{i:03d}.png"), make(size, i))
    return root


def write_manifest(root: Path, n_per_class: int, size: int = 48, corrupt: int = 0, failed: int = 0) -> Path:
    """Write images under ``root/images`` and a scraper-format ``root/manifest.csv``; returns its path.

    Splits cycle train, train, train, val, test per class. ``corrupt`` extra rows point to truncated or
    non-image files with ``status == ok``; ``failed`` extra rows have ``status == failed`` and no file.
    """
    import pandas as pd

    rows = []
    write_tree(root / "images", n_per_class, size)
    splits = ("train", "train", "train", "val", "test")
    for name in ("painting", "photo"):
        for i in range(n_per_class):
            rows.append({"id": f"{name}{i}", "label": name, "path": f"images/{name}/{name}_{i:03d}.png",
                         "status": "ok", "error": "", "split": splits[i % 5]})
    for k in range(corrupt):
        bad = root / "images" / f"broken_{k}.jpg"
        good = (root / "images" / "painting" / "painting_000.png").read_bytes()
        bad.write_bytes(good[: len(good) // 3] if k % 2 == 0 else b"<html>rate limited</html>")
        rows.append({"id": f"broken{k}", "label": "painting", "path": f"images/broken_{k}.jpg", "status": "ok",
                     "error": "", "split": "train"})
    for k in range(failed):
        rows.append({"id": f"failed{k}", "label": "photo", "path": f"images/missing_{k}.jpg", "status": "failed",
                     "error": "HTTP 500", "split": ""})
    columns = ["id", "label", "query", "owner", "owner_name", "license", "url", "page_url", "path", "sha256",
               "phash", "width", "height", "status", "error", "split"]
    table = pd.DataFrame(rows).reindex(columns=columns, fill_value="")
    path = root / "manifest.csv"
    table.to_csv(path, index=False)
    return path
