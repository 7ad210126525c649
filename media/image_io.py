"""Reading, checking, resizing and atomically writing images. Arrays are (H, W, 3) uint8 BGR."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from foundation.atomic import atomic_write
from foundation.errors import UserError, check_input_file

#: Refuse images whose decoded size would be absurd (about 1.2 GB of pixels).
MAX_PIXELS = 400_000_000
#: Largest output width accepted for stylisation; VGG memory grows with the square of it.
MAX_WIDTH = 4096

#: Suffixes of the image files training runs pick up from a folder (content photos, paintings).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"})


def read_image(path: str | Path) -> np.ndarray:
    """Return a (H, W, 3) uint8 BGR image read from ``path``; raise :class:`UserError` naming the problem."""
    path = check_input_file(path, "an image file")
    data = np.fromfile(path, dtype=np.uint8)
    ok, header_shape = _peek_size(data)
    if ok and header_shape[0] * header_shape[1] > MAX_PIXELS:
        raise UserError(f"{path}: image is {header_shape[1]}x{header_shape[0]}, too large to stylise")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise UserError(f"{path}: not an image OpenCV can decode")
    return image


def _peek_size(data: np.ndarray) -> tuple[bool, tuple[int, int]]:
    """Return (known, (H, W)) from the header without decoding pixels, when OpenCV can tell."""
    try:
        # only the header is parsed; lift PIL's decompression-bomb guard, we apply our own limit
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(io.BytesIO(data.tobytes())) as im:
            return True, (im.height, im.width)
    except Exception:  # noqa: BLE001 - unknown formats are decoded (and judged) by OpenCV instead
        return False, (0, 0)


def resize_to_width(image: np.ndarray, width: int | None, multiple: int = 1) -> np.ndarray:
    """Return ``image`` resized to ``width`` keeping aspect; height (and width) rounded to ``multiple``.

    ``width=None`` keeps the size (still rounded down to ``multiple``).
    """
    h, w = image.shape[:2]
    target_w = w if width is None else int(width)
    target_h = max(1, round(h * target_w / w))
    if multiple > 1:
        target_w = max(multiple, target_w // multiple * multiple)
        target_h = max(multiple, round(target_h / multiple) * multiple)
    if (target_h, target_w) == (h, w):
        return image
    interp = cv2.INTER_AREA if target_w < w else cv2.INTER_CUBIC
    return cv2.resize(image, (target_w, target_h), interpolation=interp)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a (H, W, 3) uint8 BGR image atomically (format from the suffix); returns ``path``."""

    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), image):
            raise UserError(f"{path}: cannot write image (unknown extension or unwritable directory)")

    return atomic_write(path, write)
