"""A 64-bit DCT perceptual hash (pHash) with OpenCV, and Hamming distances between hashes.

The image is converted to grey, shrunk to 32x32 (area averaging), transformed with a 2-D DCT, and the 8x8
lowest-frequency block (DC term included) is thresholded at its median: re-encoding, resizing and mild colour
changes move few of the 64 bits, different pictures differ in about half of them.
"""

from __future__ import annotations

import cv2
import numpy as np

HASH_BITS = 64


def phash(image: np.ndarray) -> int:
    """Return the 64-bit pHash of ``image``: (H, W) or (H, W, 3) uint8 (colour order does not matter much)."""
    if image.ndim not in (2, 3) or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W) or (H, W, 3) uint8, got {image.shape} {image.dtype}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def to_hex(value: int) -> str:
    """Return a hash as 16 lower-case hex digits (the manifest's ``phash`` column)."""
    return f"{value:016x}"


def from_hex(text: str) -> int:
    """Return the integer of a 16-hex-digit hash."""
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    """Return the number of differing bits of two 64-bit hashes."""
    return (a ^ b).bit_count()


class PhashIndex:
    """Hashes seen so far with a payload each; finds the nearest one within a distance, vectorised."""

    def __init__(self) -> None:
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._payloads: list[object] = []

    def __len__(self) -> int:
        return len(self._payloads)

    def add(self, value: int, payload: object) -> None:
        """Remember ``value`` with ``payload`` (e.g. the row id it belongs to)."""
        n = len(self._payloads)
        if n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[n] = np.uint64(value)
        self._payloads.append(payload)

    def nearest(self, value: int, max_distance: int) -> tuple[object, int] | None:
        """Return ``(payload, distance)`` of the closest stored hash within ``max_distance`` bits, else None."""
        n = len(self._payloads)
        if n == 0:
            return None
        dist = np.bitwise_count(self._hashes[:n] ^ np.uint64(value))
        i = int(np.argmin(dist))
        return (self._payloads[i], int(dist[i])) if dist[i] <= max_distance else None
