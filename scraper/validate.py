"""Full decode of downloaded or local bytes, rejection of bad files, and conversion to a bounded RGB JPEG."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scraper.config import ImageRules
from scraper.phash import phash
from scraper.records import Status


class BadImage(Exception):
    """The bytes are not a usable image; ``status`` is BAD_IMAGE or TOO_SMALL."""

    def __init__(self, message: str, status: Status = Status.BAD_IMAGE) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ValidImage:
    """A checked image ready to store: JPEG bytes (RGB), its size, SHA-256 (of the JPEG) and 64-bit pHash."""

    jpeg: bytes
    width: int
    height: int
    sha256: str
    phash: int


def normalize_image(data: bytes, rules: ImageRules) -> ValidImage:
    """Return ``data`` decoded in full, checked against ``rules`` and re-encoded as an RGB JPEG.

    The stored image keeps its aspect ratio with the longest side at most ``rules.max_side``. Raises
    :class:`BadImage` for empty, unknown, truncated or oversized files and for images under ``rules.min_side``.
    """
    if not data:
        raise BadImage("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            if width * height > rules.max_pixels:
                raise BadImage(f"{width}x{height} pixels exceeds the limit of {rules.max_pixels}")
            im.load()  # decodes every byte: truncated files raise here (cv2.imdecode would pad them with grey)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage(f"not an image (starts with {data[:12]!r})") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"corrupt or truncated image ({str(exc).splitlines()[0][:120]})") from None
    im = ImageOps.exif_transpose(im)
    if min(im.size) < rules.min_side:
        raise BadImage(f"{im.width}x{im.height} is smaller than {rules.min_side} px on the short side",
                       Status.TOO_SMALL)
    rgb = _to_rgb(im)
    if max(rgb.size) > rules.max_side:
        rgb.thumbnail((rules.max_side, rules.max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=rules.jpeg_quality)
    jpeg = buf.getvalue()
    return ValidImage(jpeg=jpeg, width=rgb.width, height=rgb.height, sha256=hashlib.sha256(jpeg).hexdigest(),
                      phash=phash(np.asarray(rgb.convert("L"))))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Return ``im`` as RGB; transparent parts become white (not black, which would look like a dark photo)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")
