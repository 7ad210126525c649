"""Fingerprints for resume: short stable hashes of settings and of file contents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from foundation.records import jsonable


def fingerprint(obj: Any) -> str:
    """Return a 16-hex-digit hash of a JSON-serialisable description (paths, enums and tuples allowed)."""
    text = json.dumps(jsonable(obj), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """Return the first 16 hex digits of the sha256 of a file's bytes (identifies images and weights by content)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
